"""A corpus file encoded once, in chunks, into a file of character ids.

nanoGPT's ``train.bin`` approach: the text is never held as one Python string. One streaming pass
finds the vocabulary (and checks the file is UTF-8 text), a second writes the ids of each chunk to
disk as ``uint8`` (up to 256 distinct characters) or ``uint16`` (up to 65,536), a raw array that
``numpy.memmap`` opens as is. Training reads only the windows it draws and the validation rows it
scores (:class:`IdsFile`), so peak memory does not grow with the corpus.

The encoded file is cached in a folder (``<out>/corpus_cache`` for a training run, or the folder
named by the ``CHARGEN_CORPUS_CACHE`` environment variable, which later runs can share), keyed by
the corpus's resolved path, size and modification time: a resumed or later run over an unchanged
corpus maps the cached ids without reading the text again.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from chargen.atomic import write_atomic, write_text_atomic
from chargen.errors import CorpusError, UnknownCharactersError
from chargen.training.data import Corpus
from chargen.vocab import DEFAULT_WORD_VOCAB_SIZE, Vocab, check_unit, split_tokens, word_vocab_tokens

CHUNK_BYTES = 1 << 20
"""Bytes of the corpus decoded at a time: what bounds the memory the encoding needs."""
MAX_VOCAB = 1 << 16
"""The most distinct characters a corpus may have: ids are stored as uint16 at most."""
CACHE_ENV = "CHARGEN_CORPUS_CACHE"
"""Environment variable naming a cache folder shared by runs (default: ``<out>/corpus_cache``)."""
CACHE_DIR_NAME = "corpus_cache"
FORMAT = 1
_CODE_POINTS = 0x110000


@dataclass(frozen=True)
class EncodedCorpus:
    """A corpus's ids on disk: ``chars`` ids (characters, or a word vocabulary's tokens) of ``dtype`` in ``path``."""

    path: Path
    vocab: Vocab
    chars: int
    dtype: str

    def open(self) -> IdsFile:
        """The ids, read from the file as they are asked for, shape (chars,)."""
        return IdsFile(self.path, self.dtype, self.chars)


class IdsFile:
    """Ids in a file (raw uint8/uint16, nanoGPT's ``train.bin`` layout), read a few at a time.

    Only what is asked for is read, with ``os.pread``, into arrays of its own. A memory map is not
    kept: every page a map touches counts in the process's resident memory for as long as it is
    mapped (on this machine's Linux 6.18 a whole large folio of the page cache, measured about
    0.5 MB per 129-character window), so a map's figure grows with the corpus as training draws
    windows all over it; reading the windows themselves keeps peak memory flat.
    """

    def __init__(self, path: str | Path, dtype: str, length: int) -> None:
        self.path, self.dtype, self.length = Path(path), np.dtype(dtype), length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, key: object) -> np.ndarray:
        """``ids[key]`` for a slice (step 1) or an integer index array of any shape, as a new numpy array."""
        fd = os.open(self.path, os.O_RDONLY)
        try:
            if isinstance(key, slice):
                start, stop, step = key.indices(self.length)
                if step != 1:
                    raise ValueError("IdsFile slices take step 1 only")
                return self._read(fd, start, max(start, stop))
            index = np.asarray(key, dtype=np.int64)
            if index.size and (index.min() < 0 or index.max() >= self.length):
                raise IndexError(f"ids index out of range 0..{self.length - 1}")
            if index.ndim == 2 and index.shape[1] and (np.diff(index, axis=1) == 1).all():
                return self._read_rows(fd, index[:, 0].tolist(), index.shape[1])  # training windows
            wanted = np.unique(index)  # sorted; consecutive runs are read in one call each
            runs = np.split(wanted, np.flatnonzero(np.diff(wanted) != 1) + 1) if wanted.size else []
            values = np.concatenate([self._read(fd, int(r[0]), int(r[-1]) + 1) for r in runs]) if runs else wanted
            return values[np.searchsorted(wanted, index)].astype(self.dtype, copy=False)
        finally:
            os.close(fd)

    def _read_rows(self, fd: int, starts: list[int], width: int) -> np.ndarray:
        """Rows of ``width`` consecutive ids from each of ``starts``, read straight into one array."""
        rows = np.empty((len(starts), width), dtype=self.dtype)
        size = width * self.dtype.itemsize
        view = memoryview(rows).cast("B")
        for i, start in enumerate(starts):
            if os.preadv(fd, [view[i * size : (i + 1) * size]], start * self.dtype.itemsize) != size:
                raise CorpusError(f"{self.path}: shorter than its {self.length:,} ids (changed on disk?)")
        return rows

    def _read(self, fd: int, start: int, stop: int) -> np.ndarray:
        size = self.dtype.itemsize
        data = os.pread(fd, (stop - start) * size, start * size)
        if len(data) != (stop - start) * size:
            raise CorpusError(f"{self.path}: shorter than its {self.length:,} ids (changed on disk?)")
        return np.frombuffer(data, dtype=self.dtype)


def id_dtype(vocab_size: int) -> str:
    """``uint8`` for up to 256 characters, ``uint16`` up to :data:`MAX_VOCAB`; a :class:`CorpusError` past that."""
    if vocab_size <= 1 << 8:
        return "uint8"
    if vocab_size <= MAX_VOCAB:
        return "uint16"
    raise CorpusError(
        f"the corpus has {vocab_size:,} distinct characters; at most {MAX_VOCAB:,} are allowed "
        f"(character ids are stored as uint16)"
    )


def text_chunks(path: str | Path, chunk_bytes: int = CHUNK_BYTES) -> Iterator[str]:
    """The text of a UTF-8 file, a chunk at a time, never the whole text at once.

    A character split across two chunks of bytes is decoded whole, in the chunk where it ends. A
    :class:`CorpusError` says when the file can't be read or is not UTF-8 (with the byte offset).
    """
    path = Path(path)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    offset = 0  # bytes of the file handed to the decoder before this chunk
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below, errors mapped to CorpusError
    except FileNotFoundError:
        raise CorpusError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CorpusError(f"{path}: is a folder, not a text file") from None
    except OSError as exc:
        raise CorpusError(f"{path}: cannot be read ({exc.strerror})") from None
    with fh:
        while True:
            try:
                raw = fh.read(chunk_bytes)
            except OSError as exc:
                raise CorpusError(f"{path}: cannot be read ({exc.strerror})") from None
            pending = len(decoder.getstate()[0])  # bytes of a character begun in the previous chunk
            try:
                text = decoder.decode(raw, final=not raw)
            except UnicodeDecodeError as exc:
                at = offset - pending + exc.start
                raise CorpusError(f"{path}: not UTF-8 text (invalid byte at offset {at})") from None
            if text:
                yield text
            if not raw:
                return
            offset += len(raw)


def code_point_chunks(path: str | Path, chunk_bytes: int = CHUNK_BYTES) -> Iterator[np.ndarray]:
    """The code points of a UTF-8 file, a chunk at a time (uint32 arrays): :func:`text_chunks` as numbers."""
    for text in text_chunks(path, chunk_bytes):
        yield np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def token_chunks(path: str | Path, chunk_bytes: int = CHUNK_BYTES) -> Iterator[list[str]]:
    """The tokens (:func:`chargen.vocab.split_tokens`) of a UTF-8 file, a chunk at a time.

    The last token of a chunk may go on in the next one (a word cut by the chunk's end), so it is
    held back, and joined with the next chunk's first token when that continues the same run: the
    tokens are those of the whole text. The held token is kept in pieces and never split again, so
    a run longer than many chunks costs time in proportion to its length, not to its square.
    """
    carry: list[str] = []  # the pieces of the token held back
    for text in text_chunks(path, chunk_bytes):
        tokens = split_tokens(text)
        if carry and len(split_tokens(carry[-1][-1] + tokens[0][0])) == 1:  # the run goes on
            carry.append(tokens.pop(0))
        if not tokens:
            continue
        if carry:
            tokens = ["".join(carry), *tokens]
        carry = [tokens.pop()]
        yield tokens
    if carry:
        yield ["".join(carry)]


def scan_vocab(
    path: str | Path, chunk_bytes: int = CHUNK_BYTES, unit: str = "char", vocab_size: int | None = None
) -> tuple[Vocab, int]:
    """One streaming pass: the corpus's vocabulary and its length in characters.

    The vocabulary is :meth:`Vocab.from_text`'s for the same text, ``unit`` and ``vocab_size``.
    Checks what :func:`chargen.training.data.read_text` checks (readable, UTF-8, no NUL bytes, not empty) and
    that the ids fit in uint16.
    """
    if check_unit(unit) == "char" and vocab_size is not None:
        Vocab.from_text("", unit, vocab_size)  # the same error as for a text in memory
    seen = np.zeros(_CODE_POINTS, dtype=bool)
    chars = 0
    counts: Counter[str] = Counter()
    for points in code_point_chunks(path, chunk_bytes):
        seen[points] = True
        chars += len(points)
    if chars == 0:
        raise CorpusError(f"{path}: corpus is empty")
    if seen[0]:
        raise CorpusError(f"{path}: looks like a binary file (it contains NUL bytes), not text")
    singles = [chr(int(p)) for p in np.flatnonzero(seen)]
    if unit == "char":
        id_dtype(len(singles))
        return Vocab(tuple(singles)), chars
    for tokens in token_chunks(path, chunk_bytes):
        counts.update(tokens)
    size = DEFAULT_WORD_VOCAB_SIZE if vocab_size is None else vocab_size
    try:
        tokens = word_vocab_tokens(singles, counts, size)
    except CorpusError as exc:
        raise CorpusError(f"{path}: {exc}") from None
    id_dtype(len(tokens))
    return Vocab(tokens, "word"), chars


def encode_file(path: str | Path, vocab: Vocab, target: str | Path, chunk_bytes: int = CHUNK_BYTES) -> EncodedCorpus:
    """Write the ids of ``path`` (:meth:`Vocab.encode`'s, one per character or token) to ``target``
    (atomically), a chunk at a time.

    A character that is not in ``vocab`` is a :class:`CorpusError` (the file changed since it was scanned).
    """
    dtype = id_dtype(len(vocab))
    count = 0

    def write_chars(out: BinaryIO) -> None:
        nonlocal count
        table = np.full(_CODE_POINTS, -1, dtype=np.int32)
        table[[ord(ch) for ch in vocab.chars]] = np.arange(len(vocab), dtype=np.int32)
        for points in code_point_chunks(path, chunk_bytes):
            ids = table[points]
            if (ids < 0).any():
                raise CorpusError(f"{path}: changed while it was being encoded; start again")
            out.write(ids.astype(dtype).tobytes())
            count += len(ids)

    def write_tokens(out: BinaryIO) -> None:
        nonlocal count
        for tokens in token_chunks(path, chunk_bytes):
            try:
                ids = vocab.encode("".join(tokens))
            except UnknownCharactersError:
                raise CorpusError(f"{path}: changed while it was being encoded; start again") from None
            out.write(np.asarray(ids, dtype=dtype).tobytes())
            count += len(ids)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as out:
            (write_chars if vocab.unit == "char" else write_tokens)(out)

    write_atomic(target, write)
    return EncodedCorpus(Path(target), vocab, count, dtype)


def cache_dir_for(out: str | Path) -> Path:
    """Where a run writing to ``out`` caches its encoded corpus: ``$CHARGEN_CORPUS_CACHE`` or ``<out>/corpus_cache``."""
    shared = os.environ.get(CACHE_ENV)
    return Path(shared) if shared else Path(out) / CACHE_DIR_NAME


def _identity(path: Path) -> dict[str, object]:
    try:
        stat = path.stat()
    except OSError:
        return {}
    return {"corpus": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def cached_encoding(
    corpus: str | Path,
    cache_dir: str | Path,
    chunk_bytes: int = CHUNK_BYTES,
    unit: str = "char",
    vocab_size: int | None = None,
) -> EncodedCorpus:
    """The encoded ids of ``corpus``, from ``cache_dir`` when the file is unchanged, else encoded now and cached.

    The cache entry is keyed by the corpus's resolved path, size and modification time (nanoseconds),
    and for word units by the unit and vocabulary size; entries left by earlier versions of the same
    file with the same unit are removed when a new one is written. Nothing is written when the
    corpus is unreadable or not text (the scan comes first).
    """
    corpus, cache_dir = Path(corpus), Path(cache_dir)
    file_identity = _identity(corpus)
    # A character encoding's key is the file's alone, as before word units: existing caches stay valid.
    tokens = {} if check_unit(unit) == "char" else {"unit": unit, "vocab_size": vocab_size or DEFAULT_WORD_VOCAB_SIZE}
    identity = {**file_identity, **tokens}
    key = "none"
    if file_identity:
        key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
        found = _read_entry(cache_dir, key, identity)
        if found is not None:
            return found
    vocab, _ = scan_vocab(corpus, chunk_bytes, unit, vocab_size)
    cache_dir.mkdir(parents=True, exist_ok=True)
    _remove_entries(cache_dir, file_identity.get("corpus"), tokens)
    encoded = encode_file(corpus, vocab, cache_dir / f"ids-{key}.bin", chunk_bytes)
    if _identity(corpus) != file_identity:
        (cache_dir / f"ids-{key}.bin").unlink(missing_ok=True)
        raise CorpusError(f"{corpus}: changed while it was being encoded; start again")
    meta = {**identity, "format": FORMAT, "chars": encoded.chars, "dtype": encoded.dtype, "vocab": vocab.to_list()}
    write_text_atomic(cache_dir / f"ids-{key}.json", json.dumps(meta, ensure_ascii=False))
    return encoded


def _read_entry(cache_dir: Path, key: str, identity: dict[str, object]) -> EncodedCorpus | None:
    meta_path, ids_path = cache_dir / f"ids-{key}.json", cache_dir / f"ids-{key}.bin"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT or any(meta.get(k) != v for k, v in identity.items()):
            return None
        vocab = Vocab.from_list(meta["vocab"], str(meta.get("unit", "char")))
        encoded = EncodedCorpus(ids_path, vocab, int(meta["chars"]), str(meta["dtype"]))
        if ids_path.stat().st_size != encoded.chars * np.dtype(encoded.dtype).itemsize:
            return None
        return encoded
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _remove_entries(cache_dir: Path, corpus: object, tokens: dict[str, object]) -> None:
    """Remove the cache entries made from ``corpus`` (the same file, earlier versions) in the same unit."""
    unit = tokens.get("unit", "char")
    for meta_path in cache_dir.glob("ids-*.json"):
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            same = meta.get("corpus") == corpus and meta.get("unit", "char") == unit
        except (OSError, ValueError, AttributeError):
            same = False
        if same:
            meta_path.with_suffix(".bin").unlink(missing_ok=True)
            meta_path.unlink(missing_ok=True)


def load_corpus(
    corpus: str | Path,
    cache_dir: str | Path,
    val_fraction: float,
    min_chars: int,
    scheme: str = "blocks",
    gap: int | None = None,
    max_val_chars: int | None = None,
    chunk_bytes: int = CHUNK_BYTES,
    unit: str = "char",
    vocab_size: int | None = None,
) -> Corpus:
    """A :class:`chargen.training.data.Corpus` over the memory-mapped ids of ``corpus`` (encoded and cached as needed).

    Training spans and validation blocks are the ones :meth:`Corpus.from_text` makes of the same
    text; only the validation rows (cut to ``max_val_chars`` in all) are read into memory. When the
    corpus can't be split (too short), the cache folder is removed again if this call created it.
    """
    cache_dir = Path(cache_dir)
    created = _first_missing(cache_dir)
    try:
        encoded = cached_encoding(corpus, cache_dir, chunk_bytes, unit, vocab_size)
        return Corpus.from_ids(
            encoded.vocab,
            encoded.open(),
            val_fraction,
            min_chars,
            scheme=scheme,
            gap=gap,
            max_val_chars=max_val_chars,
        )
    except BaseException:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise


def _first_missing(folder: Path) -> Path | None:
    """The outermost folder of ``folder``'s path that does not exist yet (what a mkdir -p would create)."""
    missing = None
    for candidate in [folder, *folder.parents]:
        if candidate.exists():
            break
        missing = candidate
    return missing
