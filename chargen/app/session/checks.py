"""The Train tab's limits and the checks of a training request as it comes from the page or the API.

:func:`parse_train_request` checks every input and gives a :class:`TrainRequest`, the one object the
training stream, the ZeroGPU entry point and the run's configuration take. Each refusal is a one-line
:class:`~chargen.errors.ChargenError` saying what was wrong and what is allowed, in the words of the page's
catalogue (``train.refusal.*`` in ``static/i18n``), so the page can show it in the visitor's language.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chargen.app import i18n
from chargen.app.session.presets import PRESETS
from chargen.checks import CELLS
from chargen.errors import ConfigError, CorpusError
from chargen.vocab import DEFAULT_WORD_VOCAB_SIZE, WORD_PATTERN

MIN_CHARS = 10_000
"""Fewer characters than this hold too little to learn from and to validate on."""
MAX_BYTES = 5 * 1024 * 1024
"""The largest text accepted, in UTF-8 bytes."""
MAX_VOCAB = 1000
"""More distinct characters than this is not a text a character model can learn in minutes."""
UNITS = {"characters": "char", "words": "word"}
"""What a step of the model reads and writes, as the tab names it -> :data:`chargen.vocab.UNITS`."""
DEFAULT_TAB_VOCAB_SIZE = DEFAULT_WORD_VOCAB_SIZE
"""Tokens of a word model trained in the tab when no size is given: the command line's default. A
smaller list (cheaper output layer, fewer rarely seen words) looked like the better fit for the
tab's small texts and budgets, but measured it was not: the small GRU, one thread, 120 s on the
first 200,000 characters of Tiny Shakespeare reached 1.531 nats/char with 1,000 tokens and 1.430
with 4,000 (characters: 1.492); 60 s on the first 20,000, 1.678 and 1.619 (characters: 2.110).
Each step reads more text with the longer list (2.25 vs 1.69 characters per token), which pays for
its slower steps (``benchmarks/bench_tab_vocab.py``, on a shared 2-core machine, niced, 2026-11-28)."""
MAX_TAB_VOCAB_SIZE = DEFAULT_WORD_VOCAB_SIZE
"""The largest word vocabulary the tab trains (the command line's default)."""
MIN_SECONDS = 15
DEFAULT_SECONDS = 180
DEFAULT_MAX_SECONDS = 300
MAX_SECONDS_ENV = "CHARGEN_TRAIN_MAX_SECONDS"
"""The server's largest time budget in seconds (default 300)."""


@dataclass(frozen=True)
class TrainRequest:
    """One checked training request, as :func:`parse_train_request` makes it: plain values only, so it pickles
    into the process ZeroGPU forks for a GPU call."""

    text: str
    cell: str
    size: str
    seconds: float
    unit: str = "char"
    vocab_size: int | None = None
    """Tokens of a word model (single characters included); None for a character model."""


def max_seconds_from_env(default: float = DEFAULT_MAX_SECONDS) -> float:
    """The server's largest time budget: ``CHARGEN_TRAIN_MAX_SECONDS`` if set, else ``default``."""
    raw = os.environ.get(MAX_SECONDS_ENV, "").strip()
    if not raw:
        return float(default)
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{MAX_SECONDS_ENV} must be a number of seconds, got {raw!r}") from None
    if not math.isfinite(value) or value < MIN_SECONDS:
        raise ConfigError(f"{MAX_SECONDS_ENV} must be at least {MIN_SECONDS}, got {raw!r}")
    return value


def check_text(data: Any) -> str:
    """A training text from pasted text or uploaded bytes, or a one-line :class:`CorpusError` saying why not."""
    if isinstance(data, (bytes, bytearray)):
        if len(data) > MAX_BYTES:
            raise CorpusError(too_large("text", len(data), MAX_BYTES))
        if b"\x00" in data:
            raise CorpusError(i18n.text("train.refusal.binary_file"))
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CorpusError(i18n.text("train.refusal.not_utf8", offset=exc.start)) from None
        data = data.removeprefix("\ufeff")  # a byte order mark is not part of the text
    if not isinstance(data, str):
        raise CorpusError(i18n.text("train.refusal.not_a_string", kind=type(data).__name__))
    size = len(data.encode("utf-8", errors="surrogatepass"))
    if size > MAX_BYTES:
        raise CorpusError(too_large("text", size, MAX_BYTES))
    if "\x00" in data:
        raise CorpusError(i18n.text("train.refusal.nul_characters"))
    if any("\ud800" <= ch <= "\udfff" for ch in data):
        raise CorpusError(i18n.text("train.refusal.surrogates"))
    if len(data) < MIN_CHARS:
        raise CorpusError(i18n.text("train.refusal.too_short", count=f"{len(data):,}", minimum=f"{MIN_CHARS:,}"))
    distinct = len(set(data))
    if distinct < 2:
        raise CorpusError(i18n.text("train.refusal.one_character"))
    if distinct > MAX_VOCAB:
        count, maximum = f"{distinct:,}", f"{MAX_VOCAB:,}"
        raise CorpusError(i18n.text("train.refusal.too_many_characters", count=count, maximum=maximum))
    return data


def read_upload(path: str | Path) -> str:
    """The checked text of an uploaded file (``.txt``, UTF-8), never reading more than the limit allows."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise CorpusError(too_large("file", size, MAX_BYTES))
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise CorpusError(i18n.text("train.refusal.unreadable", reason=exc.strerror or exc)) from None
    return check_text(raw)


def check_cell(cell: Any) -> str:
    """``"rnn"``, ``"lstm"`` or ``"gru"`` (any case)."""
    value = cell.strip().lower() if isinstance(cell, str) else cell
    if value not in CELLS:
        raise ConfigError(i18n.text("train.refusal.cell", choices=", ".join(CELLS), value=short_repr(cell)))
    return value


def check_size(size: Any) -> str:
    """A preset name: ``"small"`` or ``"medium"``."""
    value = size.strip().lower() if isinstance(size, str) else size
    if value not in PRESETS:
        raise ConfigError(i18n.text("train.refusal.size", choices=", ".join(PRESETS), value=short_repr(size)))
    return value


def check_seconds(seconds: Any, max_seconds: float, min_seconds: float = MIN_SECONDS) -> float:
    """A time budget in seconds between ``min_seconds`` (default :data:`MIN_SECONDS`) and ``max_seconds``."""

    def refusal() -> ConfigError:
        low, high = f"{min_seconds:g}", f"{max_seconds:g}"
        return ConfigError(i18n.text("train.refusal.seconds", low=low, high=high, value=short_repr(seconds)))

    if isinstance(seconds, bool):
        raise refusal()
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        raise refusal() from None
    if not math.isfinite(value) or not min_seconds <= value <= max_seconds:
        raise refusal()
    return value


def check_unit(unit: Any) -> str:
    """``"char"`` or ``"word"``, from those or the tab's ``"characters"`` / ``"words"`` (any case; blank = char)."""
    value = unit.strip().lower() if isinstance(unit, str) else unit
    if value in (None, ""):
        return "char"
    if value in UNITS:
        return UNITS[value]
    if value in UNITS.values():
        return value
    raise ConfigError(i18n.text("train.refusal.unit", choices=", ".join(UNITS), value=short_repr(unit)))


def check_vocab_size(vocab_size: Any, text: str, unit: str) -> int | None:
    """A word model's vocabulary size for ``text``: a whole number from the text's count of distinct
    characters (each needs its own token) to :data:`MAX_TAB_VOCAB_SIZE`; blank = :data:`DEFAULT_TAB_VOCAB_SIZE`
    (raised to the character count). None for a character model, whose tokens are its characters.

    Also refuses a text with no words for a word model (a :class:`CorpusError`), before any training starts.
    """
    if unit != "word":
        return None
    distinct = len(set(text))
    if not WORD_PATTERN.search(text):
        raise CorpusError(i18n.text("train.refusal.no_words"))
    if vocab_size in (None, ""):
        return max(DEFAULT_TAB_VOCAB_SIZE, distinct)
    # check_text allows at most MAX_VOCAB distinct characters, fewer than MAX_TAB_VOCAB_SIZE: the range is never empty.
    try:
        value = float(vocab_size) if not isinstance(vocab_size, bool) else math.nan
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value != int(value) or not distinct <= value <= MAX_TAB_VOCAB_SIZE:
        low, high = f"{distinct:,}", f"{MAX_TAB_VOCAB_SIZE:,}"
        raise ConfigError(i18n.text("train.refusal.vocab_size", low=low, high=high, value=short_repr(vocab_size)))
    return int(value)


def parse_train_request(
    text: Any,
    cell: Any,
    seconds: Any,
    size: Any,
    max_seconds: float,
    min_seconds: float = MIN_SECONDS,
    unit: Any = "char",
    vocab_size: Any = None,
) -> TrainRequest:
    """Check every input of a training request as it comes from the page or the API."""
    checked_text = check_text(text)
    checked_unit = check_unit(unit)
    return TrainRequest(
        text=checked_text,
        cell=check_cell(cell),
        size=check_size(size if size not in (None, "") else "small"),
        seconds=check_seconds(seconds, max_seconds, min_seconds),
        unit=checked_unit,
        vocab_size=check_vocab_size(vocab_size, checked_text, checked_unit),
    )


def too_large(what: str, size: int, limit: int) -> str:
    """The refusal of a ``what`` (``"text"`` or ``"file"``) of ``size`` bytes, more than ``limit``."""
    if what == "file":
        return i18n.text("train.refusal.file_too_large", size=megabytes(size), limit=megabytes(limit))
    return i18n.text("train.refusal.text_too_large", size=megabytes(size), limit=megabytes(limit))


def megabytes(size: int) -> str:
    """``size`` bytes as the refusals write it: ``5.0 MB``."""
    return f"{size / 1024 / 1024:.1f} MB"


def short_repr(value: Any) -> str:
    """``repr(value)``, cut to 40 characters: what a refusal quotes of a bad input."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


__all__ = [
    "DEFAULT_MAX_SECONDS",
    "DEFAULT_SECONDS",
    "DEFAULT_TAB_VOCAB_SIZE",
    "MAX_BYTES",
    "MAX_SECONDS_ENV",
    "MAX_TAB_VOCAB_SIZE",
    "MAX_VOCAB",
    "MIN_CHARS",
    "MIN_SECONDS",
    "UNITS",
    "TrainRequest",
    "check_cell",
    "check_seconds",
    "check_size",
    "check_text",
    "check_unit",
    "check_vocab_size",
    "max_seconds_from_env",
    "megabytes",
    "parse_train_request",
    "read_upload",
    "short_repr",
    "too_large",
]
