"""How much of a generated text is copied verbatim from the training text: the originality meter.

A :class:`TrainingTextIndex` is a training text with its suffix array (the start offsets of
all its suffixes, in sorted order). For any generated text, :func:`originality` finds, for each
position, the longest piece starting there that occurs somewhere in the training text
("matching statistics"), and reports the longest such piece (with where it is in both texts)
and the share of the text's characters that lie inside copied pieces of at least
:data:`MIN_COPY_RUN` characters.

Stored size: the index is saved as safetensors (no pickle), the text as its code points in the
narrowest unsigned type that holds them (1 byte a character for ASCII) plus the suffix array as
int32 (4 bytes a character): **5 bytes per training character** for an ASCII text, 5.0 MB for
Tiny Shakespeare's 1,003,854-character ``train.txt``. Budget: 6 MB per bundled index; the Python
model's 6 M-character corpus (30 MB) is over it and ships none (build it with
``scripts/originality_index.py``).
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as load_safetensors_bytes
from safetensors.numpy import save_file

from chargen.atomic import write_atomic
from chargen.errors import CheckpointError

INDEX_NAME = "originality.safetensors"
"""The file name of a checkpoint folder's training-text index."""
MIN_COPY_RUN = 20
"""Copied pieces at least this long count towards :func:`originality`'s ``copied_share``."""
DIGEST_KEY = "chargen_originality_text_sha256"
"""Metadata key of an index file: the SHA-256 of its text's UTF-8 bytes (and the mark of a chargen index)."""
GALLOP_FROM = 2
"""Past a piece of more than this many characters, the next position's search starts next to it: few
suffixes share that long a start, so the place is near (shorter pieces search the whole array)."""
MAX_INDEX_CHARS = 50_000_000
"""Training texts longer than this are refused: the suffix array is int32, and building it takes memory."""


def text_codes(text: str) -> np.ndarray:
    """The code points of ``text`` as a uint32 array (one per character)."""
    return np.frombuffer(text.encode("utf-32-le"), dtype="<u4").astype(np.uint32)


def suffix_array(text: str) -> np.ndarray:
    """The start offsets of the suffixes of ``text`` in sorted order (code point order), int32.

    Prefix doubling with numpy sorts: each round sorts by (rank of the first k characters, rank
    of the next k) and stops when every suffix has its own rank; a shorter suffix sorts before a
    longer one it starts (its missing characters rank -1). O(n log n) sorts of n keys per round,
    rounds ~ log2 of the longest repeated piece: ~1-2 s for 1 M characters.
    """
    n = len(text)
    if n > MAX_INDEX_CHARS:
        raise ValueError(f"text has {n:,} characters; an index holds at most {MAX_INDEX_CHARS:,}")
    if n == 0:
        return np.zeros(0, dtype=np.int32)
    _, rank = np.unique(text_codes(text), return_inverse=True)
    rank = rank.astype(np.int64)
    order = np.argsort(rank, kind="stable")
    k = 1
    while True:
        if int(rank.max()) == n - 1:
            break
        second = np.full(n, -1, dtype=np.int64)
        if k < n:
            second[: n - k] = rank[k:]
        order = np.lexsort((second, rank))  # by rank, then second
        first_sorted, second_sorted = rank[order], second[order]
        changed = (first_sorted[1:] != first_sorted[:-1]) | (second_sorted[1:] != second_sorted[:-1])
        new_rank = np.empty(n, dtype=np.int64)
        new_rank[order] = np.concatenate(([0], np.cumsum(changed)))
        rank = new_rank
        k *= 2
    return order.astype(np.int32)


@dataclass(frozen=True)
class TrainingTextIndex:
    """A training text and its suffix array: answers "does this piece occur in it, and where?".

    Build one with :meth:`build` (any text, e.g. an app session's training text) or read a saved
    one with :meth:`load`.
    """

    text: str
    suffixes: np.ndarray = field(repr=False)  # (n,) int32, sorted suffix start offsets

    @classmethod
    def build(cls, text: str) -> TrainingTextIndex:
        """The index of ``text`` (its suffix array built here)."""
        return cls(text, suffix_array(text))

    def __len__(self) -> int:
        return len(self.text)

    def find(self, piece: str) -> int:
        """An offset in the training text where ``piece`` occurs, or -1 if it occurs nowhere."""
        text, suffixes, width = self.text, self.suffixes, len(piece)
        lo, hi = 0, len(suffixes)
        while lo < hi:  # the first suffix whose first `width` characters are >= piece
            mid = (lo + hi) // 2
            start = int(suffixes[mid])
            if text[start : start + width] < piece:
                lo = mid + 1
            else:
                hi = mid
        if lo < len(suffixes):
            start = int(suffixes[lo])
            if text.startswith(piece, start):
                return start
        return -1

    def matching_statistics(self, generated: str) -> list[tuple[int, int]]:
        """For each position i of ``generated``: (length of the longest piece starting at i that occurs
        in the training text, an offset where it occurs there, or -1 for length 0).

        Each position is one binary search: the rest of ``generated`` from i, placed among the sorted
        suffixes, sits next to the suffix sharing the longest prefix with it (any suffix sharing a longer
        one would sort between them), so the piece is the longer common prefix with its two neighbours.
        After a piece of more than :data:`GALLOP_FROM` characters the next search starts beside it (through
        the suffixes' ranks, 4 bytes a training character, made on first use). The slices compare in C
        (``bisect`` with a key): 1.2 ms of CPU for a 300-character text against Tiny Shakespeare's 1 M
        characters, where a search per extended piece took 3.0 ms (``taskset -c 0 .venv/bin/python
        benchmarks/bench_originality.py``, this 2-core machine, 2026-12-04).
        """
        text = self.text
        suffixes = memoryview(np.ascontiguousarray(self.suffixes, dtype=np.int32))  # Python ints on indexing
        ranks = self._ranks
        count = len(suffixes)
        result: list[tuple[int, int]] = []
        length, where = 0, -1
        for i in range(len(generated)):
            rest = generated[i:]
            width = len(rest)

            def key(start: int, width: int = width) -> str:
                return text[start : start + width]

            if length > GALLOP_FROM and where + 1 < count:
                # The suffix after the last piece's place shares all but its first character with `rest`,
                # so `rest` sorts near it: search outwards from there instead of over the whole array.
                low, high = _bracket(suffixes, int(ranks[where + 1]), rest, key)
                place = bisect.bisect_left(suffixes, rest, low, high, key=key)
            else:
                place = bisect.bisect_left(suffixes, rest, key=key)
            length, where = 0, -1
            for neighbour in (place - 1, place):
                if 0 <= neighbour < count:
                    start = suffixes[neighbour]
                    shared = _common_prefix_length(text, start, rest)
                    if shared > length:
                        length, where = shared, start
            result.append((length, where))
        return result

    @functools.cached_property
    def _ranks(self) -> np.ndarray:
        """Each suffix's place in the sorted order (the inverse of the suffix array), made on first use."""
        ranks = np.empty(len(self.suffixes), dtype=np.int32)
        ranks[self.suffixes] = np.arange(len(self.suffixes), dtype=np.int32)
        return ranks

    def save(self, path: str | Path) -> Path:
        """Write the index to ``path`` (safetensors, replaced atomically): the text's code points and the
        suffix array, with a digest of the text in the metadata."""
        path = Path(path)
        codes = text_codes(self.text)
        narrow = np.uint8 if not len(codes) or codes.max() < 256 else np.uint16 if codes.max() < 65536 else np.uint32
        tensors = {"text": codes.astype(narrow), "suffix_array": np.ascontiguousarray(self.suffixes, dtype=np.int32)}
        # One metadata key: safetensors writes several in no fixed order, and the file should be reproducible.
        metadata = {DIGEST_KEY: _digest(self.text)}
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))
        return path

    @classmethod
    def load(cls, path: str | Path) -> TrainingTextIndex:
        """Read an index written by :meth:`save`; anything malformed is a :class:`CheckpointError`.

        Checked: the text's digest, and that the suffix array is a permutation of its offsets (not
        that it is sorted: that would cost a comparison of every neighbouring pair of suffixes).
        """
        path = Path(path)
        try:
            data = path.read_bytes()
            tensors = load_safetensors_bytes(data)
            header_size = int.from_bytes(data[:8], "little")
            metadata = json.loads(data[8 : 8 + header_size]).get("__metadata__") or {}
        except FileNotFoundError:
            raise CheckpointError(f"{path}: file not found") from None
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{path}: not a valid safetensors file ({exc})") from None
        if DIGEST_KEY not in metadata or set(tensors) != {"text", "suffix_array"}:
            raise CheckpointError(f"{path}: not a chargen originality index")
        codes, suffixes = tensors["text"], tensors["suffix_array"]
        if codes.ndim != 1 or codes.dtype.kind != "u" or suffixes.ndim != 1 or suffixes.dtype != np.int32:
            raise CheckpointError(f"{path}: tensors have the wrong shape or type")
        try:
            text = codes.astype("<u4").tobytes().decode("utf-32-le")
        except UnicodeDecodeError:
            raise CheckpointError(f"{path}: the text holds invalid code points") from None
        if _digest(text) != metadata[DIGEST_KEY]:
            raise CheckpointError(f"{path}: the text does not match its digest")
        n = len(text)
        if len(suffixes) != n or (n and (suffixes.min() < 0 or suffixes.max() >= n)):
            raise CheckpointError(f"{path}: the suffix array does not fit the text")
        if n and not np.all(np.bincount(suffixes, minlength=n) == 1):
            raise CheckpointError(f"{path}: the suffix array is not a permutation of the text's offsets")
        return cls(text, suffixes)


def _bracket(suffixes: memoryview, anchor: int, piece: str, key: Callable[[int], str]) -> tuple[int, int]:
    """Bounds ``(low, high)`` holding ``piece``'s insertion place among ``suffixes`` (sorted by ``key``),
    found by steps doubling outwards from ``anchor`` (a galloping search)."""
    count, step = len(suffixes), 1
    if key(suffixes[anchor]) < piece:  # the place is after the anchor
        low = anchor + 1
        high = low + step
        while high < count and key(suffixes[high]) < piece:
            low, step = high + 1, step * 2
            high = low + step
        return low, min(high, count)
    high = anchor  # the place is at the anchor or before it
    low = high - step
    while low >= 0 and key(suffixes[low]) >= piece:
        high, step = low, step * 2
        low = high - step
    return max(low + 1, 0), high


def _common_prefix_length(text: str, start: int, piece: str) -> int:
    """How many leading characters of ``piece`` ``text`` holds at ``start`` (a binary search over
    ``startswith``, which compares in C)."""
    low, high = 0, min(len(piece), len(text) - start)
    while low < high:
        middle = (low + high + 1) // 2
        if text.startswith(piece[:middle], start):
            low = middle
        else:
            high = middle - 1
    return low


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def find_index(folder: str | Path) -> TrainingTextIndex | None:
    """The index saved in checkpoint ``folder`` (:data:`INDEX_NAME`), or None if it has none."""
    path = Path(folder) / INDEX_NAME
    return TrainingTextIndex.load(path) if path.is_file() else None


def originality(text: str, index: TrainingTextIndex, min_run: int = MIN_COPY_RUN) -> dict[str, Any]:
    """How much of ``text`` is copied verbatim from the training text ``index`` holds (JSON-able).

    Keys: ``longest_copy_chars`` (the longest piece of ``text`` that occurs in the training text),
    ``longest_copy_text`` (that piece), ``longest_copy_at`` (where it starts in ``text``, -1 if
    none), ``longest_copy_source_at`` (where it starts in the training text, -1 if none),
    ``copied_share`` (the share of ``text``'s characters inside copied pieces of at least
    ``min_run`` characters, 0 for an empty text), ``min_run``, ``chars`` and ``training_chars``.

    >>> index = TrainingTextIndex.build("to be or not to be")
    >>> originality("not to bed", index)["longest_copy_text"]
    'not to be'
    """
    if min_run < 1:
        raise ValueError(f"min_run must be at least 1, got {min_run}")
    stats = index.matching_statistics(text)
    best_at, best_len, best_source = -1, 0, -1
    covered = np.zeros(len(text) + 1, dtype=np.int64)  # +1 at a run's start, -1 after its end
    for start, (length, where) in enumerate(stats):
        if length > best_len:
            best_at, best_len, best_source = start, length, where
        if length >= min_run:
            covered[start] += 1
            covered[start + length] -= 1
    inside = int(np.count_nonzero(np.cumsum(covered)[: len(text)])) if text else 0
    return {
        "longest_copy_chars": best_len,
        "longest_copy_text": text[best_at : best_at + best_len] if best_len else "",
        "longest_copy_at": best_at,
        "longest_copy_source_at": best_source,
        "copied_share": round(inside / len(text), 4) if text else 0.0,
        "min_run": min_run,
        "chars": len(text),
        "training_chars": len(index),
    }
