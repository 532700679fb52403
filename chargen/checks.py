"""The library's limits and input checks, in one place (no torch import, so the CLI's help is fast).

Each ``check_*`` returns the value as the library uses it, or raises a
:class:`~chargen.errors.ConfigError` saying what was wrong and what is allowed. One meaning per
value everywhere (library, CLI, app): temperature 0 is greedy; ``top_k`` 0 or None is off;
``top_p`` 1 or None is off; ``repetition_penalty`` 1 or None is off; ``seed`` None is a fresh
one. An app may offer narrower ranges; it names those limits as its own (``APP_MAX_...``).
"""

from __future__ import annotations

import math
import secrets

from chargen.errors import ConfigError

MAX_TEMPERATURE = 5.0
"""The hottest temperature the library samples at. 0 is greedy; below 1 sharpens the model's
distribution, 1 is the model's own, above 1 flattens it (at 5 it is close to uniform)."""
TINY_TEMPERATURE = 1e-30
"""Below this, ``logits / temperature`` overflows float32 (+-inf, then nan in softmax), so
:func:`check_temperature` takes the limit instead: temperature 0, greedy."""
MAX_LENGTH = 5000
"""The longest continuation one call makes."""
MAX_PROMPT_CHARS = 5000
"""Only the last this many (known) characters of a prompt are fed to the model."""
MAX_SEED = 2**63 - 1
"""The largest seed (seeds are 0..2**63-1, what ``torch.Generator.manual_seed`` takes)."""
CELLS = ("rnn", "lstm", "gru")
"""The recurrent cells a model may have (:class:`chargen.model.ModelConfig`'s ``cell``)."""


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def shown(value: object) -> str:
    """How a rejected value is quoted in an error: 7.0 as ``7``, anything else as its repr."""
    return f"{value:g}" if isinstance(value, float) else repr(value)


def check_temperature(temperature: float) -> float:
    """``temperature`` as a float if it is finite and in [0, :data:`MAX_TEMPERATURE`], else a :class:`ConfigError`.

    Below :data:`TINY_TEMPERATURE` it is 0: that is the limit (greedy), and ``1 / temperature``
    would overflow float32 into NaN probabilities.
    """
    if not _is_number(temperature) or not math.isfinite(temperature) or not 0.0 <= temperature <= MAX_TEMPERATURE:
        raise ConfigError(f"temperature must be between 0 and {MAX_TEMPERATURE:g}, got {shown(temperature)}")
    return 0.0 if temperature < TINY_TEMPERATURE else float(temperature)


def check_top_k(top_k: int | None) -> int | None:
    """``top_k`` if it is an integer >= 1; ``None`` for None or 0 (no limit); else a :class:`ConfigError`."""
    if top_k is None:
        return None
    if not _is_int(top_k) or top_k < 0:
        raise ConfigError(f"top_k must be a whole number, 0 or None for no limit, got {shown(top_k)}")
    return top_k or None


def check_top_p(top_p: float | None) -> float | None:
    """``top_p`` if it is ``None`` or in (0, 1], else a :class:`ConfigError`."""
    if top_p is None:
        return None
    if not _is_number(top_p) or not math.isfinite(top_p) or not 0.0 < top_p <= 1.0:
        raise ConfigError(f"top_p must be greater than 0 and at most 1 (or None for no limit), got {shown(top_p)}")
    return float(top_p)


def check_repetition_penalty(penalty: float | None) -> float | None:
    """``penalty`` if it is ``None`` or a finite number >= 1, else a :class:`ConfigError`."""
    if penalty is None:
        return None
    if not _is_number(penalty) or not math.isfinite(penalty) or penalty < 1.0:
        raise ConfigError(f"repetition_penalty must be a finite number of at least 1 (1 = off), got {shown(penalty)}")
    return float(penalty)


def check_length(length: int) -> int:
    """``length`` if it is an integer in 1..:data:`MAX_LENGTH`, else a :class:`ConfigError`."""
    if not _is_int(length) or not 1 <= length <= MAX_LENGTH:
        raise ConfigError(f"length must be an integer between 1 and {MAX_LENGTH}, got {length!r}")
    return length


def check_seed(seed: int | None) -> int:
    """``seed``, or a fresh random one when it is ``None``; must be an integer in 0..2**63-1."""
    if seed is None:
        # From the OS, not torch's or Python's global generator, which are left untouched.
        return secrets.randbits(32)
    if not _is_int(seed) or not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"seed must be an integer between 0 and 2**63 - 1 (or None for a fresh one), got {seed!r}")
    return seed


def check_optional_seed(seed: int | None) -> int | None:
    """``seed`` checked as :func:`check_seed` does, but None stays None (a fresh seed per call)."""
    return None if seed is None else check_seed(seed)


def check_chunk_size(chunk_size: int) -> int:
    """``chunk_size`` if it is an integer >= 1, else a :class:`ConfigError`."""
    if not _is_int(chunk_size) or chunk_size < 1:
        raise ConfigError(f"chunk_size must be an integer of at least 1, got {chunk_size!r}")
    return chunk_size
