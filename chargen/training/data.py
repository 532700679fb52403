"""Corpus -> tensors: read a text file, hold out validation text, draw random training windows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
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


class IdArray(Protocol):
    """Ids that are not a tensor (e.g. in a file): a length, and numpy arrays for a slice or an index array."""

    def __len__(self) -> int: ...

    def __getitem__(self, key: Any) -> np.ndarray: ...


VAL_SCHEMES = ("blocks", "tail")
MAX_VAL_BLOCKS = 16
MIN_VAL_BLOCK = 256  # characters: shorter blocks are mostly warm-up for the carried state


@dataclass
class Corpus:
    """A corpus encoded once into one tensor of ids, split into training spans and validation rows.

    ``train_spans`` are ``(start, end)`` ranges of ``ids`` that training windows are drawn from;
    a window never crosses a span's end, so it never reads validation text or the gap around it.
    ``val`` holds the validation text as rows of equal length (one row per held-out block),
    scored side by side with the state carried along each row.
    """

    vocab: Vocab
    ids: torch.Tensor | IdArray  # (N,) int64 tensor, or unsigned ids read from a file (chargen.training.corpus_file)
    train_spans: list[tuple[int, int]]
    val: torch.Tensor  # (blocks, L) int64; (0, 0) when nothing is held out

    @classmethod
    def from_text(
        cls,
        text: str,
        val_fraction: float,
        min_chars: int,
        vocab: Vocab | None = None,
        scheme: str = "blocks",
        gap: int | None = None,
        unit: str = "char",
        vocab_size: int | None = None,
    ) -> Corpus:
        """Encode ``text`` and hold out ``val_fraction`` of it for validation.

        Without ``vocab``, the text's own vocabulary of ``unit`` (and ``vocab_size``, word units
        only: :meth:`Vocab.from_text`) is used. Positions, spans and blocks count ids: characters,
        or for a word vocabulary tokens.

        ``scheme="blocks"`` holds out up to 16 equal blocks (of at least 256 characters where the
        fraction allows), each in the middle of one of as many equal segments of the text, with
        ``gap`` characters (default ``min_chars``, one training window) left unused between each
        block and the training text on either side, so a validation figure measures text that is
        neither trained on nor right next to it. ``scheme="tail"`` holds out the end of the text,
        as chargen did before blocks (``gap`` defaults to 0 there, which reproduces that split).
        ``val_fraction=0`` holds nothing out (a final model that reads all of its text).
        Training spans shorter than ``min_chars`` (one training window) are left unused; a
        :class:`CorpusError` says so when no span is left or a block would be under 2 characters.
        """
        if scheme not in VAL_SCHEMES:
            raise CorpusError(f"validation scheme must be one of {', '.join(VAL_SCHEMES)}, got {scheme!r}")
        if not 0.0 <= val_fraction < 1.0:
            raise CorpusError(f"validation fraction must be at least 0 and below 1, got {val_fraction}")
        if not text:
            raise CorpusError("corpus is empty")
        vocab = vocab or Vocab.from_text(text, unit, vocab_size)
        ids = torch.tensor(vocab.encode(text), dtype=torch.long)
        return cls.from_ids(vocab, ids, val_fraction, min_chars, scheme=scheme, gap=gap)

    @classmethod
    def from_ids(
        cls,
        vocab: Vocab,
        ids: torch.Tensor | IdArray,
        val_fraction: float,
        min_chars: int,
        scheme: str = "blocks",
        gap: int | None = None,
        max_val_chars: int | None = None,
    ) -> Corpus:
        """Split already encoded ``ids`` as :meth:`from_text` does (same spans, blocks and errors).

        ``ids`` may be an int64 tensor or any :class:`IdArray` of unsigned ids (a memory-mapped
        file: :class:`chargen.training.corpus_file.IdsFile`), which stays where it is; only the validation
        rows are read,
        each cut to ``max(2, max_val_chars // blocks)`` when ``max_val_chars`` is given.
        """
        if scheme not in VAL_SCHEMES:
            raise CorpusError(f"validation scheme must be one of {', '.join(VAL_SCHEMES)}, got {scheme!r}")
        if not 0.0 <= val_fraction < 1.0:
            raise CorpusError(f"validation fraction must be at least 0 and below 1, got {val_fraction}")
        n = len(ids)
        if n == 0:
            raise CorpusError("corpus is empty")
        n_val = int(n * val_fraction)
        if gap is None:
            gap = 0 if scheme == "tail" else min_chars
        if gap < 0:
            raise CorpusError(f"validation gap must be 0 or more characters, got {gap}")
        if val_fraction == 0:
            blocks: list[tuple[int, int]] = []
        elif scheme == "tail":
            blocks = [(n - n_val, n)]
        else:
            count = max(1, min(MAX_VAL_BLOCKS, n_val // MIN_VAL_BLOCK))
            size = n_val // count
            # Block i sits in the middle of the i-th of `count` equal segments of the text.
            blocks = []
            for i in range(count):
                middle = (2 * i + 1) * n // (2 * count)
                blocks.append((middle - size // 2, middle - size // 2 + size))
        spans, cursor = [], 0
        for start, end in blocks:
            spans.append((cursor, max(cursor, start - gap)))
            cursor = min(n, end + gap)
        spans.append((cursor, n))
        spans = [(s, e) for s, e in spans if e - s >= min_chars]
        size = blocks[0][1] - blocks[0][0] if blocks else 0
        split = f"{scheme} scheme, --val-fraction {val_fraction}"
        if blocks and size < 2:
            raise CorpusError(
                f"corpus is too short to hold out validation text: {n} characters x {val_fraction} give "
                f"{len(blocks)} block(s) of {size} ({split}); a block needs at least 2 "
                f"(use a longer text, a larger --val-fraction, or --val-fraction 0 to hold nothing out)"
            )
        if not spans and not blocks:
            raise CorpusError(
                f"corpus is too short: {n} characters, training needs a stretch of at least {min_chars} "
                f"(one training window, --seq-len + 1); use a longer text or a shorter --seq-len"
            )
        if not spans:
            raise CorpusError(
                f"corpus is too short: {n} characters leave no stretch of {min_chars} (one training window, "
                f"--seq-len + 1) for training beside {len(blocks)} validation block(s) of {size} with {gap} unused "
                f"on each side ({split}); use a longer text, a shorter --seq-len, a smaller --val-fraction "
                f"or --val-gap, or --val-fraction 0"
            )
        if blocks and max_val_chars is not None:
            row = max(2, max_val_chars // len(blocks))
            blocks = [(s, min(e, s + row)) for s, e in blocks]
        val = torch.stack([_long(ids[s:e]) for s, e in blocks]) if blocks else torch.zeros((0, 0), dtype=torch.long)
        return cls(vocab, ids, spans, val)

    @property
    def train_chars(self) -> int:
        """How many characters training windows are drawn from."""
        return sum(end - start for start, end in self.train_spans)

    def random_windows(self, batch_size: int, window: int, generator: torch.Generator) -> torch.Tensor:
        """``batch_size`` windows of ``window`` consecutive training ids, shape (B, window).

        Every start inside a training span that leaves room for a whole window is equally likely.
        """
        starts_per_span = torch.tensor([max(0, e - s - window + 1) for s, e in self.train_spans])  # (S,)
        cumulative = torch.cumsum(starts_per_span, 0)  # (S,)
        draws = torch.randint(0, int(cumulative[-1]), (batch_size,), generator=generator)  # (B,)
        span = torch.searchsorted(cumulative, draws, right=True)  # (B,)
        span_starts = torch.tensor([s for s, _ in self.train_spans])
        starts = span_starts[span] + draws - (cumulative[span] - starts_per_span[span])  # (B,)
        offsets = starts[:, None] + torch.arange(window)  # (B, window)
        if not isinstance(self.ids, torch.Tensor):  # ids in a file: read only the drawn windows
            return _long(self.ids[offsets.numpy()])
        return self.ids[offsets.to(self.ids.device)]


def _long(ids: torch.Tensor | np.ndarray) -> torch.Tensor:
    """``ids`` as an int64 tensor (a copy when they are numpy ids, e.g. read from a memory map)."""
    if isinstance(ids, torch.Tensor):
        return ids
    return torch.from_numpy(np.asarray(ids, dtype=np.int64))


def parallel_streams(data: torch.Tensor, streams: int) -> torch.Tensor:
    """Cut ``data`` into ``streams`` equal contiguous rows, shape (streams, len // streams).

    Evaluating the rows side by side, each with its state carried, covers the text in
    ``len / streams`` steps instead of ``len``.
    """
    streams = max(1, min(streams, len(data) // 2))
    length = len(data) // streams
    return data[: streams * length].view(streams, length)
