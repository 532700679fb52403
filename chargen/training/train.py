"""Training: random windows, AdamW, warmup + cosine schedule, periodic validation, resumable state.

The output folder holds the best model so far (``config.json`` + ``model.safetensors``, loadable
at any instant), ``train_state.safetensors`` (everything ``resume`` needs: weights, optimizer,
step, elapsed time, random number generators), ``log.jsonl`` (one line per evaluation) and,
at the end, ``loss.png``.
"""

from __future__ import annotations

import json
import math
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch.nn import functional as F

from chargen.atomic import remove_stale_temp_files, write_atomic, write_text_atomic
from chargen.checkpoint import read_weights_and_metadata, save_checkpoint
from chargen.errors import CheckpointError, ConfigError
from chargen.model import CharRNN, ModelConfig
from chargen.ngram import MAX_ORDER, MIN_ORDER, NGRAM_CELL, check_order
from chargen.training import distributed
from chargen.training.corpus_file import cache_dir_for, load_corpus
from chargen.training.data import VAL_SCHEMES, Corpus, parallel_streams
from chargen.training.evaluate import nll_of_rows
from chargen.vocab import check_unit

STATE_NAME = "train_state.safetensors"
LOG_NAME = "log.jsonl"
PLOT_NAME = "loss.png"
SCHEDULES = ("cosine", "linear", "constant")
DEFAULT_MAX_STEPS = 5000
"""A fresh run's budget when neither --max-steps nor --max-minutes is given (a resumed run keeps its own)."""
DEFAULT_DEVICE = "cpu"
LEGACY_VAL_FRACTION = 0.1  # the held-out tail of states saved before --val-scheme existed


@dataclass
class TrainConfig:
    """Every setting of a training run; the defaults suit a CPU and a corpus of about a megabyte.

    What they reach, and on which text (validation text of the corpus is not new text): README,
    "Train on your own text".
    """

    corpus: str
    out: str
    unit: str = "char"
    vocab_size: int | None = None  # word units only; None: DEFAULT_WORD_VOCAB_SIZE
    cell: str = "gru"
    embedding_size: int = 64
    hidden_size: int = 512
    num_layers: int = 2
    dropout: float = 0.1
    seq_len: int = 128
    batch_size: int = 32
    lr: float = 3e-3
    min_lr_ratio: float = 0.1
    schedule: str = "cosine"
    warmup_steps: int = 50
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    max_steps: int | None = None  # neither budget: DEFAULT_MAX_STEPS for a fresh run, the saved one on resume
    max_minutes: float | None = None
    eval_every: int = 100
    eval_chars: int = 200_000
    eval_streams: int = 16
    val_fraction: float = 0.05
    val_scheme: str = "blocks"
    val_gap: int | None = None
    seed: int = 1337
    device: str | None = None  # None: DEFAULT_DEVICE for a fresh run, the saved one on resume
    order: int | None = None  # cell "ngram" only: tokens per n-gram, 1..10 (chargen.training.ngram_train)

    def __post_init__(self) -> None:
        positive_ints = ("seq_len", "batch_size", "eval_every", "eval_chars", "eval_streams")
        for name in positive_ints + (("max_steps",) if self.max_steps is not None else ()):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name.replace('_', '-')} must be a positive integer, got {value!r}")
        for name in ("lr", "weight_decay", "grad_clip", "warmup_steps", "min_lr_ratio"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ConfigError(f"{name.replace('_', '-')} must be a non-negative number, got {value!r}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be positive, got {self.lr}")
        if self.min_lr_ratio > 1:
            raise ConfigError(f"min-lr-ratio must be between 0 and 1, got {self.min_lr_ratio}")
        if self.max_minutes is not None and not (0 < self.max_minutes < math.inf):
            raise ConfigError(f"max-minutes must be a positive number, got {self.max_minutes}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if not 0 <= self.val_fraction < 1:
            raise ConfigError(f"val-fraction must be at least 0 and below 1, got {self.val_fraction}")
        if self.val_scheme not in VAL_SCHEMES:
            raise ConfigError(f"val-scheme must be one of {', '.join(VAL_SCHEMES)}, got {self.val_scheme!r}")
        gap = self.val_gap
        if gap is not None and (isinstance(gap, bool) or not isinstance(gap, int) or gap < 0):
            raise ConfigError(f"val-gap must be a non-negative integer, got {self.val_gap!r}")
        device = self.device
        if device is not None and (not isinstance(device, str) or (device != "cpu" and not device.startswith("cuda"))):
            raise ConfigError(f"device must be cpu or cuda, got {device!r}")
        if device is not None and device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"device {device} was asked for but no CUDA GPU is available")
        check_unit(self.unit)
        size = self.vocab_size
        if size is not None and self.unit == "char":
            raise ConfigError("vocab-size applies to --unit word only (a character model's tokens are its characters)")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise ConfigError(f"vocab-size must be a positive integer, got {size!r}")
        if self.cell == NGRAM_CELL:
            if self.order is None:
                raise ConfigError(f"--cell ngram needs --order, an integer from {MIN_ORDER} to {MAX_ORDER}")
            check_order(self.order)
            return
        if self.order is not None:
            raise ConfigError(f"order applies to --cell ngram only, got --cell {self.cell}")
        # Validates cell, sizes and dropout with the model's own messages.
        self.model_config(["a"], "char")

    def model_config(self, vocab: list[str], unit: str | None = None) -> ModelConfig:
        """The model this run trains, over ``vocab`` (tokens of ``unit``, default the run's)."""
        return ModelConfig(
            vocab=vocab,
            unit=self.unit if unit is None else unit,
            cell=self.cell,
            embedding_size=self.embedding_size,
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            dropout=self.dropout,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Rebuild a config saved in a training state, ignoring keys this version doesn't know.

        A state saved before validation schemes existed held out the corpus's last
        ``val_fraction`` (then 0.1 by default): it keeps that split, so a resumed run trains
        on the same text and its validation figures stay comparable with the ones it logged.
        """
        known = {f.name for f in fields(cls)}
        given = {k: v for k, v in data.items() if k in known}
        if "val_scheme" not in given:
            given = {"val_fraction": LEGACY_VAL_FRACTION, **given, "val_scheme": "tail"}
        return cls(**given)


def learning_rate(config: TrainConfig, step: int, progress: float) -> float:
    """The learning rate at ``step``: linear warmup, then the schedule over ``progress`` in [0, 1]."""
    if config.warmup_steps and step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    floor = config.lr * config.min_lr_ratio
    progress = min(max(progress, 0.0), 1.0)
    if config.schedule == "cosine":
        return floor + (config.lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    if config.schedule == "linear":
        return config.lr - (config.lr - floor) * progress
    return config.lr


@dataclass
class Progress:
    """What the loop reports to callbacks after each step."""

    step: int
    train_loss: float
    lr: float
    elapsed: float
    chars_per_second: float
    val_loss: float | None = None
    best_val_loss: float | None = None


Callback = Callable[[Progress], bool | None]


@dataclass
class TrainResult:
    """How a run ended."""

    step: int
    best_val_loss: float
    last_val_loss: float
    elapsed: float
    stopped_early: bool
    out: Path
    unit: str = "char"
    chars_per_token: float = 1.0
    """Characters per scored validation id (1 for a character model): a loss divided by it is nats
    per character; a word model's losses are per token."""


class _StopSignals:
    """Turns SIGINT / SIGTERM into a flag the loop checks between steps, so it can save and exit.

    A second signal (Ctrl-C again during a long evaluation) stops at once with KeyboardInterrupt:
    the state saved at the last evaluation is what a resume continues from.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopSignals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.received is not None:
            raise KeyboardInterrupt
        self.received = signum

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _optimizer(model: CharRNN, config: TrainConfig) -> torch.optim.Optimizer:
    # No weight decay on biases and the embedding: decaying them only hurts a char model.
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and not n.startswith("embedding")]
    keep = [p for n, p in model.named_parameters() if p.dim() < 2 or n.startswith("embedding")]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": keep, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.99))


def _save_state(
    path: Path, model: CharRNN, optimizer: torch.optim.Optimizer, meta: dict[str, Any], generator: torch.Generator
) -> None:
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    for index, slots in optimizer.state_dict()["state"].items():
        for key, value in slots.items():
            tensors[f"optim.{index}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.sampler"] = generator.get_state()
    if model.device.type == "cuda":
        tensors["rng.cuda"] = torch.cuda.get_rng_state(model.device)
    metadata = {"chargen_train_state": json.dumps(meta)}
    write_atomic(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def _load_state(path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    tensors, metadata = read_weights_and_metadata(path)  # one read: a save meanwhile is seen whole
    try:
        meta = json.loads(metadata["chargen_train_state"])
    except (KeyError, json.JSONDecodeError):
        raise CheckpointError(f"{path}: not a chargen training state") from None
    return meta, tensors


def _restore(
    model: CharRNN, optimizer: torch.optim.Optimizer, generator: torch.Generator, tensors: dict[str, torch.Tensor]
) -> None:
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, strict=True)
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, slot = key.split(".", 2)
            state.setdefault(int(index), {})[slot] = value
    saved = optimizer.state_dict()
    saved["state"] = state
    optimizer.load_state_dict(saved)
    torch.set_rng_state(tensors["rng.torch"])
    generator.set_state(tensors["rng.sampler"])
    if "rng.cuda" in tensors and model.device.type == "cuda":
        torch.cuda.set_rng_state(tensors["rng.cuda"], model.device)


def _read_log(path: Path, up_to_step: int) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a kill
        if row.get("step", 0) <= up_to_step:
            rows.append(row)
    return rows


def plot_losses(log_rows: list[dict[str, Any]], path: Path, dropout: float = 0.0) -> None:
    """Draw train and validation loss against step to a PNG. ``dropout`` is the run's: the training curve
    says "dropout on" only when there was some (it explains why training loss can sit above validation)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    train = [(r["step"], r["train_loss"]) for r in log_rows if r.get("train_loss") is not None]
    if train:
        ax.plot(*zip(*train, strict=True), label="train (dropout on)" if dropout > 0 else "train")
    val = [(r["step"], r["val_loss"]) for r in log_rows if r.get("val_loss") is not None]
    if val:
        ax.plot(*zip(*val, strict=True), label="validation", marker="o", markersize=3)
    ax.set_xlabel("step")
    # A word run's losses are per token (its rows add val_nats_per_char); a character run's per character.
    per_token = any("val_nats_per_char" in r for r in log_rows)
    ax.set_ylabel(f"loss (nats / {'token' if per_token else 'char'})")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()

    def write(tmp: str) -> None:
        fig.savefig(tmp, format="png")

    write_atomic(path, write)
    plt.close(fig)


def prepare(
    config: TrainConfig, resume: bool
) -> tuple[TrainConfig, Corpus, dict[str, Any] | None, dict[str, torch.Tensor] | None]:
    """Check everything a run needs before anything is written: corpus, output folder, saved state."""
    out = Path(config.out)
    state_path = out / STATE_NAME
    meta = tensors = None
    if resume:
        if not state_path.exists():
            raise ConfigError(f"{out}: nothing to resume (no {STATE_NAME}); start a run without --resume")
        meta, tensors = _load_state(state_path)
        config = _resumed_config(config, meta["config"], out)
        _check_budget_left(config, meta, out)
    elif state_path.exists():
        raise ConfigError(f"{out}: already holds a training run; pass --resume to continue it, or choose another --out")
    elif out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder")
    else:
        # Defaults that only a fresh run takes: a resumed one keeps what it was saved with.
        no_budget = config.max_steps is None and config.max_minutes is None
        config = replace(
            config,
            max_steps=DEFAULT_MAX_STEPS if no_budget else config.max_steps,
            device=config.device or DEFAULT_DEVICE,
        )
    # The corpus is encoded once into a file of ids (cached beside the run), never held as one string.
    corpus = load_corpus(
        config.corpus,
        cache_dir_for(out),
        config.val_fraction,
        min_chars=config.seq_len + 1,
        scheme=config.val_scheme,
        gap=config.val_gap,
        max_val_chars=config.eval_chars,
        unit=config.unit,
        vocab_size=config.vocab_size,
    )
    if meta is not None and corpus.vocab.to_list() != meta["vocab"]:
        raise ConfigError(
            f"{config.corpus}: its {'words or characters' if config.unit == 'word' else 'characters'} differ from "
            "the run being resumed; resume with the same corpus"
        )
    return config, corpus, meta, tensors


def _resumed_config(given: TrainConfig, saved: dict[str, Any], out: Path) -> TrainConfig:
    """The saved run's settings, with what may change on resume taken from ``given`` where it was given.

    The budget (``max_steps``, ``max_minutes``, each on its own), the device and where the corpus
    and the run live may change; every other setting is the saved one, so the schedule continues.
    """
    data = dict(saved)
    for name in ("max_steps", "max_minutes", "device"):
        if getattr(given, name) is not None:
            data[name] = getattr(given, name)
    data["corpus"], data["out"] = given.corpus, given.out
    device = data.get("device") or DEFAULT_DEVICE
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"{out}: this run was saved on {device}, which is not available here; resume with --device cpu"
        )
    return TrainConfig.from_dict(data)


def _check_budget_left(config: TrainConfig, meta: dict[str, Any], out: Path) -> None:
    """Refuse to resume a run whose budget is spent, saying how to give it more (else it would only
    print its old summary again)."""
    step, minutes = meta["step"], meta["elapsed"] / 60
    if config.max_steps is not None and step >= config.max_steps:
        raise ConfigError(
            f"{out}: this run has used its budget (step {step:,} of --max-steps {config.max_steps:,}); "
            f"to train on, resume with more, e.g. --max-steps {max(2 * step, step + 1)}"
        )
    if config.max_minutes is not None and minutes >= config.max_minutes:
        raise ConfigError(
            f"{out}: this run has used its budget ({minutes:.1f} of --max-minutes {config.max_minutes:g}); "
            f"to train on, resume with more, e.g. --max-minutes {math.ceil(2 * minutes)}"
        )


def train(
    config: TrainConfig, resume: bool = False, callbacks: list[Callback] | None = None, progress_bar: bool = True
) -> TrainResult:
    """Train a model as ``config`` says, writing checkpoints to ``config.out``.

    A callback receives a :class:`Progress` after every step (with ``val_loss`` set after an
    evaluation) and may return True to stop; the run then saves its state like a SIGTERM does. A
    run stopped before any evaluation of trained weights evaluates first, so its checkpoint is never
    the untrained step-0 model. ``resume=True`` continues the run saved in ``config.out`` exactly
    where it stopped; a run whose budget is spent is refused (:class:`ConfigError` naming a bigger one).

    Under ``torchrun`` (``WORLD_SIZE`` > 1) every process runs this with the same arguments: the
    model is wrapped in DistributedDataParallel (NCCL on GPUs, gloo on CPUs), each rank draws its
    own windows (``--batch-size`` per rank), and rank 0 alone evaluates, logs, saves, calls the
    callbacks and decides when the run ends (budget, signals), which the other ranks follow. A
    run saved with one number of processes resumes with another (same step, optimizer state and
    rank 0's random state; other ranks draw afresh). On a GPU the steps run under bf16 autocast.
    """
    if config.cell == NGRAM_CELL:  # a count, not an optimisation
        from chargen.training.ngram_train import count_run

        return count_run(config, resume)
    ranks = distributed.ranks_from_env()
    distributed.start(ranks)
    try:
        return _train(config, resume, callbacks, progress_bar, ranks)
    finally:
        distributed.stop(ranks)


def _train(
    config: TrainConfig,
    resume: bool,
    callbacks: list[Callback] | None,
    progress_bar: bool,
    ranks: distributed.Ranks,
) -> TrainResult:
    config, corpus, meta, tensors = distributed.rank_zero_first(ranks, lambda: prepare(config, resume))
    main = ranks.main
    out = Path(config.out)
    device = distributed.device_for(config.device, ranks)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed + ranks.rank)  # each rank draws its own windows
    model = CharRNN(config.model_config(corpus.vocab.to_list(), corpus.vocab.unit)).to(device)
    optimizer = _optimizer(model, config)
    step, elapsed, best_val, last_val = 0, 0.0, math.inf, math.inf
    if meta is not None and tensors is not None:
        _restore(
            model,
            optimizer,
            generator,
            {k: v.to(device) if k.startswith(("model.", "optim.")) else v for k, v in tensors.items()},
        )
        step, elapsed = meta["step"], meta["elapsed"]
        best_val, last_val = meta["best_val_loss"], meta["last_val_loss"]
    if not main:  # the saved random state is rank 0's: the others draw (and drop out) afresh
        torch.manual_seed(config.seed + 7919 * step + ranks.rank)
        generator.manual_seed(config.seed + 7919 * step + ranks.rank)
    net = _parallel(model, ranks)  # what the training steps call: DDP over the ranks, or the model
    autocast = device.type == "cuda" and torch.cuda.is_bf16_supported()
    log_path = out / LOG_NAME
    log_rows: list[dict[str, Any]] = []
    if main:
        out.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(out)  # left by a run that was killed while writing
        # A fresh run starts a fresh log; a resumed one keeps the rows up to its saved step.
        log_rows = _read_log(log_path, step) if meta is not None else []
        write_text_atomic(log_path, "".join(json.dumps(r) + "\n" for r in log_rows))
    # Each validation block is scored as one row, cut so that all rows hold --eval-chars at most
    # (characters: a word model's rows are cut where their tokens reach that many characters).
    per_row = max(2, config.eval_chars // max(1, len(corpus.val)))
    if corpus.vocab.unit == "word" and len(corpus.val):
        written = torch.tensor(corpus.vocab.token_lengths())[corpus.val].cumsum(1)  # (blocks, L)
        per_row = max(2, int((written <= per_row).sum(1).min()))
    val_rows = corpus.val[:, :per_row]  # (blocks, L)
    if config.val_scheme == "tail" and len(val_rows):  # one long block: score it as parallel streams
        val_rows = parallel_streams(val_rows.flatten(), config.eval_streams)
    budget = config.max_minutes * 60 if config.max_minutes is not None else math.inf
    # A word model's losses are per token; divided by this they are per character, the figure that
    # compares with a character model's (and with `chargen eval`).
    chars_per_token = 1.0
    if corpus.vocab.unit == "word" and len(val_rows):
        lengths = torch.tensor(corpus.vocab.token_lengths(), dtype=torch.float64)
        chars_per_token = lengths[val_rows[:, 1:].cpu()].mean().item()

    def progress_at(step: int, elapsed: float) -> float:
        by_steps = step / config.max_steps if config.max_steps else 0.0
        return max(by_steps, elapsed / budget)

    def meta_now() -> dict[str, Any]:
        return {
            "config": asdict(config),
            "vocab": corpus.vocab.to_list(),
            "step": step,
            "elapsed": elapsed,
            "best_val_loss": best_val,
            "last_val_loss": last_val,
            "world_size": ranks.world_size,
        }

    def evaluate_and_save() -> None:
        # Evaluation counts against --max-minutes too: the budget is wall-clock time.
        nonlocal best_val, last_val, elapsed
        if not len(val_rows):  # nothing held out: the newest weights are the model
            last_val = best_val = math.nan
            save_checkpoint(model, out)
            return
        started = time.perf_counter()
        last_val, _ = nll_of_rows(model, val_rows)
        elapsed += time.perf_counter() - started
        if last_val < best_val:
            best_val = last_val
            save_checkpoint(model, out)

    def per_char(loss: float) -> dict[str, Any]:
        if corpus.vocab.unit == "char":
            return {}
        return {"val_nats_per_char": _finite_or_none(loss / chars_per_token)}

    def evaluation_row(lr: float, chars_per_second: float) -> dict[str, Any]:
        """The log row of an evaluation after training steps (the training loss is the mean since the last)."""
        return {
            "step": step,
            "train_loss": sum(window_losses) / len(window_losses),
            "val_loss": _finite_or_none(last_val),
            **per_char(last_val),
            "lr": lr,
            "elapsed": round(elapsed, 2),
            "chars_per_s": round(chars_per_second),
        }

    def log_and_save_state(row: dict[str, Any]) -> None:
        # The log row goes first: a kill between the two then only repeats this evaluation on
        # resume (rows past the saved step are dropped), where the other order would lose the row.
        log_rows.append(row)
        _append_log(log_path, row)
        _save_state(out / STATE_NAME, model, optimizer, meta_now(), generator)

    bar = _ProgressBar(config, step, elapsed) if progress_bar and main else None
    if bar is not None and meta is not None and step > 0:
        bar.val_loss = last_val  # the run being resumed has evaluated its training already
    callbacks = (callbacks or []) if main else []
    window_losses: list[float] = []
    stopped_early = False
    chars_per_step = config.batch_size * config.seq_len * ranks.world_size
    # A word model's ids write one or more characters each: its speed is counted in the characters
    # of the windows it reads (each rank's taken as rank 0's), as a character model's is.
    token_chars = None
    if corpus.vocab.unit == "word":
        token_chars = torch.tensor(corpus.vocab.token_lengths(), dtype=torch.long, device=device)
    if main and step == 0 and not log_rows:  # a run resumed from its step-0 state has this row already
        evaluate_and_save()
        log_and_save_state(
            {
                "step": 0,
                "train_loss": None,
                "val_loss": _finite_or_none(last_val),
                **per_char(last_val),
                "lr": 0.0,
                "elapsed": 0.0,
            }
        )
    model.train()
    with _StopSignals() as signals:
        while progress_at(step, elapsed) < 1.0:
            started = time.perf_counter()
            lr = learning_rate(config, step, progress_at(step, elapsed))
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = corpus.random_windows(config.batch_size, config.seq_len + 1, generator).to(device)  # (B, T+1)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                logits, _ = net(batch[:, :-1])  # (B, T, V)
                loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), batch[:, 1:].reshape(-1))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # under DDP: gradients averaged over the ranks
            if config.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            step += 1
            loss_value = distributed.mean(ranks, loss.detach()).item()  # over every rank's windows
            window_losses.append(loss_value)
            step_time = time.perf_counter() - started
            elapsed += step_time
            if token_chars is not None:
                chars_per_step = int(token_chars[batch[:, :-1]].sum()) * ranks.world_size
            report = Progress(step, loss_value, lr, elapsed, chars_per_step / max(step_time, 1e-9))
            finishing = progress_at(step, elapsed) >= 1.0
            if main and (step % config.eval_every == 0 or finishing):
                evaluate_and_save()
                report.val_loss, report.best_val_loss = last_val, best_val
                log_and_save_state(evaluation_row(lr, report.chars_per_second))
                window_losses = []
                model.train()
            if bar is not None:
                if report.val_loss is not None:
                    bar.val_loss = last_val
                bar.update(step, elapsed, loss_value, report.chars_per_second)
            wants_stop = any(cb(report) for cb in callbacks)
            stop = (wants_stop or signals.received is not None) and not finishing
            # Rank 0 decides: its clock (evaluation included) and its stop are every rank's.
            elapsed, stop_flag = distributed.agree(ranks, [elapsed, float(stop)])
            if stop_flag:
                stopped_early = True
                if main and not any(row["step"] > 0 for row in log_rows):
                    # Stopped before the first evaluation: the saved checkpoint is still the untrained
                    # step-0 model, which generates noise. Evaluate now, so it is the trained one.
                    evaluate_and_save()
                    log_and_save_state(evaluation_row(lr, report.chars_per_second))
                elif main:
                    _save_state(out / STATE_NAME, model, optimizer, meta_now(), generator)
                break
    if bar is not None:
        bar.close()
    if log_rows:
        plot_losses(log_rows, out / PLOT_NAME, dropout=config.dropout)
    best_val, last_val = distributed.broadcast_object(ranks, (best_val, last_val))
    return TrainResult(step, best_val, last_val, elapsed, stopped_early, out, corpus.vocab.unit, chars_per_token)


def _parallel(model: CharRNN, ranks: distributed.Ranks) -> torch.nn.Module:
    """``model`` wrapped in DistributedDataParallel when several processes train it, else ``model`` itself."""
    if not ranks.active:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [model.device.index] if model.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


class _ProgressBar:
    """tqdm over the run's budget: steps for --max-steps, seconds for --max-minutes (so it has an ETA).

    Its clock starts at the elapsed time saved with a resumed run. ``val=`` appears once an
    evaluation after training steps has happened (not the untrained step-0 figure), and never
    when nothing is held out.
    """

    def __init__(self, config: TrainConfig, step: int, elapsed: float, file: Any = None):
        from tqdm import tqdm

        self.by_time = config.max_minutes is not None
        self.val_loss: float | None = None
        # smoothing=0: the rate (and so the ETA) is the run's average, not the last few updates'.
        options = {"dynamic_ncols": True, "mininterval": 0.5, "file": file, "smoothing": 0}
        if self.by_time:
            budget = round(config.max_minutes * 60)
            done = min(int(elapsed), budget)
            # Seconds of the budget: a rate would read "1.00s/s", so the bar shows none (speed is chars_s).
            time_format = "{l_bar}{bar}| {n_fmt}/{total_fmt} s [{elapsed}<{remaining}{postfix}]"
            self.bar = tqdm(total=budget, initial=done, unit="s", bar_format=time_format, **options)
        else:
            self.bar = tqdm(total=config.max_steps, initial=step, unit="step", **options)
        self.bar.start_t -= elapsed  # the clock continues from the time already spent
        # tqdm's rate is (n - initial) / elapsed: with the clock continued, the whole run's progress
        # over the whole run's time gives the right rate and ETA after a resume.
        self.bar.initial = 0

    def update(self, step: int, elapsed: float, loss: float, chars_per_second: float) -> None:
        """Move to ``step`` / ``elapsed`` and show the latest figures."""
        postfix = {"step": str(step)} if self.by_time else {}
        postfix["loss"] = f"{loss:.3f}"
        if self.val_loss is not None and math.isfinite(self.val_loss):
            postfix["val"] = f"{self.val_loss:.3f}"
        postfix["chars_s"] = f"{chars_per_second:,.0f}"
        self.bar.set_postfix(postfix, refresh=False)
        position = min(int(elapsed), self.bar.total) if self.by_time else step
        self.bar.update(position - self.bar.n)

    def close(self) -> None:
        """Draw the final state and release the terminal line."""
        self.bar.close()


def _finite_or_none(value: float) -> float | None:
    # JSON has no NaN: a run that holds nothing out logs no validation loss.
    return value if math.isfinite(value) else None


def _append_log(path: Path, row: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")
