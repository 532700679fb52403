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

import hashlib
import json
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

        The piece at i + 1 is at least one shorter than the piece at i (drop its first character),
        so each position starts from there: about two lookups per character.
        """
        result: list[tuple[int, int]] = []
        length, where = 0, -1
        for i in range(len(generated)):
            length = max(length - 1, 0)
            where = self.find(generated[i : i + length]) if length else -1
            while i + length < len(generated):
                found = self.find(generated[i : i + length + 1])
                if found < 0:
                    break
                length, where = length + 1, found
            result.append((length, where if length else -1))
        return result

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
