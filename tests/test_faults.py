"""Training survives being killed: SIGKILL at random moments, resume, same weights as a run never stopped.

SIGKILL cannot be caught, so nothing gets a chance to tidy up: what is on disk at that instant is
all there is. The atomic writes in ``chargen.atomic`` promise that is always a whole old file or a
whole new one, and the training state promises that a resumed run takes exactly the steps it
would have taken.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import time
from pathlib import Path

import torch
import torch._dynamo  # noqa: F401 (see _fork below)
from safetensors import safe_open

from chargen import load_model
from chargen.checkpoint import read_weights
from chargen.train import STATE_NAME, TrainConfig, train

KILLS = 5
MAX_STEPS = 500
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
    """The step of the training state on disk, or -1 when there is none yet."""
    try:
        with safe_open(str(out / STATE_NAME), framework="pt") as fh:
            return json.loads(fh.metadata()["chargen_train_state"])["step"]
    except FileNotFoundError:
        return -1


def _wait_for_progress(proc: multiprocessing.process.BaseProcess, out: Path, past: int) -> None:
    """Block until the run saves a state beyond step ``past`` (or ends), so every life makes progress."""
    deadline = time.monotonic() + 60
    while _saved_step(out) <= past and proc.is_alive():
        assert time.monotonic() < deadline, "training made no progress"
        time.sleep(0.002)


def test_sigkill_at_random_moments_then_resume_gives_the_same_weights(corpus_file: Path, tmp_path: Path) -> None:
    straight_out, killed_out = tmp_path / "straight", tmp_path / "killed"
    straight = _start(corpus_file, straight_out, resume=False)

    rng = random.Random(20261127)
    kills, past = 0, -1
    while kills < KILLS:
        proc = _start(corpus_file, killed_out, resume=past >= 0)
        _wait_for_progress(proc, killed_out, past)
        time.sleep(rng.uniform(0.0, 0.2))
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
