"""Corpora bigger than memory (issue 16): streaming encode into a file of ids, cached, read window by window."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from chargen.errors import CorpusError
from chargen.training import corpus_file
from chargen.training.corpus_file import (
    CACHE_DIR_NAME,
    MAX_VOCAB,
    cached_encoding,
    encode_file,
    load_corpus,
    scan_vocab,
)
from chargen.training.data import Corpus, read_text
from chargen.training.train import TrainConfig, train
from chargen.vocab import Vocab
from tests.helpers import make_text

ROOT = Path(__file__).resolve().parents[1]
# 1, 2, 3 and 4-byte characters side by side, so every chunk size cuts some character in the middle.
MIXED = "a é 中 🙂 b\nçé中🙂🙂x — “q” \U0010ffff end ü" * 7


def encoded_ids(path: Path, vocab: Vocab, tmp_path: Path, chunk_bytes: int) -> list[int]:
    encoded = encode_file(path, vocab, tmp_path / f"ids-{chunk_bytes}.bin", chunk_bytes=chunk_bytes)
    return np.fromfile(encoded.path, dtype=encoded.dtype).tolist()


@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 5, 7, 11, 64, 1 << 20])
def test_multibyte_characters_split_across_chunks_are_encoded_whole(tmp_path: Path, chunk_bytes: int) -> None:
    path = tmp_path / "mixed.txt"
    path.write_text(MIXED, encoding="utf-8")
    oracle = Vocab.from_text(MIXED)  # the whole text as one string: what the streaming passes must equal
    vocab, chars = scan_vocab(path, chunk_bytes=chunk_bytes)
    assert vocab == oracle and chars == len(MIXED)
    assert encoded_ids(path, vocab, tmp_path, chunk_bytes) == oracle.encode(MIXED)


@pytest.mark.parametrize("chunk_bytes", [1, 3, 4, 1 << 20])
@pytest.mark.parametrize(
    "raw",
    [
        "abc é".encode() + b"\xff" + b"tail",  # a byte that never starts a character
        "ab 中".encode()[:-1] + b"xyz",  # a 3-byte character cut short mid-file
        "ok 🙂".encode()[:-2],  # a 4-byte character cut short at the end of the file
    ],
)
def test_invalid_utf8_names_the_byte_offset_python_does(tmp_path: Path, chunk_bytes: int, raw: bytes) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(raw)
    with pytest.raises(UnicodeDecodeError) as expected:
        raw.decode("utf-8")
    with pytest.raises(CorpusError, match=f"not UTF-8 text \\(invalid byte at offset {expected.value.start}\\)"):
        scan_vocab(path, chunk_bytes=chunk_bytes)


def test_ids_are_uint8_up_to_256_characters_then_uint16(tmp_path: Path) -> None:
    for distinct, dtype in [(256, "uint8"), (257, "uint16")]:
        text = "".join(chr(0x100 + i) for i in range(distinct)) * 3
        path = tmp_path / f"v{distinct}.txt"
        path.write_text(text, encoding="utf-8")
        encoded = cached_encoding(path, tmp_path / f"cache{distinct}")
        assert encoded.dtype == dtype
        ids = np.fromfile(encoded.path, dtype=dtype)
        assert encoded.vocab.decode(ids.tolist()) == text  # decodes back to the text: the oracle


def test_more_characters_than_uint16_holds_is_a_clear_error(tmp_path: Path) -> None:
    # Code points from U+0100 upward, skipping the surrogates, which UTF-8 text never holds.
    points = [p for p in range(0x100, 0x100 + MAX_VOCAB + 4096) if not 0xD800 <= p <= 0xDFFF][: MAX_VOCAB + 1]
    path = tmp_path / "huge_vocab.txt"
    path.write_text("".join(map(chr, points)), encoding="utf-8")
    with pytest.raises(CorpusError, match="65,537 distinct characters; at most 65,536 are allowed"):
        cached_encoding(path, tmp_path / "cache")
    assert not (tmp_path / "cache").exists()
    # exactly as many as uint16 holds is fine
    path.write_text("".join(map(chr, points[:MAX_VOCAB])), encoding="utf-8")
    assert cached_encoding(path, tmp_path / "cache").dtype == "uint16"


def _wide(text: str) -> str:
    """``text`` with 300 more distinct characters spread through it: more than 256, so ids are 2 bytes
    (uint16, as every word model's at 4,000 tokens) and a wrong byte offset reads the wrong ids."""
    extra = [chr(0x100 + i) for i in range(300)]
    step = len(text) // len(extra)
    return "".join(text[i * step : (i + 1) * step] + ch for i, ch in enumerate(extra)) + text[len(extra) * step :]


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
@pytest.mark.parametrize(
    ("scheme", "fraction", "gap"), [("blocks", 0.05, None), ("tail", 0.1, None), ("blocks", 0.0, 5)]
)
def test_split_and_windows_equal_the_in_memory_corpus(
    tmp_path: Path, scheme: str, fraction: float, gap, dtype: str
) -> None:
    text = make_text(seed=3, words=6000) + "ü中🙂"
    if dtype == "uint16":
        text = _wide(text)
    path = tmp_path / "c.txt"
    path.write_text(text, encoding="utf-8")
    oracle = Corpus.from_text(text, fraction, min_chars=33, scheme=scheme, gap=gap)
    mapped = load_corpus(path, tmp_path / "cache", fraction, min_chars=33, scheme=scheme, gap=gap, chunk_bytes=999)
    assert mapped.ids.dtype == dtype
    assert mapped.vocab == oracle.vocab and len(mapped.ids) == len(oracle.ids)
    assert mapped.train_spans == oracle.train_spans
    assert torch.equal(mapped.val, oracle.val)
    a, b = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    for _ in range(3):
        windows = mapped.random_windows(16, 33, a)
        assert windows.dtype == torch.int64
        assert torch.equal(windows, oracle.random_windows(16, 33, b))


def test_validation_rows_are_cut_as_training_cuts_them(tmp_path: Path) -> None:
    text = make_text(seed=4, words=8000)
    path = tmp_path / "c.txt"
    path.write_text(text, encoding="utf-8")
    oracle = Corpus.from_text(text, 0.2, min_chars=33)
    cut = load_corpus(path, tmp_path / "cache", 0.2, min_chars=33, max_val_chars=1000)
    per_row = max(2, 1000 // len(oracle.val))
    assert torch.equal(cut.val, oracle.val[:, :per_row])


def test_the_cache_is_reused_while_the_corpus_is_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.txt"
    path.write_text(MIXED, encoding="utf-8")
    cache = tmp_path / "cache"
    first = cached_encoding(path, cache)
    stamp = first.path.stat().st_mtime_ns

    def no_scan(*args, **kwargs):
        raise AssertionError("the corpus was read again")

    monkeypatch.setattr(corpus_file, "scan_vocab", no_scan)
    again = cached_encoding(path, cache)
    assert again == first and again.path.stat().st_mtime_ns == stamp
    monkeypatch.undo()
    # Changed (another size and time): encoded again, and the stale entry of the same file removed.
    path.write_text(MIXED + "new ☃", encoding="utf-8")
    changed = cached_encoding(path, cache)
    assert "☃" in changed.vocab and changed.path != first.path
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        [changed.path.name, changed.path.with_suffix(".json").name]
    )
    meta = json.loads(changed.path.with_suffix(".json").read_text(encoding="utf-8"))
    assert meta["chars"] == len(MIXED) + 5 and meta["size"] == path.stat().st_size


def test_a_run_and_its_resume_share_one_encoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.txt"
    path.write_text(make_text(seed=1, words=3000), encoding="utf-8")
    out = tmp_path / "run"
    tiny = {"hidden_size": 16, "embedding_size": 8, "num_layers": 1, "seq_len": 16, "batch_size": 4, "eval_every": 5}
    train(TrainConfig(corpus=str(path), out=str(out), max_steps=5, **tiny), progress_bar=False)
    (entry,) = (out / CACHE_DIR_NAME).glob("ids-*.bin")
    monkeypatch.setattr(corpus_file, "scan_vocab", lambda *a, **k: pytest.fail("resume re-read the corpus"))
    result = train(TrainConfig(corpus=str(path), out=str(out), max_steps=10), resume=True, progress_bar=False)
    assert result.step == 10 and list((out / CACHE_DIR_NAME).glob("ids-*.bin")) == [entry]


def test_a_shared_cache_folder_is_used_when_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.txt"
    path.write_text(make_text(seed=2, words=3000), encoding="utf-8")
    monkeypatch.setenv(corpus_file.CACHE_ENV, str(tmp_path / "shared"))
    tiny = {"hidden_size": 16, "embedding_size": 8, "num_layers": 1, "seq_len": 16, "batch_size": 4, "eval_every": 5}
    for name in ("one", "two"):
        train(TrainConfig(corpus=str(path), out=str(tmp_path / name), max_steps=2, **tiny), progress_bar=False)
        assert not (tmp_path / name / CACHE_DIR_NAME).exists()
    assert len(list((tmp_path / "shared").glob("ids-*.bin"))) == 1


def test_a_corpus_too_short_to_split_leaves_no_cache_behind(tmp_path: Path) -> None:
    path = tmp_path / "c.txt"
    path.write_text("abc" * 10, encoding="utf-8")
    with pytest.raises(CorpusError, match="corpus is too short"):
        load_corpus(path, tmp_path / "run" / CACHE_DIR_NAME, 0.05, min_chars=129)
    assert not (tmp_path / "run").exists()


def test_read_text_and_the_scan_agree_on_what_is_text(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    for content in (b"a\x00b" * 10, b"\xff\xfe\x00bad", "ok 🙂".encode()[:-1]):
        path.write_bytes(content)
        with pytest.raises(CorpusError) as old:
            read_text(path)
        with pytest.raises(CorpusError) as new:
            scan_vocab(path, chunk_bytes=2)
        assert str(new.value) == str(old.value)
    path.write_bytes(b"")
    with pytest.raises(CorpusError, match="corpus is empty"):
        scan_vocab(path)
    with pytest.raises(CorpusError, match="no such file"):
        scan_vocab(tmp_path / "missing.txt")


# --- peak memory: a 5 MB and a 50 MB corpus peak within 10% of each other -----------------------------------

WORDS = "the of and to in is that it was for on are as with his café naïve — “quoted” 中文 🙂".split()


def write_corpus(path: Path, megabytes: int) -> None:
    rng = random.Random(megabytes)
    block = " ".join(rng.choice(WORDS) + ("\n" if rng.random() < 0.1 else "") for _ in range(100_000))
    data = block.encode("utf-8")
    with open(path, "wb") as fh:
        written = 0
        while written < megabytes * 1_000_000:
            fh.write(data)
            written += len(data)


def peak_kib(corpus: Path, out: Path) -> int:
    """Peak resident memory (KiB) of a few training steps of a tiny GRU, ``/usr/bin/time -f %M``."""
    command = [
        "/usr/bin/time", "-f", "%M", sys.executable, "-m", "chargen", "train", str(corpus), "--out", str(out),
        "--cell", "gru", "--hidden", "16", "--layers", "1", "--embedding", "8", "--seq-len", "32",
        "--batch-size", "8", "--max-steps", "3", "--eval-every", "3", "--eval-chars", "2000", "--quiet",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != corpus_file.CACHE_ENV}
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return int(done.stderr.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.skipif(not Path("/usr/bin/time").exists(), reason="GNU time (/usr/bin/time) is needed")
def test_peak_memory_does_not_grow_with_the_corpus(tmp_path: Path) -> None:
    peaks = {}
    for megabytes in (5, 50):
        corpus = tmp_path / f"c{megabytes}.txt"
        write_corpus(corpus, megabytes)
        peaks[megabytes] = peak_kib(corpus, tmp_path / f"run{megabytes}")
        corpus.unlink()
        shutil.rmtree(tmp_path / f"run{megabytes}")
    small, big = peaks[5], peaks[50]
    # The old path held the corpus as a string and int64 ids: 50 MB more text cost ~800 MB more.
    assert abs(big - small) <= 0.10 * small, f"peak KiB: 5 MB corpus {small}, 50 MB corpus {big}"
