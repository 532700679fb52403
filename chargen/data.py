"""Corpus -> tensors: read a text file, split off validation, draw random training windows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from chargen.errors import CorpusError
from chargen.vocab import Vocab


def read_text(path: str | Path) -> str:
    """The contents of a UTF-8 text file, or a :class:`CorpusError` saying why it can't be read."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CorpusError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CorpusError(f"{path}: is a folder, not a text file") from None
    except OSError as exc:
        raise CorpusError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path}: not UTF-8 text (invalid byte at offset {exc.start})") from None
    if "\x00" in text:
        raise CorpusError(f"{path}: looks like a binary file (it contains NUL bytes), not text")
    return text


@dataclass
class Corpus:
    """A corpus encoded once into one tensor of ids, split into a training and a validation part."""

    vocab: Vocab
    train: torch.Tensor  # (N_train,) int64
    val: torch.Tensor  # (N_val,) int64

    @classmethod
    def from_text(cls, text: str, val_fraction: float, min_chars: int, vocab: Vocab | None = None) -> Corpus:
        """Encode ``text`` and take the last ``val_fraction`` of it for validation.

        Each part must hold at least ``min_chars`` characters (one training window).
        """
        if not 0.0 < val_fraction < 1.0:
            raise CorpusError(f"validation fraction must be between 0 and 1, got {val_fraction}")
        if not text:
            raise CorpusError("corpus is empty")
        vocab = vocab or Vocab.from_text(text)
        ids = torch.tensor(vocab.encode(text), dtype=torch.long)
        n_val = int(len(ids) * val_fraction)
        train, val = ids[: len(ids) - n_val], ids[len(ids) - n_val :]
        if len(train) < min_chars or len(val) < min_chars:
            raise CorpusError(
                f"corpus is too short: {len(text)} characters give {len(train)} for training and "
                f"{len(val)} for validation; each part needs at least {min_chars} "
                f"(use a longer text or a shorter --seq-len)"
            )
        return cls(vocab, train, val)


def random_windows(data: torch.Tensor, batch_size: int, window: int, generator: torch.Generator) -> torch.Tensor:
    """``batch_size`` windows of ``window`` consecutive ids at random offsets, shape (B, window)."""
    starts = torch.randint(0, len(data) - window + 1, (batch_size,), generator=generator)  # (B,)
    offsets = starts[:, None] + torch.arange(window)  # (B, window)
    return data[offsets.to(data.device)]


def parallel_streams(data: torch.Tensor, streams: int) -> torch.Tensor:
    """Cut ``data`` into ``streams`` equal contiguous rows, shape (streams, len // streams).

    Evaluating the rows side by side, each with its state carried, covers the text in
    ``len / streams`` steps instead of ``len``.
    """
    streams = max(1, min(streams, len(data) // 2))
    length = len(data) // streams
    return data[: streams * length].view(streams, length)
