"""Training on several processes with torchrun (issue 16): 2 CPU processes over gloo, then resumed by one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from chargen import load_model
from chargen.errors import ConfigError
from chargen.training.distributed import Ranks, ranks_from_env
from chargen.training.train import LOG_NAME, STATE_NAME, _load_state
from tests.helpers import make_text

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "--cell", "gru", "--hidden", "24", "--layers", "1", "--embedding", "8", "--seq-len", "24",
    "--batch-size", "8", "--eval-chars", "2000", "--warmup-steps", "2", "--device", "cpu", "--quiet",
]  # fmt: skip

pytestmark = [
    pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not built in"),
    # Seen once in a clean-clone run: a torchrun child ended by SIGABRT (gloo) and the rerun passed. Until
    # that is understood, a failure is retried once in a fresh tmp_path (pytest-rerunfailures).
    pytest.mark.flaky(reruns=1),
]


def env() -> dict[str, str]:
    """The subprocesses' environment: one torch thread each, nothing inherited from an outer torchrun."""
    keep = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR")}
    return {**keep, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def torchrun(nproc: int, *args: str) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node=N -m chargen train ARGS`` (one process: plain ``python -m``)."""
    if nproc == 1:
        command = [sys.executable, "-m", "chargen", "train", *args]
    else:
        command = [
            sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            "-m", "chargen", "train", *args,
        ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env(), timeout=600, check=False)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return done


def summaries(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith('{"step"')]


def log_steps(out: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (out / LOG_NAME).read_text().splitlines()]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(make_text(seed=7, words=4000), encoding="utf-8")
    return path


@pytest.mark.slow
def test_two_processes_train_one_run_that_one_then_two_processes_resume(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = torchrun(2, str(corpus), "--out", str(out), "--max-steps", "12", "--eval-every", "4", *TINY)
    (summary,) = summaries(done.stdout)  # rank 0 alone reports
    assert summary["step"] == 12
    assert log_steps(out) == [0, 4, 8, 12]  # one row per evaluation, written by rank 0 alone
    meta, _ = _load_state(out / STATE_NAME)
    assert meta["step"] == 12 and meta["world_size"] == 2
    model = load_model(out)  # one loadable checkpoint: the best evaluated weights
    assert model.vocab.chars == tuple(sorted(set(corpus.read_text(encoding="utf-8"))))
    assert min(r["val_loss"] for r in map(json.loads, (out / LOG_NAME).read_text().splitlines())) == pytest.approx(
        summary["best_val_loss"], abs=1e-4
    )

    # Saved by two processes, resumed by one: from the saved step, with the saved optimizer state.
    done = torchrun(1, str(corpus), "--out", str(out), "--resume", "--max-steps", "16")
    (summary,) = summaries(done.stdout)
    assert summary["step"] == 16 and log_steps(out) == [0, 4, 8, 12, 16]
    meta, tensors = _load_state(out / STATE_NAME)
    assert meta["world_size"] == 1 and any(k.startswith("optim.") for k in tensors)
    load_model(out)

    # And saved by one, resumed by two.
    done = torchrun(2, str(corpus), "--out", str(out), "--resume", "--max-steps", "20")
    (summary,) = summaries(done.stdout)
    assert summary["step"] == 20 and log_steps(out) == [0, 4, 8, 12, 16, 20]
    assert _load_state(out / STATE_NAME)[0]["world_size"] == 2
    load_model(out)


@pytest.mark.slow
def test_a_time_budget_ends_every_rank_at_the_same_step(corpus: Path, tmp_path: Path) -> None:
    # Each rank's own clock differs; if they disagreed, one would wait forever in a collective
    # while the other left (and the run would time out or fail). Rank 0 decides for all.
    out = tmp_path / "run"
    done = torchrun(2, str(corpus), "--out", str(out), "--max-minutes", "0.08", "--eval-every", "25", *TINY)
    (summary,) = summaries(done.stdout)
    meta, _ = _load_state(out / STATE_NAME)
    steps = log_steps(out)
    assert steps[-1] == meta["step"] == summary["step"] > 0  # the last step was evaluated and saved
    assert len(steps) == len(set(steps))
    load_model(out)


def test_ranks_come_from_torchruns_environment() -> None:
    assert ranks_from_env({}) == Ranks(0, 1, 0) and not Ranks().active and Ranks().main
    assert ranks_from_env({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == Ranks(1, 4, 1)
    with pytest.raises(ConfigError, match="rank 4 of world size 4"):
        ranks_from_env({"RANK": "4", "WORLD_SIZE": "4"})
    with pytest.raises(ConfigError, match="must be integers"):
        ranks_from_env({"RANK": "x"})
