"""Decoding: turning the next-character logits into a choice.

In the spirit of transformers' ``LogitsProcessor`` list, each step is a small callable
``(ids[B, t], scores[B, V]) -> scores[B, V]`` that validates its argument once, returns a new
tensor (never edits ``scores`` in place) and always leaves at least one candidate. A neutral
setting (temperature 1, no top-k, top-p 1, repetition penalty 1) adds no step at all.

Greedy decoding is not a processor: it is an explicit argmax over the raw logits
(:func:`greedy_choice`). Temperature 0 means greedy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from chargen.checks import (  # the library's checks live in one module; re-exported here as before
    MAX_TEMPERATURE,
    TINY_TEMPERATURE,
    check_repetition_penalty,
    check_temperature,
    check_top_k,
    check_top_p,
)
from chargen.errors import ConfigError

__all__ = [
    "MAX_TEMPERATURE",
    "REPETITION_WINDOW",
    "TINY_TEMPERATURE",
    "LogitsProcessor",
    "RepetitionPenalty",
    "Temperature",
    "TopK",
    "TopP",
    "apply_processors",
    "build_processors",
    "check_repetition_penalty",
    "check_temperature",
    "check_top_k",
    "check_top_p",
    "distribution",
    "greedy_choice",
    "gumbel_noise",
    "sample_choice",
]

REPETITION_WINDOW = 64
"""How many of the most recent characters (prompt included) the repetition penalty looks at."""

LogitsProcessor = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class Temperature:
    """Divide the logits by a temperature > 0: below 1 sharpens the distribution, above 1 flattens it."""

    def __init__(self, temperature: float):
        temperature = check_temperature(temperature)
        if temperature == 0.0:
            # 0 is greedy, which is an argmax and not a rescaling; callers route it there.
            raise ConfigError("temperature 0 means greedy decoding; use greedy_choice instead of a processor")
        self.temperature = temperature

    def __call__(self, ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return scores / self.temperature

    def __repr__(self) -> str:
        return f"Temperature({self.temperature:g})"


class TopK:
    """Keep exactly the ``top_k`` highest logits (clamped to the vocabulary size); the rest get -inf."""

    def __init__(self, top_k: int):
        checked = check_top_k(top_k)
        if checked is None:
            raise ConfigError("top_k None or 0 means no limit; leave the processor out instead")
        self.top_k = checked

    def __call__(self, ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        k = min(self.top_k, scores.shape[-1])
        values, indices = torch.topk(scores, k, dim=-1)
        # Scatter the winners into a -inf canvas, so ties at the k-th value still keep exactly k.
        return torch.full_like(scores, -math.inf).scatter(-1, indices, values)

    def __repr__(self) -> str:
        return f"TopK({self.top_k})"


class TopP:
    """Nucleus filtering: keep the smallest set of most likely characters whose probability reaches ``top_p``."""

    def __init__(self, top_p: float):
        checked = check_top_p(top_p)
        if checked is None:
            raise ConfigError("top_p None means no limit; leave the processor out instead")
        self.top_p = checked

    def __call__(self, ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        sorted_scores, order = torch.sort(scores, dim=-1, descending=True)
        probs = torch.softmax(sorted_scores, dim=-1)
        mass_before = torch.cumsum(probs, dim=-1) - probs
        # A character is dropped once the more likely ones already reach top_p; the first never is.
        drop_sorted = mass_before >= self.top_p
        drop_sorted[..., 0] = False
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        return scores.masked_fill(drop, -math.inf)

    def __repr__(self) -> str:
        return f"TopP({self.top_p:g})"


class RepetitionPenalty:
    """Make characters seen in the last ``window`` ids less likely (the CTRL paper's penalty).

    A seen character's positive logit is divided by ``penalty`` and a negative one multiplied,
    so it always moves down. ``ids`` is ``(B, t)``; only its last ``window`` columns count.
    """

    def __init__(self, penalty: float, window: int = REPETITION_WINDOW):
        checked = check_repetition_penalty(penalty)
        if checked is None:
            raise ConfigError("repetition_penalty None means off; leave the processor out instead")
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ConfigError(f"repetition window must be an integer of at least 1, got {window!r}")
        self.penalty = checked
        self.window = window

    def __call__(self, ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        recent = ids[:, -self.window :]
        if recent.shape[-1] == 0:
            return scores
        seen = scores.gather(-1, recent)
        penalised = torch.where(seen > 0, seen / self.penalty, seen * self.penalty)
        return scores.scatter(-1, recent, penalised)

    def __repr__(self) -> str:
        return f"RepetitionPenalty({self.penalty:g}, window={self.window})"


def build_processors(
    temperature: float,
    top_k: int | None = None,
    top_p: float | None = None,
    repetition_penalty: float | None = None,
) -> list[LogitsProcessor]:
    """The processors for these settings, in transformers' order: penalty, temperature, top-k, top-p.

    Every argument is validated here (a :class:`ConfigError` says what is allowed). Neutral
    values add no step. Temperature 0 adds no temperature step: the caller decodes greedily.
    """
    temperature = check_temperature(temperature)
    top_k = check_top_k(top_k)
    top_p = check_top_p(top_p)
    repetition_penalty = check_repetition_penalty(repetition_penalty)
    processors: list[LogitsProcessor] = []
    if repetition_penalty is not None and repetition_penalty != 1.0:
        processors.append(RepetitionPenalty(repetition_penalty))
    if temperature not in (0.0, 1.0):
        processors.append(Temperature(temperature))
    if temperature != 0.0:
        # At temperature 0 the argmax is chosen anyway, and top-k / top-p always keep it.
        if top_k is not None:
            processors.append(TopK(top_k))
        if top_p is not None and top_p != 1.0:
            processors.append(TopP(top_p))
    return processors


def apply_processors(processors: Sequence[LogitsProcessor], ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """Run ``scores[B, V]`` through each processor in turn (``ids[B, t]`` is the text so far)."""
    for processor in processors:
        scores = processor(ids, scores)
    return scores


def greedy_choice(scores: torch.Tensor) -> torch.Tensor:
    """The id of the highest score in each row: ``scores[B, V] -> ids[B]`` (first one on a tie)."""
    return torch.argmax(scores, dim=-1)


def gumbel_noise(rows: int, size: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``(rows, size)`` Gumbel noise: ``argmax(scores + noise)`` is a draw from ``softmax(scores)``.

    Generation draws the noise for every step at once from its own seeded generator, so a step
    costs an add and an argmax instead of a softmax and ``torch.multinomial`` (~30 us here).
    """
    uniform = torch.rand(rows, size, generator=generator)
    # rand can return exactly 0, whose noise would be -inf and could never be chosen.
    uniform.clamp_(min=torch.finfo(uniform.dtype).tiny)
    return -torch.log(-torch.log(uniform))


def sample_choice(scores: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw one id per row from ``softmax(scores[B, V])`` (the Gumbel-max trick): ``ids[B]``.

    Pass a seeded ``generator`` for reproducible draws; the global random state is not touched
    when one is given.
    """
    return greedy_choice(scores + gumbel_noise(scores.shape[0], scores.shape[-1], generator))


def distribution(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Probabilities ``[V]`` (or ``[B, V]``) of each next character at ``temperature``; 0 gives the one-hot argmax."""
    temperature = check_temperature(temperature)
    if temperature == 0.0:
        return torch.nn.functional.one_hot(greedy_choice(logits), logits.shape[-1]).to(logits.dtype)
    return torch.softmax(logits / temperature, dim=-1)
