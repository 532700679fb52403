"""One settings object for sampling, validated once: :class:`SamplingSettings`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, TypedDict

from chargen.checks import (
    check_optional_seed,
    check_repetition_penalty,
    check_temperature,
    check_top_k,
    check_top_p,
)
from chargen.errors import ConfigError
from chargen.inference.decoding import LogitsProcessor, build_processors
from chargen.inference.engine import PRECISIONS

DEFAULT_TEMPERATURE = 0.8


class SamplingArguments(TypedDict, total=False):
    """The keyword arguments that spell a :class:`SamplingSettings` (``compare(..., temperature=0.8)``)."""

    temperature: float
    top_k: int | None
    top_p: float | None
    repetition_penalty: float | None
    seed: int | None
    precision: str


@dataclass(frozen=True)
class SamplingSettings:
    """How the sampled text is drawn, in the spirit of transformers' ``GenerationConfig``.

    Every field is checked once, here (a :class:`~chargen.errors.ConfigError` says what is
    allowed), and kept in the form the library uses: a temperature below
    :data:`~chargen.checks.TINY_TEMPERATURE` becomes 0 and ``top_k=0`` becomes None. One meaning
    per value: temperature 0 is greedy (0..:data:`~chargen.checks.MAX_TEMPERATURE`); ``top_k``,
    ``top_p`` and ``repetition_penalty`` None are off (as are top_k 0, top_p 1, penalty 1);
    ``seed`` None draws a fresh seed per call (reported in the result).

    Args:
        temperature: divides the logits of the sampled row; 0 samples greedily.
        top_k: sample among the k most likely characters only.
        top_p: sample from the smallest set of characters holding probability ``top_p``.
        repetition_penalty: >= 1; makes recently seen characters less likely.
        seed: seed of the call's own random generator (the global one is never touched).
        precision: which network steps, one of :data:`chargen.inference.engine.PRECISIONS`.

    Example:
        >>> settings = SamplingSettings(temperature=0.5, top_k=0, seed=7)
        >>> settings.top_k is None, settings.seed
        (True, 7)
    """

    temperature: float = DEFAULT_TEMPERATURE
    top_k: int | None = None
    top_p: float | None = None
    repetition_penalty: float | None = None
    seed: int | None = None
    precision: str = "auto"

    def __post_init__(self) -> None:
        checked = {
            "temperature": check_temperature(self.temperature),
            "top_k": check_top_k(self.top_k),
            "top_p": check_top_p(self.top_p),
            "repetition_penalty": check_repetition_penalty(self.repetition_penalty),
            "seed": check_optional_seed(self.seed),
            "precision": check_precision(self.precision),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)  # frozen: normalised once, here

    @classmethod
    def from_arguments(cls, settings: SamplingSettings | None = None, **arguments: Any) -> SamplingSettings:
        """``settings``, or the settings that the keyword ``arguments`` spell (defaults for the rest); never both.

        What the generation functions do with their ``settings`` and sampling keywords: a
        :class:`~chargen.errors.ConfigError` for settings that are not a :class:`SamplingSettings`
        or for both at once, a ``TypeError`` for a keyword that is not a sampling argument.

        Example:
            >>> SamplingSettings.from_arguments(None, temperature=0.5).temperature
            0.5
        """
        unknown = sorted(set(arguments) - set(SAMPLING_ARGUMENTS))
        if unknown:
            raise TypeError(
                f"unexpected keyword argument{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                f"the sampling arguments are {', '.join(SAMPLING_ARGUMENTS)}"
            )
        if settings is None:
            return cls(**arguments)
        if not isinstance(settings, SamplingSettings):
            # A number here is most likely a temperature passed by position, as before settings existed.
            hint = f"; pass temperature={settings!r} by name" if isinstance(settings, (int, float)) else ""
            raise ConfigError(f"settings must be a chargen SamplingSettings, got {type(settings).__name__}{hint}")
        if arguments:
            raise ConfigError(
                f"pass settings= or the sampling arguments ({', '.join(sorted(arguments))}), not both; "
                "use dataclasses.replace(settings, ...) to change one"
            )
        return settings

    @property
    def greedy(self) -> bool:
        """Whether the sampled text is greedy too (temperature 0)."""
        return self.temperature == 0.0

    def processors(self) -> list[LogitsProcessor]:
        """The logits processors these settings stand for (neutral ones left out)."""
        return build_processors(self.temperature, self.top_k, self.top_p, self.repetition_penalty)

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-able dict."""
        return asdict(self)


SAMPLING_ARGUMENTS = tuple(field.name for field in fields(SamplingSettings))
"""The names of :class:`SamplingSettings`' fields: the sampling keyword arguments."""


def check_precision(precision: str) -> str:
    """``precision`` if it names one of :data:`chargen.inference.engine.PRECISIONS`, else a :class:`ConfigError`.

    Whether it runs on a given model and machine is :func:`chargen.inference.engine.resolve_precision`'s question.
    """
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision
