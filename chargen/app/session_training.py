"""Training a model inside the app for one visitor: checked input, presets, a streamed run, session models.

The run itself is :func:`chargen.training.train.train` on a worker thread; :func:`train_stream` turns its
callbacks into a stream of plain, picklable update dicts (loss points, a sample every few seconds,
the best weights as CPU tensors whenever they improve), so the same generator works in this
process or in the forked process that ZeroGPU's ``@spaces.GPU`` runs a function in.
:class:`TrainingQueue` lets one training run at a time per server and tells the others their place;
:class:`SessionStore` keeps each session's models in a temporary folder of its own, never shown to
another session, and removes it when the session ends or has been idle too long.
"""

from __future__ import annotations

import math
import os
import queue
import re
import shutil
import tempfile
import threading
import time
import uuid
import zipfile
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from chargen.checkpoint import CONFIG_NAME, WEIGHTS_NAME, build_model, load_checkpoint, save_checkpoint
from chargen.errors import ChargenError, CheckpointError, ConfigError, CorpusError
from chargen.model import CELLS, CharRNN, ModelConfig
from chargen.vocab import DEFAULT_WORD_VOCAB_SIZE, WORD_PATTERN

MIN_CHARS = 10_000
"""Fewer characters than this hold too little to learn from and to validate on."""
MAX_BYTES = 5 * 1024 * 1024
"""The largest text accepted, in UTF-8 bytes."""
MAX_VOCAB = 1000
"""More distinct characters than this is not a text a character model can learn in minutes."""
UNITS = {"characters": "char", "words": "word"}
"""What a step of the model reads and writes, as the tab names it -> :data:`chargen.vocab.UNITS`."""
DEFAULT_TAB_VOCAB_SIZE = DEFAULT_WORD_VOCAB_SIZE
"""Tokens of a word model trained in the tab when no size is given: the command line's default. A
smaller list (cheaper output layer, fewer rarely seen words) looked like the better fit for the
tab's small texts and budgets, but measured it was not: the small GRU, one thread, 120 s on the
first 200,000 characters of Tiny Shakespeare reached 1.531 nats/char with 1,000 tokens and 1.430
with 4,000 (characters: 1.492); 60 s on the first 20,000, 1.678 and 1.619 (characters: 2.110).
Each step reads more text with the longer list (2.25 vs 1.69 characters per token), which pays for
its slower steps (``benchmarks/bench_tab_vocab.py``, on a shared 2-core machine, niced, 2026-11-28)."""
MAX_TAB_VOCAB_SIZE = DEFAULT_WORD_VOCAB_SIZE
"""The largest word vocabulary the tab trains (the command line's default)."""
MIN_SECONDS = 15
DEFAULT_SECONDS = 180
DEFAULT_MAX_SECONDS = 300
MAX_SECONDS_ENV = "CHARGEN_TRAIN_MAX_SECONDS"
"""The server's largest time budget in seconds (default 300)."""
TRAINING_NICENESS = 10
"""How much the training thread's OS priority is lowered: generation for other visitors comes first."""
SAMPLE_EVERY_S = 3.0
"""A new sample of the current best weights at most this often."""
SAMPLE_LENGTH = 160
SAMPLE_TEMPERATURE = 0.8
EVAL_CHARS = 8_000
"""Validation characters scored at each evaluation (16 blocks of up to 500): a steady figure, and quick on
one thread, since evaluation time counts against the visitor's budget."""
SESSION_PREFIX = "session:"
MAX_SESSION_MODELS = 6
"""Models one session keeps; adding another drops its oldest (a compare run adds three)."""
MAX_SESSION_BYTES = 128 * 1024 * 1024
"""Weights one session keeps in memory (and about as much on disk); adding more drops its oldest models."""
SESSION_TTL_S = 2 * 3600
"""A session untouched this long is ended and its folder removed."""
MAX_ZIP_BYTES = 64 * 1024 * 1024
"""The largest model zip accepted back, compressed or not."""
ZIP_MEMBERS = (CONFIG_NAME, WEIGHTS_NAME)

# Anonymous ZeroGPU visitors get 120 s of GPU a day and each call is charged ~1.5x its duration up front.
ZERO_GPU_DAILY_QUOTA_S = 120
ZERO_GPU_CHARGE_FACTOR = 1.5
ZERO_GPU_OVERHEAD_S = 10
"""Seconds a GPU call asks for beyond the training budget: the fork, moving the model, the last save."""


@dataclass(frozen=True)
class Preset:
    """A model size and the recipe that trains it in minutes on a CPU."""

    name: str
    embedding_size: int
    hidden_size: int
    num_layers: int
    dropout: float
    seq_len: int
    batch_size: int
    lr: float
    eval_every: int
    warmup_steps: int


PRESETS = {
    # ~30-90k weights: hundreds of steps a minute on one CPU thread, words within a minute. 30 s on 200k
    # characters of Shakespeare (one CPU thread on a busy core) reached val 1.73 / 1.76 / 1.70 (gru / lstm / rnn)
    # at lr 2e-2, 1.78 / 1.78 / 1.71 at 1e-2 and 2.18 (gru) at 3e-3.
    "small": Preset("small", 32, 128, 1, 0.0, 64, 32, 2e-2, 25, 20),
    # ~0.1-0.35M weights: ~3x slower steps, better text given a few minutes. (2 x 256 with 100-character
    # windows made 11 steps in 30 s on a CPU core shared with other jobs: too slow for a visitor's budget.)
    "medium": Preset("medium", 64, 256, 1, 0.0, 64, 32, 5e-3, 25, 30),
}
SIZES = tuple(PRESETS)


@dataclass(frozen=True)
class TrainRequest:
    """One checked training request."""

    text: str
    cell: str
    size: str
    seconds: float
    unit: str = "char"
    vocab_size: int | None = None
    """Tokens of a word model (single characters included); None for a character model."""


def max_seconds_from_env(default: float = DEFAULT_MAX_SECONDS) -> float:
    """The server's largest time budget: ``CHARGEN_TRAIN_MAX_SECONDS`` if set, else ``default``."""
    raw = os.environ.get(MAX_SECONDS_ENV, "").strip()
    if not raw:
        return float(default)
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{MAX_SECONDS_ENV} must be a number of seconds, got {raw!r}") from None
    if not math.isfinite(value) or value < MIN_SECONDS:
        raise ConfigError(f"{MAX_SECONDS_ENV} must be at least {MIN_SECONDS}, got {raw!r}")
    return value


def check_text(data: Any) -> str:
    """A training text from pasted text or uploaded bytes, or a one-line :class:`CorpusError` saying why not."""
    if isinstance(data, (bytes, bytearray)):
        if len(data) > MAX_BYTES:
            raise CorpusError(f"the text is {_mb(len(data))}; the most accepted is {_mb(MAX_BYTES)}")
        if b"\x00" in data:
            raise CorpusError("this looks like a binary file (it contains NUL bytes); upload a UTF-8 .txt file")
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CorpusError(
                f"the file is not UTF-8 text (invalid byte at offset {exc.start}); save it as UTF-8 and try again"
            ) from None
        data = data.removeprefix("\ufeff")  # a byte order mark is not part of the text
    if not isinstance(data, str):
        raise CorpusError(f"the text must be a string, got {type(data).__name__}")
    size = len(data.encode("utf-8", errors="surrogatepass"))
    if size > MAX_BYTES:
        raise CorpusError(f"the text is {_mb(size)}; the most accepted is {_mb(MAX_BYTES)}")
    if "\x00" in data:
        raise CorpusError("the text contains NUL characters: it looks like binary data, not text")
    if any("\ud800" <= ch <= "\udfff" for ch in data):
        raise CorpusError("the text contains unpaired surrogate characters: it is not valid Unicode text")
    if len(data) < MIN_CHARS:
        raise CorpusError(f"the text has {len(data):,} characters; training needs at least {MIN_CHARS:,}")
    distinct = len(set(data))
    if distinct < 2:
        raise CorpusError("the text repeats a single character; a model needs at least two distinct characters")
    if distinct > MAX_VOCAB:
        raise CorpusError(f"the text uses {distinct:,} distinct characters; the most allowed is {MAX_VOCAB:,}")
    return data


def read_upload(path: str | Path) -> str:
    """The checked text of an uploaded file (``.txt``, UTF-8), never reading more than the limit allows."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise CorpusError(f"the file is {_mb(size)}; the most accepted is {_mb(MAX_BYTES)}")
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise CorpusError(f"the uploaded file cannot be read ({exc.strerror or exc})") from None
    return check_text(raw)


def check_cell(cell: Any) -> str:
    """``"rnn"``, ``"lstm"`` or ``"gru"`` (any case)."""
    value = cell.strip().lower() if isinstance(cell, str) else cell
    if value not in CELLS:
        raise ConfigError(f"cell must be one of {', '.join(CELLS)}, got {_short(cell)}")
    return value


def check_size(size: Any) -> str:
    """A preset name: ``"small"`` or ``"medium"``."""
    value = size.strip().lower() if isinstance(size, str) else size
    if value not in PRESETS:
        raise ConfigError(f"size must be one of {', '.join(PRESETS)}, got {_short(size)}")
    return value


def check_seconds(seconds: Any, max_seconds: float, min_seconds: float = MIN_SECONDS) -> float:
    """A time budget in seconds between ``min_seconds`` (default :data:`MIN_SECONDS`) and ``max_seconds``."""
    allowed = f"a number of seconds from {min_seconds:g} to {max_seconds:g}"
    if isinstance(seconds, bool):
        raise ConfigError(f"seconds must be {allowed}, got {seconds!r}")
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        raise ConfigError(f"seconds must be {allowed}, got {_short(seconds)}") from None
    if not math.isfinite(value) or not min_seconds <= value <= max_seconds:
        raise ConfigError(f"seconds must be {allowed}, got {_short(seconds)}")
    return value


def check_unit(unit: Any) -> str:
    """``"char"`` or ``"word"``, from those or the tab's ``"characters"`` / ``"words"`` (any case; blank = char)."""
    value = unit.strip().lower() if isinstance(unit, str) else unit
    if value in (None, ""):
        return "char"
    if value in UNITS:
        return UNITS[value]
    if value in UNITS.values():
        return value
    raise ConfigError(f"unit must be one of {', '.join(UNITS)}, got {_short(unit)}")


def check_vocab_size(vocab_size: Any, text: str, unit: str) -> int | None:
    """A word model's vocabulary size for ``text``: a whole number from the text's count of distinct
    characters (each needs its own token) to :data:`MAX_TAB_VOCAB_SIZE`; blank = :data:`DEFAULT_TAB_VOCAB_SIZE`
    (raised to the character count). None for a character model, whose tokens are its characters.

    Also refuses a text with no words for a word model (a :class:`CorpusError`), before any training starts.
    """
    if unit != "word":
        return None
    distinct = len(set(text))
    if not WORD_PATTERN.search(text):
        raise CorpusError(
            "the text has no words (runs of letters, digits or apostrophes): train it with characters instead"
        )
    if vocab_size in (None, ""):
        return max(DEFAULT_TAB_VOCAB_SIZE, distinct)
    # check_text allows at most MAX_VOCAB distinct characters, fewer than MAX_TAB_VOCAB_SIZE: the range is never empty.
    allowed = (
        f"a whole number from {distinct:,} (the text's distinct characters: each has its own token) "
        f"to {MAX_TAB_VOCAB_SIZE:,}"
    )
    try:
        value = float(vocab_size) if not isinstance(vocab_size, bool) else math.nan
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value != int(value) or not distinct <= value <= MAX_TAB_VOCAB_SIZE:
        raise ConfigError(f"vocabulary size must be {allowed}, got {_short(vocab_size)}")
    return int(value)


def parse_train_request(
    text: Any,
    cell: Any,
    seconds: Any,
    size: Any,
    max_seconds: float,
    min_seconds: float = MIN_SECONDS,
    unit: Any = "char",
    vocab_size: Any = None,
) -> TrainRequest:
    """Check every input of a training request as it comes from the page or the API."""
    checked_text = check_text(text)
    checked_unit = check_unit(unit)
    return TrainRequest(
        text=checked_text,
        cell=check_cell(cell),
        size=check_size(size if size not in (None, "") else "small"),
        seconds=check_seconds(seconds, max_seconds, min_seconds),
        unit=checked_unit,
        vocab_size=check_vocab_size(vocab_size, checked_text, checked_unit),
    )


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
    return {k: v.detach().to("cpu", torch.float32).clone().contiguous() for k, v in model.state_dict().items()}


def model_from_weights(config: dict[str, Any], weights: dict[str, torch.Tensor]) -> CharRNN:
    """Rebuild a model (eval mode, CPU) from an update's ``config`` and ``weights``."""
    return build_model(ModelConfig.from_dict(config), weights, "trained weights")


def train_stream(
    text: str,
    cell: str = "gru",
    seconds: float = DEFAULT_SECONDS,
    size: str = "small",
    *,
    max_seconds: float | None = None,
    min_seconds: float = MIN_SECONDS,
    device: str = "cpu",
    stop: threading.Event | None = None,
    sample_every: float = SAMPLE_EVERY_S,
    threads: int | None = 1,
    nice: int = TRAINING_NICENESS,
    unit: str = "char",
    vocab_size: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Train a model on ``text`` with :func:`chargen.training.train.train` and stream what happens.

    ``unit="word"`` trains a word model of ``vocab_size`` tokens (default :data:`DEFAULT_TAB_VOCAB_SIZE`);
    its losses are streamed in nats per character all the same (a word model's per-token losses
    divided by the validation text's characters per token, as ``chargen train`` logs
    ``val_nats_per_char``), so curves of both kinds compare.

    Yields dicts (plain data and CPU tensors only, so they cross a process boundary):
    ``{"kind": "training", "step", "elapsed", "seconds", "train": [[step, loss], ...] (new points),
    "val": [[step, loss], ...] (new points), "sample": "step 100: ..." or None, "weights": best CPU
    weights when they improved or None, "config": the model config}``, and last
    ``{"kind": "done", "step", "val_loss" (best), "elapsed", "stopped_early", "weights", "config", ...}``.
    Setting ``stop`` (or closing the generator) ends the run at the next step; the best weights so
    far are the model. Training runs on a worker thread with ``threads`` torch threads (a process-wide
    setting; None leaves it alone), its OS priority lowered by ``nice`` so the server's other work
    (visitors generating) comes first.
    """
    from chargen.training.train import train

    request = parse_train_request(
        text,
        cell,
        seconds,
        size,
        max_seconds or max(seconds, min_seconds),
        min_seconds=min_seconds,
        unit=unit,
        vocab_size=vocab_size,
    )
    stop = stop or threading.Event()
    closed = threading.Event()  # this stream was closed: end the run without touching the caller's flag
    if threads is not None:
        torch.set_num_threads(threads)
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


@dataclass
class RunHistory:
    """Everything a run streamed, gathered in the server process: curves, samples and the best weights."""

    cell: str = ""
    size: str = ""
    unit: str = "char"
    train: list[list[float]] = field(default_factory=list)
    val: list[list[float]] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)
    step: int = 0
    elapsed: float = 0.0
    seconds: float = 0.0
    config: dict[str, Any] | None = None
    weights: dict[str, torch.Tensor] | None = None
    done: dict[str, Any] | None = None

    def apply(self, update: dict[str, Any]) -> None:
        """Fold one update of :func:`train_stream` into the history."""
        if update.get("kind") not in ("training", "done"):
            return
        self.cell = update.get("cell", self.cell)
        self.unit = update.get("unit", self.unit)
        self.step = update.get("step", self.step)
        self.elapsed = update.get("elapsed", self.elapsed)
        self.seconds = update.get("seconds", self.seconds)
        self.train.extend(update.get("train") or [])
        self.val.extend(update.get("val") or [])
        if update.get("sample"):
            self.samples.append(update["sample"])
        if update.get("weights") is not None:
            self.weights, self.config = update["weights"], update["config"]
        if update["kind"] == "done":
            self.size = update.get("size", self.size)
            self.done = {k: v for k, v in update.items() if k not in ("weights", "config")}

    @property
    def best_val(self) -> float | None:
        """The lowest validation loss seen (nats per character, word models' too); None before the first evaluation."""
        values = [v for _, v in self.val]
        return min(values) if values else None

    def model(self) -> CharRNN | None:
        """The best model so far, or None when no weights have arrived yet."""
        if self.weights is None or self.config is None:
            return None
        return model_from_weights(self.config, self.weights)

    def log_rows(self) -> list[dict[str, Any]]:
        """Rows in ``chargen.training.train``'s log format, for :func:`chargen.training.train.plot_losses`."""
        rows = [{"step": s, "train_loss": v, "val_loss": None} for s, v in self.train]
        rows += [{"step": s, "train_loss": None, "val_loss": v} for s, v in self.val]
        return sorted(rows, key=lambda r: r["step"])


class TrainingQueue:
    """One training at a time per server; the others wait in order and can read their place."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._tickets: deque[object] = deque()  # the first holds the trainer

    def join(self) -> object:
        """Take a place at the end of the line; returns the ticket."""
        ticket = object()
        with self._condition:
            self._tickets.append(ticket)
        return ticket

    def place(self, ticket: object) -> int:
        """0 while ``ticket`` trains, else how many are ahead of it (1 = next)."""
        with self._condition:
            return self._tickets.index(ticket) if ticket in self._tickets else -1

    def wait(self, ticket: object, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for ``ticket``'s turn; True when it is."""
        with self._condition:
            return self._condition.wait_for(lambda: self._tickets and self._tickets[0] is ticket, timeout)

    def leave(self, ticket: object) -> None:
        """Give up the place (or the turn) of ``ticket``."""
        with self._condition:
            if ticket in self._tickets:
                self._tickets.remove(ticket)
            self._condition.notify_all()

    def __len__(self) -> int:
        with self._condition:
            return len(self._tickets)


def queued_stream(
    training_queue: TrainingQueue,
    runs: Callable[[], Iterator[dict[str, Any]]],
    stop: threading.Event | None = None,
    poll: float = 1.0,
) -> Iterator[dict[str, Any]]:
    """Wait for this server's training slot, yielding ``{"kind": "queued", "place": n}``, then run ``runs()``."""
    ticket = training_queue.join()
    try:
        while not training_queue.wait(ticket, poll):
            if stop is not None and stop.is_set():
                return
            yield {"kind": "queued", "place": training_queue.place(ticket)}
        yield from runs()
    finally:
        training_queue.leave(ticket)


# --- ZeroGPU ---------------------------------------------------------------------------------


def zero_gpu_enabled() -> bool:
    """True on a ZeroGPU Space: ``SPACES_ZERO_GPU`` is true and the ``spaces`` package imports."""
    if os.environ.get("SPACES_ZERO_GPU", "").strip().lower() not in {"1", "true", "yes", "on"}:
        return False
    try:
        import spaces  # noqa: F401
    except ImportError:
        return False
    return True


def zero_gpu_duration(seconds: float) -> int:
    """The duration a GPU call asks for: the budget plus the fork, the move to the GPU and the last save."""
    return int(math.ceil(seconds + ZERO_GPU_OVERHEAD_S))


def zero_gpu_cost(seconds: float, runs: int = 1) -> float:
    """Seconds of a visitor's daily ZeroGPU quota charged up front for ``runs`` trainings of ``seconds``."""
    return runs * zero_gpu_duration(seconds) * ZERO_GPU_CHARGE_FACTOR


def zero_gpu_max_seconds(quota_s: float = ZERO_GPU_DAILY_QUOTA_S, runs: int = 1) -> int:
    """The largest budget an anonymous visitor's whole daily quota pays for (``runs`` trainings)."""
    return max(0, int(quota_s / ZERO_GPU_CHARGE_FACTOR / runs - ZERO_GPU_OVERHEAD_S))


def zero_gpu_refusal(exc: BaseException) -> str | None:
    """A clear message when ``exc`` is ZeroGPU refusing a call (quota, duration, queue), else None.

    The ``spaces`` package raises ``gr.Error`` with a title such as "ZeroGPU quota exceeded" or
    "ZeroGPU illegal duration" (spaces/zero/client.py, ``schedule``) before anything runs.
    """
    title = str(getattr(exc, "title", "") or "")
    if not title.startswith("ZeroGPU"):
        return None
    detail = str(getattr(exc, "message", "") or exc)
    return (
        f"The GPU refused this training ({title}: {detail}). Nothing was charged for it: choose a shorter "
        "budget, log in with Hugging Face for more daily GPU time, or try again later."
    )


def gpu_train_stream(
    text: str,
    cell: str,
    seconds: float,
    size: str,
    max_seconds: float,
    min_seconds: float = MIN_SECONDS,
    unit: str = "char",
    vocab_size: int | None = None,
) -> Iterator[dict[str, Any]]:
    """:func:`train_stream` on the GPU, for ``@spaces.GPU``: all state comes in as arguments and goes
    out as yielded plain data and CPU tensors (the call runs in a forked process). Without a GPU
    (``spaces`` off ZeroGPU returns the function unchanged) it trains on the CPU."""
    yield from train_stream(
        text,
        cell,
        seconds,
        size,
        max_seconds=max_seconds,
        min_seconds=min_seconds,
        device="cuda" if torch.cuda.is_available() else "cpu",
        stop=None,
        threads=None,
        unit=unit,
        vocab_size=vocab_size,
    )


def zero_gpu_train_stream() -> Callable[..., Iterator[dict[str, Any]]]:
    """:func:`gpu_train_stream` under ``spaces.GPU`` with a duration of the budget plus the overhead.

    Checked by reading spaces 0.51.3 (spaces/zero/decorator.py, wrappers.py), not run here: a
    generator function is run in a forked worker, each yielded value pickled back; closing the
    stream in the parent (Stop) sets the worker's stop event and closes the generator there.
    """
    from chargen.hosting.zerogpu import gpu

    return gpu(duration=gpu_call_duration)(gpu_train_stream)


def gpu_call_duration(text: str, cell: str, seconds: float, *rest: Any, **options: Any) -> int:
    """The GPU seconds a :func:`gpu_train_stream` call asks for; ``spaces`` calls it with the call's
    arguments (only the budget, ``seconds``, counts)."""
    return zero_gpu_duration(float(seconds))


# --- Session models --------------------------------------------------------------------------


@dataclass
class SessionModel:
    """A model that belongs to one session, with the folder that holds its files."""

    name: str
    model: CharRNN
    folder: Path
    label: str
    history: RunHistory | None = None


@dataclass
class _Session:
    folder: Path
    models: dict[str, SessionModel] = field(default_factory=dict)
    last_used: float = field(default_factory=time.monotonic)
    stop: threading.Event = field(default_factory=threading.Event)


class SessionStore:
    """Every session's own models, each session in its own temporary folder.

    A session is named by gradio's session hash. Models are looked up by (session, name): a name
    from another session is refused exactly like a name that never existed. A session's folder is
    removed by :meth:`end` (the page was closed) or by :meth:`sweep` after ``ttl_s`` idle seconds.
    """

    def __init__(
        self,
        root: str | Path | None = None,
        max_models: int = MAX_SESSION_MODELS,
        ttl_s: float = SESSION_TTL_S,
        max_bytes: int = MAX_SESSION_BYTES,
    ) -> None:
        if root is not None:
            Path(root).mkdir(parents=True, exist_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix="chargen-sessions-", dir=root))
        self.max_models = max_models
        self.max_bytes = max_bytes
        self.ttl_s = ttl_s
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.RLock()
        self._closed = threading.Event()

    def start_sweeper(self, interval_s: float = 60.0) -> threading.Thread:
        """Sweep idle sessions every ``interval_s`` seconds on a daemon thread until :meth:`close`
        (without it, sessions are swept only when some session is used)."""

        def sweep_until_closed() -> None:
            while not self._closed.wait(interval_s):
                self.sweep()

        thread = threading.Thread(target=sweep_until_closed, name="chargen-session-sweeper", daemon=True)
        thread.start()
        return thread

    def _session(self, session: str) -> _Session:
        if not isinstance(session, str) or not session:
            raise ConfigError("no session: session models need a browser or gradio_client session")
        with self._lock:
            self.sweep()
            entry = self._sessions.get(session)
            if entry is None:
                folder = Path(tempfile.mkdtemp(prefix="s-", dir=self.root))
                entry = self._sessions[session] = _Session(folder)
            entry.last_used = time.monotonic()
            return entry

    def stop_event(self, session: str) -> threading.Event:
        """A fresh stop flag for a new run of ``session`` (the Stop button sets it)."""
        entry = self._session(session)
        entry.stop = threading.Event()
        return entry.stop

    def request_stop(self, session: str) -> None:
        """Ask the session's running training to stop; its best model so far is kept."""
        with self._lock:
            entry = self._sessions.get(session)
            if entry is not None:
                entry.stop.set()

    def add(self, session: str, model: CharRNN, label: str, history: RunHistory | None = None) -> SessionModel:
        """Keep ``model`` for ``session``: saved with its card and loss curve to the session's folder."""
        entry = self._session(session)
        name = f"{SESSION_PREFIX}{_slug(label)}-{uuid.uuid4().hex[:8]}"
        folder = entry.folder / name.removeprefix(SESSION_PREFIX)
        save_checkpoint(model, folder)
        if history is not None:
            write_card(folder, model, history, label)
        model.eval()
        kept = SessionModel(name, model, folder, label, history)
        with self._lock:
            entry.models[name] = kept
            while len(entry.models) > self.max_models or (
                len(entry.models) > 1 and sum(_weight_bytes(m.model) for m in entry.models.values()) > self.max_bytes
            ):
                oldest = next(iter(entry.models))
                dropped = entry.models.pop(oldest)
                shutil.rmtree(dropped.folder, ignore_errors=True)
                dropped.folder.with_suffix(".zip").unlink(missing_ok=True)
        return kept

    def get(self, session: str | None, name: str) -> SessionModel:
        """The model ``name`` of ``session``; any other session's name is unknown here."""
        with self._lock:
            entry = self._sessions.get(session or "")
            found = entry.models.get(name) if entry is not None else None
            if found is None:
                raise ConfigError(
                    f"model {_short(name)} is not one of this session's models (session models are only "
                    "usable by the browser tab or client session that trained or uploaded them)"
                )
            entry.last_used = time.monotonic()
            return found

    def names(self, session: str | None) -> list[str]:
        """The session's model names, oldest first."""
        with self._lock:
            entry = self._sessions.get(session or "")
            return list(entry.models) if entry is not None else []

    def choices(self, session: str | None) -> list[tuple[str, str]]:
        """(label, name) pairs for a model picker."""
        with self._lock:
            entry = self._sessions.get(session or "")
            return [(m.label, m.name) for m in entry.models.values()] if entry is not None else []

    def zip(self, session: str, name: str) -> Path:
        """A zip of the model's folder (config.json, model.safetensors, README.md, loss.png)."""
        found = self.get(session, name)
        target = found.folder.parent / f"{found.folder.name}.zip"
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for file_name in (CONFIG_NAME, WEIGHTS_NAME, "README.md", "loss.png"):
                path = found.folder / file_name
                if path.is_file():
                    archive.write(path, file_name)
        return target

    def load_zip(self, session: str, path: str | Path) -> SessionModel:
        """Check a zip made by :meth:`zip`, load it with :func:`chargen.load_model` and keep it for ``session``."""
        from chargen.hub import load_model

        path = Path(path)
        entry = self._session(session)
        folder = Path(tempfile.mkdtemp(prefix="upload-", dir=entry.folder))
        try:
            _extract_model_zip(path, folder)
            model = load_model(folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        shutil.rmtree(folder, ignore_errors=True)
        kind = f"{model.cell} words" if model.unit == "word" else model.cell
        label = f"uploaded {kind} {path.stem[:40]}"
        return self.add(session, model, label)

    def end(self, session: str | None) -> None:
        """Forget ``session`` and remove its folder."""
        with self._lock:
            entry = self._sessions.pop(session or "", None)
        if entry is not None:
            entry.stop.set()
            shutil.rmtree(entry.folder, ignore_errors=True)

    def sweep(self, now: float | None = None) -> list[str]:
        """End every session idle for more than ``ttl_s``; returns the ended sessions."""
        now = time.monotonic() if now is None else now
        with self._lock:
            expired = [s for s, e in self._sessions.items() if now - e.last_used > self.ttl_s]
        for session in expired:
            self.end(session)
        return expired

    def disk_bytes(self, session: str) -> int:
        """Bytes the session's folder holds."""
        with self._lock:
            entry = self._sessions.get(session)
        if entry is None:
            return 0
        return sum(p.stat().st_size for p in entry.folder.rglob("*") if p.is_file())

    def close(self) -> None:
        """End every session and remove the store's folder."""
        self._closed.set()
        with self._lock:
            sessions = list(self._sessions)
        for session in sessions:
            self.end(session)
        shutil.rmtree(self.root, ignore_errors=True)


def _weight_bytes(model: CharRNN) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def _extract_model_zip(path: Path, folder: Path) -> None:
    try:
        if path.stat().st_size > MAX_ZIP_BYTES:
            raise CheckpointError(f"the zip is {_mb(path.stat().st_size)}; the most accepted is {_mb(MAX_ZIP_BYTES)}")
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"not a zip file ({exc})") from None
    with archive:
        members = {Path(info.filename).name: info for info in archive.infolist() if not info.is_dir()}
        missing = [name for name in ZIP_MEMBERS if name not in members]
        if missing:
            raise CheckpointError(
                f"the zip holds no {' or '.join(missing)}; upload a zip downloaded from this tab "
                f"({', '.join(ZIP_MEMBERS)})"
            )
        if sum(members[name].file_size for name in ZIP_MEMBERS) > MAX_ZIP_BYTES:
            raise CheckpointError(f"the model in the zip is larger than {_mb(MAX_ZIP_BYTES)} unpacked")
        for name in ZIP_MEMBERS:  # only these two, by their base names: nothing else is written
            with archive.open(members[name]) as src, open(folder / name, "wb") as dst:
                shutil.copyfileobj(src, dst, length=1 << 20)


# --- Model card ------------------------------------------------------------------------------


def write_card(folder: Path, model: CharRNN, history: RunHistory, label: str) -> None:
    """Write ``README.md`` (a model card with the run's figures and samples) and ``loss.png`` to ``folder``."""
    from chargen.training.train import plot_losses

    rows = history.log_rows()
    if rows:
        plot_losses(rows, folder / "loss.png")
    done = history.done or {}
    best = history.best_val
    shape = f"{model.config.num_layers} x {model.config.hidden_size}, embedding {model.config.embedding_size}"
    best_text = f"{best:.3f}" if best is not None else "none"
    samples = "\n".join(f"- {_card_sample(s)}" for s in history.samples[-6:]) or "- (no sample was taken)"
    words = model.unit == "word"
    level = "word" if words else "character"
    held_out = "5% of the text held out as blocks" + ("; nats per token / characters per token" if words else "")
    vocabulary = (
        f"{len(model.vocab):,} tokens: words and whitespace runs, and all {len(model.vocab.chars)} characters"
        if words
        else f"{len(model.vocab)} characters"
    )
    text = f"""---
library_name: chargen
tags:
  - char-rnn
  - {model.cell}
  - text-generation
pipeline_tag: text-generation
---

# {label} (chargen)

A {level}-level {model.cell.upper()} trained in the chargen app on a visitor's own text.

| | |
|---|---|
| cell | {model.cell} ({shape}) |
| weights | {model.num_parameters():,} |
| vocabulary | {vocabulary} |
| training text | {done.get("chars", "?")} characters |
| steps | {history.step} in {history.elapsed:.0f} s{" (stopped early)" if done.get("stopped_early") else ""} |
| best validation loss | {best_text} nats/char ({held_out}) |

![loss curve](loss.png)

## Samples during training

{samples}

## Use it

```python
import chargen

model = chargen.load_model("path/to/this/folder")  # or "user/repo" once pushed to the Hub
print(chargen.generate(model, "\\n", 300, temperature=0.8).text)
```
"""
    (folder / "README.md").write_text(text, encoding="utf-8")


def _card_sample(sample: str) -> str:
    return "`" + sample.replace("`", "'").replace("\n", " / ")[:200] + "`"


def push_session_model(
    store: SessionStore, session: str, name: str, repo_id: str, token: str | None, endpoint: str | None = None
) -> str:
    """Push a session model (its folder: weights, config, card, curve) to the Hub repo ``repo_id``; returns its URL."""
    from chargen.hub import push_checkpoint

    found = store.get(session, name)
    token = token or os.environ.get("HF_TOKEN") or None
    if not token:
        raise ConfigError(
            "pushing needs a Hugging Face login: log in with the button, or set HF_TOKEN on a local server"
        )
    if not isinstance(repo_id, str) or not repo_id.strip():
        raise ConfigError("give the Hub repo to push to, as user/name")
    return push_checkpoint(found.folder, repo_id.strip(), token=token, endpoint=endpoint)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "model"


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


__all__ = [
    "PRESETS",
    "RunHistory",
    "SessionStore",
    "TrainRequest",
    "TrainingQueue",
    "check_text",
    "parse_train_request",
    "queued_stream",
    "read_upload",
    "train_stream",
]
