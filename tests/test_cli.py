import json
from pathlib import Path

import pytest

from tests.conftest import run_cli

SMALL = ["--hidden", "16", "--embedding", "8", "--seq-len", "16", "--batch-size", "4", "--quiet"]


def test_train_then_eval_end_to_end(corpus_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    done = run_cli("train", str(corpus_file), "--out", str(out), "--max-steps", "20", "--eval-every", "10", *SMALL)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["step"] == 20 and summary["best_val_loss"] < 3.5
    held_out = tmp_path / "held_out.txt"
    held_out.write_text(corpus_file.read_text()[-2000:])
    done = run_cli("eval", str(out), str(held_out))
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert set(figures) == {"nats_per_char", "bits_per_char", "chars"}
    assert figures["chars"] == 1999 and 0 < figures["nats_per_char"] < 3.5
    assert figures["bits_per_char"] == pytest.approx(figures["nats_per_char"] / 0.693147, rel=1e-4)


def _assert_one_clear_error(done, *fragments: str) -> None:
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error:") and "Traceback" not in done.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        (["--cell", "transformer"], "cell must be one of rnn, lstm, gru"),
        (["--hidden", "-3"], "hidden_size must be a positive integer"),
        (["--layers", "0"], "num_layers must be a positive integer"),
        (["--dropout", "1"], "dropout must be in [0, 1)"),
        (["--seq-len", "0"], "seq-len must be a positive integer"),
        (["--max-minutes", "-1"], "max-minutes must be a positive number"),
    ],
)
def test_train_impossible_options(corpus_file: Path, tmp_path: Path, options: list[str], fragment: str) -> None:
    out = tmp_path / "never"
    _assert_one_clear_error(run_cli("train", str(corpus_file), "--out", str(out), *options), fragment)
    assert not out.exists()


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "no such file"),
        (b"", "corpus is empty"),
        (b"short text", "corpus is too short"),
        (b"\x89PNG\r\n\x1a\n\xff\xff", "not UTF-8"),
    ],
)
def test_train_bad_corpus(tmp_path: Path, content: bytes | None, fragment: str) -> None:
    corpus = tmp_path / "corpus.txt"
    if content is not None:
        corpus.write_bytes(content)
    out = tmp_path / "never"
    _assert_one_clear_error(run_cli("train", str(corpus), "--out", str(out)), fragment)
    assert not out.exists()


def test_eval_bad_inputs(tmp_path: Path) -> None:
    from chargen import save_checkpoint
    from tests.conftest import tiny_model

    save_checkpoint(tiny_model(vocab="abc"), tmp_path / "m")
    (tmp_path / "t.txt").write_text("abcxyz")
    _assert_one_clear_error(run_cli("eval", str(tmp_path / "m"), str(tmp_path / "t.txt")), "'x'", "'y'", "'z'")
    _assert_one_clear_error(run_cli("eval", str(tmp_path / "m"), str(tmp_path / "none.txt")), "no such file")
    _assert_one_clear_error(run_cli("eval", str(tmp_path / "nomodel"), str(tmp_path / "t.txt")), "nomodel")
