import json
from pathlib import Path

import pytest

from tests.helpers import run_cli

SMALL = ["--hidden", "16", "--embedding", "8", "--seq-len", "16", "--batch-size", "4", "--quiet"]


@pytest.mark.slow
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
    assert figures["chars"] == 2000 and 0 < figures["nats_per_char"] < 3.5  # every character, the first too
    assert figures["bits_per_char"] == pytest.approx(figures["nats_per_char"] / 0.693147, rel=1e-4)


def _assert_one_clear_error(done, *fragments: str) -> None:
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error:") and "Traceback" not in done.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_eval_bad_inputs(tmp_path: Path) -> None:
    from chargen import save_checkpoint
    from tests.helpers import tiny_model

    save_checkpoint(tiny_model(vocab="abc"), tmp_path / "m")
    (tmp_path / "t.txt").write_text("abcxyz")
    _assert_one_clear_error(
        run_cli("eval", str(tmp_path / "m"), str(tmp_path / "t.txt"), "--strict"), "'x'", "'y'", "'z'"
    )
    _assert_one_clear_error(run_cli("eval", str(tmp_path / "m"), str(tmp_path / "none.txt")), "no such file")
    _assert_one_clear_error(run_cli("eval", str(tmp_path / "nomodel"), str(tmp_path / "t.txt")), "nomodel")


# --- generate and eval: what a new user runs --------------------------------------------------

FIXTURE = Path(__file__).parent / "fixtures" / "checkpoint-v1"


@pytest.mark.slow
def test_generate_stream_into_head_ends_without_a_traceback(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from tests.helpers import ROOT

    command = [sys.executable, "-m", "chargen", "generate", str(FIXTURE), "--stream", "--length", "5000", "--seed", "1"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()  # what `| head -1` reads, then it exits
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
    assert proc.returncode == 141


@pytest.mark.slow
def test_top_k_zero_means_off_in_the_cli(tmp_path: Path) -> None:
    off = run_cli("generate", str(FIXTURE), "--json", "--seed", "3", "--top-k", "0", "--length", "40")
    default = run_cli("generate", str(FIXTURE), "--json", "--seed", "3", "--length", "40")
    assert off.returncode == 0, off.stderr
    assert json.loads(off.stdout)["sampled"] == json.loads(default.stdout)["sampled"]


@pytest.mark.slow
@pytest.mark.parametrize("command", ["eval", "generate"])
def test_model_help_names_hub_repo_ids_too(command: str) -> None:
    result = run_cli(command, "--help")
    shown = " ".join(result.stdout.split())
    assert "a bundled model's short name (shakespeare, shakespeare-word, python), or Hugging " in shown
    assert "Face Hub repo id user/repo[@revision]" in shown


def test_eval_and_generate_run_on_one_torch_thread(tmp_path: Path, monkeypatch, capsys) -> None:
    import torch

    from chargen.cli import main

    text = tmp_path / "text.txt"
    text.write_text("ROMEO:\nabc de\n" * 20, encoding="utf-8")
    threads = torch.get_num_threads()
    try:
        for argv in (["eval", str(FIXTURE), str(text)], ["generate", str(FIXTURE), "--length", "5", "--seed", "1"]):
            torch.set_num_threads(2)
            assert main(argv) == 0
            assert torch.get_num_threads() == 1, argv
    finally:
        torch.set_num_threads(threads)
    capsys.readouterr()


@pytest.mark.slow
def test_card_samples_keeps_non_ascii_prompts_and_reads_escapes(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.helpers import ROOT

    script = ROOT / "scripts" / "card_samples.py"
    result = subprocess.run(
        [sys.executable, str(script), str(FIXTURE), "ROMEO é☃:\\nabc", "--length", "20"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "PYTHONIOENCODING": "utf-8"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "```text\nROMEO é☃:\nabc" in result.stdout


def test_the_package_metadata_names_what_exists() -> None:
    """pyproject.toml: a build system, the chargen package and every sub-package (no other top-level
    package), and a console command that resolves."""
    import importlib

    from tests.helpers import ROOT

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["build-system"]["build-backend"] == "setuptools.build_meta"
    from setuptools import find_packages

    found = set(find_packages(ROOT, **project["tool"]["setuptools"]["packages"]["find"]))
    on_disk = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "chargen").rglob("__init__.py")}
    assert found == on_disk and {"chargen", "chargen.app", "chargen.hosting"} <= found
    module, _, name = project["project"]["scripts"]["chargen"].partition(":")
    assert callable(getattr(importlib.import_module(module), name))
    installed = {line.split("=")[0].split(">")[0].strip().lower() for line in project["project"]["dependencies"]}
    assert {"torch", "safetensors", "huggingface-hub"} <= installed


# -- issue 22: counting and the prompt in outputs ------------------------------------------------


def _generate(capsys, *argv: str) -> str:
    import torch

    from chargen.cli import main

    threads = torch.get_num_threads()
    try:
        assert main(["generate", str(FIXTURE), *argv]) == 0
    finally:
        torch.set_num_threads(threads)
    return capsys.readouterr().out


def test_the_loop_line_counts_positions_from_1_as_the_page_does(capsys) -> None:
    import re

    from chargen.app.views import loop_sentence
    from chargen.inference.loops import find_loop

    greedy = json.loads(_generate(capsys, "--length", "300", "--seed", "1", "--json"))["greedy"]
    line = _generate(capsys, "--length", "300", "--seed", "1").splitlines()[-1]
    found = re.fullmatch(r"=== loop: greedy output repeats every (\d+) characters? from character (\d+) ===", line)
    assert found, line
    period, position = int(found[1]), int(found[2])
    # the oracle: counted from 1, character `position` is the first of the periodic tail
    tail = greedy[position - 1 :]
    assert all(tail[i] == tail[i + period] for i in range(len(tail) - period))
    assert greedy[position - 2] != greedy[position - 2 + period]
    assert f"from character {position} " in loop_sentence(greedy, find_loop(greedy))  # the page's line


def _sections(output: str) -> list[str]:
    """The texts between the ``=== ... ===`` header lines of generate's output (a text may hold line breaks)."""
    import re

    return [part.removeprefix("\n").removesuffix("\n") for part in re.split(r"^=== .* ===$", output, flags=re.M)[1:]]


def test_generate_with_prompt_prints_the_prompt_before_each_text(capsys) -> None:
    settings = ["--prompt", "ROMEO:", "--length", "40", "--seed", "2"]
    bare = json.loads(_generate(capsys, *settings, "--json"))
    assert "prompt" not in bare
    texts = ["ROMEO:" + bare["sampled"], "ROMEO:" + bare["greedy"]]
    assert _sections(_generate(capsys, *settings, "--with-prompt"))[:2] == texts
    assert _sections(_generate(capsys, *settings, "--with-prompt", "--stream"))[:2] == texts
    as_json = json.loads(_generate(capsys, *settings, "--with-prompt", "--json"))
    assert as_json == {**bare, "prompt": "ROMEO:"}  # the texts stay without it, as the loop's start counts them
    assert _sections(_generate(capsys, *settings))[:2] == [bare["sampled"], bare["greedy"]]
