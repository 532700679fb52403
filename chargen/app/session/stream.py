"""A session training run, streamed: :func:`train_stream` runs :func:`chargen.training.train.train` on a
worker thread and turns its callbacks into a stream of plain, picklable update dicts (loss points, a sample
every few seconds, the best weights as CPU tensors whenever they improve), so the same generator works in
this process or in the forked process that ZeroGPU's ``@spaces.GPU`` runs a function in.
"""

from __future__ import annotations

import math
import os
import queue
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chargen.app.session.checks import TrainRequest
from chargen.app.session.presets import PRESETS
from chargen.errors import ChargenError, CheckpointError

if TYPE_CHECKING:  # the page is served before torch is imported (chargen.app.demo.main)
    import torch

    from chargen.model import CharRNN

TRAINING_NICENESS = 10
"""How much the training thread's OS priority is lowered: generation for other visitors comes first."""
SAMPLE_EVERY_S = 3.0
"""A new sample of the current best weights at most this often."""
SAMPLE_LENGTH = 160
SAMPLE_TEMPERATURE = 0.8
EVAL_CHARS = 8_000
"""Validation characters scored at each evaluation (16 blocks of up to 500): a steady figure, and quick on
one thread, since evaluation time counts against the visitor's budget."""


def train_config(request: TrainRequest, corpus: str | Path, out: str | Path, device: str = "cpu"):
    """The :class:`chargen.training.train.TrainConfig` of a session training run."""
    from chargen.training.train import TrainConfig

    preset = PRESETS[request.size]
    return TrainConfig(
        corpus=str(corpus),
        out=str(out),
        cell=request.cell,
        embedding_size=preset.embedding_size,
        hidden_size=preset.hidden_size,
        num_layers=preset.num_layers,
        dropout=preset.dropout,
        seq_len=preset.seq_len,
        batch_size=preset.batch_size,
        lr=preset.lr,
        warmup_steps=preset.warmup_steps,
        eval_every=preset.eval_every,
        eval_chars=EVAL_CHARS,
        max_minutes=request.seconds / 60,
        device=device,
        unit=request.unit,
        vocab_size=request.vocab_size,
    )


def sample_prompt(vocab: list[str] | tuple[str, ...]) -> str:
    """What samples start from: a new line when the text has them, else its first character."""
    return "\n" if "\n" in vocab else vocab[0]


def sample_text(model: CharRNN, seed: int) -> str:
    """A short sample of ``model`` at the app's sampling temperature, the same for the same seed."""
    from chargen.inference.generate import generate

    prompt = sample_prompt(model.vocab.chars)
    return generate(model, prompt, SAMPLE_LENGTH, temperature=SAMPLE_TEMPERATURE, seed=seed).text


def cpu_weights(model: CharRNN) -> dict[str, torch.Tensor]:
    """A copy of ``model``'s weights as contiguous float32 CPU tensors (safe to pickle across a fork)."""
    import torch

    return {k: v.detach().to("cpu", torch.float32).clone().contiguous() for k, v in model.state_dict().items()}


def model_from_weights(config: dict[str, Any], weights: dict[str, torch.Tensor]) -> CharRNN:
    """Rebuild a model (eval mode, CPU) from an update's ``config`` and ``weights``."""
    from chargen.checkpoint import build_model
    from chargen.model import ModelConfig

    return build_model(ModelConfig.from_dict(config), weights, "trained weights")


def train_stream(
    request: TrainRequest,
    *,
    device: str = "cpu",
    stop: threading.Event | None = None,
    sample_every: float = SAMPLE_EVERY_S,
    threads: int | None = 1,
    nice: int = TRAINING_NICENESS,
) -> Iterator[dict[str, Any]]:
    """Train a model as ``request`` says with :func:`chargen.training.train.train` and stream what happens.

    A word request (``unit="word"``) trains a word model of ``request.vocab_size`` tokens; its losses are
    streamed in nats per character all the same (a word model's per-token losses divided by the validation
    text's characters per token, as ``chargen train`` logs ``val_nats_per_char``), so curves of both kinds
    compare.

    Args:
        request: a checked request, from :func:`chargen.app.session.checks.parse_train_request`.
        device: where the model trains (``"cpu"``, ``"cuda"``).
        stop: setting it (or closing the generator) ends the run at the next step; the best weights so far
            are the model.
        sample_every: the least seconds between two samples of the best weights.
        threads: torch threads while training (a process-wide setting, put back as it was when the stream
            ends, finished, stopped, closed or failed); None leaves it alone.
        nice: how far the training thread's OS priority is lowered, so the server's other work (visitors
            generating) comes first.

    Yields:
        Dicts of plain data and CPU tensors only, so they cross a process boundary:
        ``{"kind": "training", "step", "elapsed", "seconds", "train": [[step, loss], ...] (new points),
        "val": [[step, loss], ...] (new points), "sample": "step 100: ..." or None, "weights": best CPU
        weights when they improved or None, "config": the model config}``, and last
        ``{"kind": "done", "step", "val_loss" (best), "elapsed", "stopped_early", "weights", "config", ...}``.
    """
    import torch

    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield from _run(request, device, stop or threading.Event(), sample_every, nice)
    finally:
        if threads is not None:  # after the worker has joined: nothing of this run computes any more
            torch.set_num_threads(previous_threads)


def _run(
    request: TrainRequest, device: str, stop: threading.Event, sample_every: float, nice: int
) -> Iterator[dict[str, Any]]:
    from chargen.checkpoint import load_checkpoint
    from chargen.training.train import train

    closed = threading.Event()  # this stream was closed: end the run without touching the caller's flag
    with tempfile.TemporaryDirectory(prefix="chargen-train-") as work:
        corpus_path = Path(work) / "corpus.txt"
        corpus_path.write_text(request.text, encoding="utf-8")
        out = Path(work) / "model"
        config = train_config(request, corpus_path, out, device=device)
        events: queue.Queue[Any] = queue.Queue()
        outcome: dict[str, Any] = {}

        def on_step(progress: Any) -> bool:
            events.put(progress)
            return stop.is_set() or closed.is_set()

        def run() -> None:
            _lower_thread_priority(nice)
            try:
                outcome["result"] = train(config, callbacks=[on_step], progress_bar=False)
            except BaseException as exc:  # handed to the consumer, which raises it
                outcome["error"] = exc
            finally:
                events.put(None)

        worker = threading.Thread(target=run, name="chargen-session-training", daemon=True)
        worker.start()
        try:
            yield from _stream_progress(events, out, request, sample_every)
            worker.join()
            if "error" in outcome:
                error = outcome["error"]
                if isinstance(error, ChargenError):
                    raise error
                raise RuntimeError(f"training failed: {type(error).__name__}: {error}") from error
            result = outcome["result"]
            best = load_checkpoint(out)
            per_char = result.chars_per_token  # 1 for a character model
            yield {
                "kind": "done",
                "step": result.step,
                "val_loss": _finite_or_none(result.best_val_loss / per_char),
                "last_val_loss": _finite_or_none(result.last_val_loss / per_char),
                "elapsed": round(result.elapsed, 2),
                "seconds": request.seconds,
                "stopped_early": result.stopped_early,
                "cell": request.cell,
                "size": request.size,
                "unit": request.unit,
                "chars": len(request.text),
                "weights": cpu_weights(best),
                "config": best.config.to_dict(),
            }
        finally:
            closed.set()  # a closed generator (Stop, a lost connection) ends the run at its next step
            worker.join()


def _lower_thread_priority(nice: int) -> None:
    # On Linux a thread id given to setpriority changes that thread only: the trainer yields the CPU
    # to request handlers without slowing anything else in the process.
    if nice <= 0 or not hasattr(os, "setpriority"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
    except OSError:
        pass


def _stream_progress(
    events: queue.Queue[Any], out: Path, request: TrainRequest, sample_every: float
) -> Iterator[dict[str, Any]]:
    # Train points: the mean loss over every `stride` steps; val points: each evaluation.
    from chargen.checkpoint import load_checkpoint

    stride = max(1, PRESETS[request.size].eval_every // 5)
    window: list[float] = []
    train_points: list[list[float]] = []
    val_points: list[list[float]] = []
    best_val = math.inf
    last_sample_at = -math.inf
    pending_sample, best_step = True, 0  # the first sample: the untrained weights train() saves at step 0
    last_yield = time.monotonic()
    step = 0
    elapsed = 0.0
    # A word model's losses are per token: divided by this they are per character (found at the
    # first report, when train() has logged its step-0 evaluation).
    chars_per_token = 1.0 if request.unit == "char" else None
    while True:
        try:
            progress = events.get(timeout=0.5)
        except queue.Empty:
            progress = "tick"
        if progress is None:
            return
        weights = sample = config = None
        if progress != "tick":
            if chars_per_token is None:
                chars_per_token = _chars_per_token(out, request)
            step, elapsed = progress.step, progress.elapsed
            window.append(progress.train_loss / chars_per_token)
            if len(window) >= stride:
                train_points.append([step, sum(window) / len(window)])
                window = []
            if progress.val_loss is not None and math.isfinite(progress.val_loss):
                val_loss = progress.val_loss / chars_per_token
                val_points.append([step, val_loss])
                if val_loss < best_val:
                    best_val, best_step = val_loss, step
                    pending_sample = True
        now = time.monotonic()
        if pending_sample and now - last_sample_at >= sample_every:
            try:
                best = load_checkpoint(out)  # written atomically by train() at each improvement
            except CheckpointError:
                best = None  # not written yet
            if best_step == 0 and step >= PRESETS[request.size].eval_every:
                best, pending_sample = None, False  # missed the step-0 weights; the next improvement shows
            if best is not None:
                weights, config = cpu_weights(best), best.config.to_dict()
                sample = f"step {best_step}: {sample_text(best, seed=best_step)}"
                last_sample_at, pending_sample = now, False
        if train_points or val_points or weights is not None or now - last_yield >= 1.0:
            yield {
                "kind": "training",
                "step": step,
                "elapsed": round(elapsed, 2),
                "seconds": request.seconds,
                "cell": request.cell,
                "unit": request.unit,
                "train": train_points,
                "val": val_points,
                "sample": sample,
                "weights": weights,
                "config": config,
            }
            train_points, val_points = [], []
            last_yield = now


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _chars_per_token(out: Path, request: TrainRequest) -> float:
    """Characters per token of a word run's validation text, from the step-0 row ``train()`` logs
    (``val_loss`` per token, ``val_nats_per_char``); the whole text's ratio when nothing was held out.

    Training losses are converted with it too: the windows are drawn from the same text, so their
    characters per token differ from the validation blocks' by sampling only.
    """
    import json

    from chargen.checkpoint import load_checkpoint
    from chargen.training.train import LOG_NAME

    try:
        with open(out / LOG_NAME, encoding="utf-8") as log:
            first = json.loads(log.readline())
        per_token, per_char = first.get("val_loss"), first.get("val_nats_per_char")
        if per_token and per_char:
            return per_token / per_char
    except (OSError, ValueError):
        pass
    ids = load_checkpoint(out).vocab.encode(request.text)  # train() saved its step-0 weights
    return len(request.text) / max(1, len(ids))


__all__ = [
    "EVAL_CHARS",
    "SAMPLE_EVERY_S",
    "SAMPLE_LENGTH",
    "SAMPLE_TEMPERATURE",
    "TRAINING_NICENESS",
    "cpu_weights",
    "model_from_weights",
    "sample_prompt",
    "sample_text",
    "train_config",
    "train_stream",
]
