"""Faults: training killed with SIGKILL at random moments, and checkpoints damaged on disk.

SIGKILL cannot be caught, so nothing gets a chance to tidy up: what is on disk at that instant is
all there is. The atomic writes in ``chargen.atomic`` promise that is always a whole old file or a
whole new one, and the training state promises that a resumed run takes exactly the steps it
would have taken. A damaged checkpoint is refused with a message naming the file and the problem,
and the app falls back to the bundled model and says so.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import pickle
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch._dynamo  # noqa: F401 (see _fork below)
from safetensors.torch import save_file

from chargen import CheckpointError, load_model, load_models, save_checkpoint
from chargen.checkpoint import read_weights
from chargen.hub import BUNDLED_MODEL
from chargen.training.train import STATE_NAME, TrainConfig, train
from tests.helpers import ROOT, tiny_model

KILLS = 5
MAX_STEPS = 400
EVAL_EVERY = 5
# A small LSTM with dropout (so the random number generators matter) that evaluates and saves
# often, so a good share of the kills land while a file is being written.
SETTINGS = {
    "cell": "lstm",
    "hidden_size": 16,
    "embedding_size": 8,
    "num_layers": 2,
    "dropout": 0.1,
    "seq_len": 16,
    "batch_size": 4,
    "eval_every": EVAL_EVERY,
    "eval_chars": 256,
    "warmup_steps": 5,
    "seed": 7,
    "max_steps": MAX_STEPS,
}

# Each life is a forked child that inherits the imports above: a fresh interpreter would spend
# ~5 s importing torch, and AdamW's first use another ~3 s importing torch._dynamo, before its
# first step, which is not what this test is about.
_fork = multiprocessing.get_context("fork")


def _run(corpus: str, out: str, resume: bool) -> None:
    # One thread per run: two runs at once with two threads each fight over two cores and crawl.
    torch.set_num_threads(1)
    train(TrainConfig(corpus=corpus, out=out, **SETTINGS), resume=resume, progress_bar=False)


def _start(corpus: Path, out: Path, resume: bool) -> multiprocessing.process.BaseProcess:
    proc = _fork.Process(target=_run, args=(str(corpus), str(out), resume), daemon=True)
    proc.start()
    return proc


def _saved_step(out: Path) -> int:
    """The step of the training state on disk, or -1 when there is none yet.

    Read from the header with one open: safetensors' safe_open opens the path twice (header, then
    data), so a state replaced in between by the run's next save reads as a size mismatch.
    """
    try:
        with open(out / STATE_NAME, "rb") as fh:
            header = json.loads(fh.read(int.from_bytes(fh.read(8), "little")))
    except FileNotFoundError:
        return -1
    return json.loads(header["__metadata__"]["chargen_train_state"])["step"]


def _wait_for_step(proc: multiprocessing.process.BaseProcess, out: Path, step: int) -> None:
    """Block until the run has saved its state at ``step`` or later (or has ended)."""
    deadline = time.monotonic() + 60
    while _saved_step(out) < step and proc.is_alive():
        assert time.monotonic() < deadline, "training made no progress"
        time.sleep(0.002)


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_gives_the_same_weights(corpus_file: Path, tmp_path: Path) -> None:
    straight_out, killed_out = tmp_path / "straight", tmp_path / "killed"
    straight = _start(corpus_file, straight_out, resume=False)

    rng = random.Random(20261127)
    kills, past = 0, -1
    while kills < KILLS:
        proc = _start(corpus_file, killed_out, resume=past >= 0)
        # The first life dies just after its step-0 save, the others 1 to 3 evaluations on; each a
        # random moment later, anywhere in a step or a save. Counting in steps, not seconds,
        # keeps five kills inside the run on a machine of any speed.
        _wait_for_step(proc, killed_out, 0 if past < 0 else past + EVAL_EVERY * rng.randint(1, 3))
        time.sleep(rng.uniform(0.0, 0.02))
        if not proc.is_alive():
            break  # finished before the kill: nothing left to interrupt
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(30)
        assert proc.exitcode == -signal.SIGKILL
        kills += 1
        # Whatever instant the kill hit, the best model and the state on disk are whole files.
        assert load_model(killed_out).cell == "lstm"
        read_weights(killed_out / STATE_NAME)
        past = _saved_step(killed_out)
    assert kills == KILLS, f"the run finished after {kills} kills; raise MAX_STEPS"
    assert 0 < past < MAX_STEPS

    resumed = _start(corpus_file, killed_out, resume=True)
    for proc in (resumed, straight):
        proc.join(120)
        assert proc.exitcode == 0
    assert _saved_step(killed_out) == _saved_step(straight_out) == MAX_STEPS

    for name in (STATE_NAME, "model.safetensors"):
        a, b = read_weights(straight_out / name), read_weights(killed_out / name)
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), f"{name}: {key} differs after {kills} kills"
    steps = [json.loads(line)["step"] for line in (killed_out / "log.jsonl").read_text().splitlines()]
    assert steps == list(range(0, MAX_STEPS + 1, EVAL_EVERY))


# --- bad checkpoints: refused naming the file and the problem; the app falls back and says so -------
#
# tests/test_checkpoint.py covers the kinds of damage one by one; here every kind is held to the
# same two promises: the message names the damaged file by its full path and says what is wrong,
# and load_models (what the app calls) falls back to the bundled model with a notice saying so.


def _edit_config(change: Callable[[dict], object]) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        change(config)
        (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")

    return damage


def _edit_weights(change: Callable[[dict[str, torch.Tensor]], object]) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        tensors = read_weights(folder / "model.safetensors")
        change(tensors)
        save_file(tensors, folder / "model.safetensors")

    return damage


def _write(name: str, data: bytes | Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        path = folder / name
        path.write_bytes(data(path.read_bytes()) if callable(data) else data)

    return damage


def _nan_payload(data: bytes) -> bytes:
    # Keep the header, fill the tensor bytes with 0xFF: still a well-formed file, every float nan.
    header_end = 8 + int.from_bytes(data[:8], "little")
    return data[:header_end] + b"\xff" * (len(data) - header_end)


class _Pickled:
    def __reduce__(self):
        return (print, ("unpickled!",))


BAD_CHECKPOINTS = {
    "weights truncated": (
        _write("model.safetensors", lambda d: d[: len(d) // 2]),
        "model.safetensors",
        "not a valid safetensors file",
    ),
    "weights empty": (_write("model.safetensors", b""), "model.safetensors", "not a valid safetensors file"),
    "weights header garbage": (
        _write("model.safetensors", lambda d: d[:8] + b"{garbage" + d[16:]),
        "model.safetensors",
        "not a valid safetensors file",
    ),
    "weights header length absurd": (
        _write("model.safetensors", lambda d: (2**62).to_bytes(8, "little") + d[8:]),
        "model.safetensors",
        "not a valid safetensors file",
    ),
    "weights all nan": (_write("model.safetensors", _nan_payload), "model.safetensors", "is not finite floating point"),
    "weights integer": (
        _edit_weights(lambda t: t.update(**{"head.bias": t["head.bias"].long()})),
        "model.safetensors",
        "is not finite floating point",
    ),
    "weights of another cell": (_edit_config(lambda c: c.update(cell="gru")), "model.safetensors", "has shape"),
    "pickle renamed": (
        _write("model.safetensors", pickle.dumps({"w": _Pickled()})),
        "model.safetensors",
        "not a valid safetensors file",
    ),
    "vocabulary longer than the weights": (
        _edit_config(lambda c: c["vocab"].append("Q")),
        "model.safetensors",
        "does the vocabulary match the weights",
    ),
    "vocabulary repeats a character": (
        _edit_config(lambda c: c.update(vocab=["a"] * len(c["vocab"]))),
        "config.json",
        "repeated characters",
    ),
    "vocabulary of strings": (
        _edit_config(lambda c: c.update(vocab=["ab"] + c["vocab"][2:])),
        "config.json",
        "single characters",
    ),
    "vocabulary a string": (
        _edit_config(lambda c: c.update(vocab="".join(c["vocab"]))),
        "config.json",
        "vocab must be a non-empty list",
    ),
    "config key missing": (_edit_config(lambda c: c.pop("num_layers")), "config.json", "missing key(s): num_layers"),
    "config key extra": (
        _edit_config(lambda c: c.update(learning_rate=3e-3)),
        "config.json",
        "unknown key(s): learning_rate",
    ),
    "config size a string": (
        _edit_config(lambda c: c.update(hidden_size="16")),
        "config.json",
        "hidden_size must be a positive integer",
    ),
    "config size a float": (
        _edit_config(lambda c: c.update(embedding_size=8.0)),
        "config.json",
        "embedding_size must be a positive integer",
    ),
    "config layers a bool": (
        _edit_config(lambda c: c.update(num_layers=True)),
        "config.json",
        "num_layers must be a positive integer",
    ),
    "config dropout a string": (
        _edit_config(lambda c: c.update(dropout="0.1")),
        "config.json",
        "dropout must be a number",
    ),
    "config cell unknown": (_edit_config(lambda c: c.update(cell=3)), "config.json", "cell must be one of"),
    "config format missing": (_edit_config(lambda c: c.pop("format")), "config.json", "not a chargen model config"),
    "config a list": (_write("config.json", b"[1, 2]"), "config.json", "config must be a JSON object"),
    "config null": (_write("config.json", b"null"), "config.json", "config must be a JSON object"),
    "config empty": (_write("config.json", b""), "config.json", "not valid JSON"),
    "config not UTF-8": (_write("config.json", b"\xff\xfe{}"), "config.json", "not valid JSON"),
    "config missing": (lambda folder: (folder / "config.json").unlink(), "config.json", "file not found"),
}


@pytest.fixture
def damaged(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, str, str]:
    """A saved tiny model damaged as ``request.param`` says: (folder, damaged file, problem)."""
    damage, file_name, problem = BAD_CHECKPOINTS[request.param]
    folder = tmp_path / "damaged-model"
    save_checkpoint(tiny_model("lstm", vocab="ROME:\n abc"), folder)
    damage(folder)
    return folder, file_name, problem


@pytest.mark.parametrize("damaged", sorted(BAD_CHECKPOINTS), indirect=True)
def test_a_damaged_checkpoint_is_refused_naming_the_file_and_the_problem(
    damaged: tuple[Path, str, str], capsys
) -> None:
    folder, file_name, problem = damaged
    with pytest.raises(CheckpointError) as info:
        load_model(folder)
    message = str(info.value)
    assert message.startswith(f"{folder / file_name}: "), message
    assert problem in message and "\n" not in message, message
    assert "unpickled!" not in capsys.readouterr().out


@pytest.mark.parametrize("damaged", sorted(BAD_CHECKPOINTS), indirect=True)
def test_load_models_falls_back_to_the_bundled_model_and_says_why(damaged: tuple[Path, str, str], monkeypatch) -> None:
    folder, file_name, problem = damaged
    monkeypatch.chdir(ROOT)  # the bundled model's name is relative to the repository
    loaded = load_models(str(folder))
    assert list(loaded.models) == [BUNDLED_MODEL]
    (notice,) = loaded.notices
    assert notice.startswith(f"could not load {folder}: ") and notice.endswith(f"; using {BUNDLED_MODEL}")
    assert file_name in notice and problem in notice, notice


def test_the_app_falls_back_to_the_bundled_model_and_shows_why(tmp_path: Path, monkeypatch) -> None:
    """``app.py`` configured with only a damaged model: it serves the bundled one and says so on the page."""
    folder = tmp_path / "damaged-model"
    save_checkpoint(tiny_model("lstm", vocab="ROME:\n abc"), folder)
    _write("model.safetensors", lambda d: d[:-7])(folder)
    monkeypatch.chdir(tmp_path)  # the bundled model is found next to app.py, not in the working directory
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    from chargen.app import demo as app

    models, notices = app.load_app_models(str(folder))
    assert [model.name for model in models] == ["shakespeare"]
    (notice,) = notices
    assert f"could not load {folder}" in notice and "model.safetensors: not a valid safetensors file" in notice
    assert notice.endswith(f"using {ROOT / BUNDLED_MODEL}")
    demo = app.build_demo(models, notices)
    shown = next(block for block in demo.blocks.values() if getattr(block, "elem_id", None) == "startup-notices")
    assert shown.visible and "could not load" in shown.value and "damaged" in shown.value
    last = list(app.Handlers(models).generate("ROMEO:", 0.8, 20))[-1]
    assert len(last[0]) == len(last[1]) == 20
