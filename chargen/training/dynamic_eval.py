"""Dynamic evaluation: score a text piece by piece, adapting a copy of the model to each piece after scoring it.

Krause, Kahembwe, Murray & Renals (2018), "Dynamic Evaluation of Neural Sequence Models". The
text is read in segments of :attr:`AdaptSettings.segment` characters with the recurrent state
carried; each segment is **scored first** (its loss counts towards the adapted figure), then
the copy takes one step on that segment's mean loss::

    theta <- theta - lr * g / (sqrt(MS) + eps)  +  decay * (theta_trained - theta)

where g is the segment's gradient and MS a running mean of squared gradients (RMSprop-style,
beta 0.99, started at the first g squared), so every weight moves by about ``lr`` whatever its
gradient's scale (the paper's RMS normalisation; it takes MS from training text, which ``chargen
eval`` does not have). The decay pulls each weight back towards the trained model, so what was
learnt from the text fades unless the text keeps repeating it. The model passed in is never
changed: a deep copy adapts.

The learning rate: ``--adapt-lr``, else the model folder's ``adapt.json`` (chosen on its
validation text), else :data:`DEFAULT_ADAPT_LR`. It is capped at :data:`MAX_ADAPT_LR` (1e-3
diverged on the bundled model, FACTS.md); if a step still makes a weight non-finite, the copy
goes back to the trained weights and the run goes on.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from chargen.errors import ConfigError
from chargen.inference.generate import DEFAULT_PROMPT
from chargen.model import CharRNN
from chargen.training.evaluate import unknown_counts

ADAPT_NAME = "adapt.json"
"""A checkpoint folder's stored dynamic-evaluation settings: ``{"lr": ..., "chosen_on": ...}``."""
DEFAULT_ADAPT_LR = 1e-4
MAX_ADAPT_LR = 3e-4
"""The largest learning rate allowed: 1e-3 diverged on the bundled LSTM (6.1 nats/char, FACTS.md)."""


@dataclass(frozen=True)
class AdaptSettings:
    """How a copy of the model adapts while it reads (see the module docstring)."""

    lr: float = DEFAULT_ADAPT_LR
    decay: float = 0.01  # chosen with lr 3e-4 on the bundled model's validation blocks 1-8 (docs/markov.md)
    segment: int = 50
    beta: float = 0.99
    eps: float = 1e-8

    def __post_init__(self) -> None:
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not 0 < self.lr <= MAX_ADAPT_LR:
            raise ConfigError(f"adapt-lr must be above 0 and at most {MAX_ADAPT_LR:g}, got {self.lr!r}")
        if not 0 <= self.decay < 1:
            raise ConfigError(f"decay must be in [0, 1), got {self.decay!r}")
        if isinstance(self.segment, bool) or not isinstance(self.segment, int) or self.segment < 1:
            raise ConfigError(f"segment must be a positive integer, got {self.segment!r}")


def stored_lr(folder: str | Path) -> float | None:
    """The learning rate a model folder's ``adapt.json`` holds, or None when it has none."""
    path = Path(folder) / ADAPT_NAME
    if not path.is_file():
        return None
    try:
        lr = json.loads(path.read_text(encoding="utf-8"))["lr"]
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f'{path}: not a valid {ADAPT_NAME} (needs a number under "lr")') from None
    AdaptSettings(lr=lr)  # checked like --adapt-lr
    return float(lr)


def adapted_nll(model: CharRNN, ids: torch.Tensor, settings: AdaptSettings | None = None) -> tuple[float, int]:
    """Mean NLL (nats per id) of ``ids[1:]`` scored as a copy of ``model`` adapts after each segment,
    and how many ids were scored. ``model`` itself is left as it was."""
    segments = segment_losses(model, ids, settings, adapt=True)
    total, count = sum(loss for loss, _ in segments), sum(n for _, n in segments)
    return total / count, count


def segment_losses(
    model: CharRNN, ids: torch.Tensor, settings: AdaptSettings | None = None, *, adapt: bool = True
) -> list[tuple[float, int]]:
    """(summed NLL in nats, ids scored) of each segment of ``ids[1:]``, the state carried through the text:
    with ``adapt`` as a copy of ``model`` adapts after scoring each segment, else as ``model`` reads it
    unchanged (the static figure, segment by segment). ``model`` itself is left as it was."""
    settings = settings or AdaptSettings()
    if not isinstance(model, CharRNN):
        raise ConfigError("dynamic evaluation adapts a network's weights; an n-gram model has none")
    if len(ids) < 2:
        raise ValueError("need at least 2 characters to score")
    adapting = copy.deepcopy(model).requires_grad_(adapt)
    # Dropout off while it reads, in training mode all the same: cuDNN's RNN backward refuses eval mode.
    for module in adapting.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
        elif isinstance(module, nn.RNNBase):
            module.dropout = 0.0
    adapting.train(adapt)
    params = [p for p in adapting.parameters()]
    trained = [p.detach().clone() for p in params]
    mean_squares: list[torch.Tensor] | None = None
    ids = ids.to(model.device)
    segments: list[tuple[float, int]] = []
    state = None
    with torch.enable_grad() if adapt else torch.inference_mode():
        for start in range(0, len(ids) - 1, settings.segment):
            targets = ids[start + 1 : start + settings.segment + 1]
            inputs = ids[start : start + len(targets)]
            logits, state = adapting(inputs[None], state)  # (1, t, V)
            loss = F.cross_entropy(logits[0], targets, reduction="sum")
            segments.append((loss.item(), len(targets)))
            if not adapt:
                continue
            grads = torch.autograd.grad(loss / len(targets), params)
            state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
            with torch.no_grad():
                if mean_squares is None:
                    mean_squares = [g * g for g in grads]
                else:
                    for ms, g in zip(mean_squares, grads, strict=True):
                        ms.mul_(settings.beta).addcmul_(g, g, value=1 - settings.beta)
                for p, p0, g, ms in zip(params, trained, grads, mean_squares, strict=True):
                    p.sub_(settings.lr * g / (ms.sqrt() + settings.eps))
                    p.add_(settings.decay * (p0 - p))
                if not all(torch.isfinite(p).all() for p in params):  # never let one bad step run away
                    for p, p0 in zip(params, trained, strict=True):
                        p.copy_(p0)
                    mean_squares = None
    return segments


@dataclass(frozen=True)
class AdaptationCurve:
    """How the loss falls as a model reads a text, static and adapting: after each segment, how many
    characters have been scored and the mean loss so far (nats per character) of each."""

    chars: tuple[int, ...]
    static: tuple[float, ...]
    adapted: tuple[float, ...]
    settings: AdaptSettings


def adaptation_curve(model: CharRNN, text: str, settings: AdaptSettings | None = None) -> AdaptationCurve:
    """The running mean loss of ``text`` read by ``model`` as it is and by an adapting copy of it (the
    Look inside view): the same ids as :func:`score_adapted`, so the last points are ``chargen eval``'s
    static figure and ``--adapt``'s adapted one."""
    settings = settings or AdaptSettings()
    ids = _text_ids(model, text)
    curves = []
    for adapt in (False, True):
        total, count, means, chars = 0.0, 0, [], []
        for loss, n in segment_losses(model, ids, settings, adapt=adapt):
            total, count = total + loss, count + n
            means.append(total / count)
            chars.append(count)
        curves.append(means)
    return AdaptationCurve(tuple(chars), tuple(curves[0]), tuple(curves[1]), settings)


def _text_ids(model: CharRNN, text: str) -> torch.Tensor:
    """``text`` as ``chargen eval`` scores it: unknown characters left out, read after generation's line break."""
    if getattr(model, "unit", "char") != "char":
        raise ConfigError("--adapt scores character models only")
    dropped = unknown_counts(model, text)
    if dropped:
        text = "".join(ch for ch in text if ch not in dropped)
    start = model.vocab.encode(DEFAULT_PROMPT) if not model.vocab.unknown(DEFAULT_PROMPT) else []
    return torch.tensor(start + model.vocab.encode(text), dtype=torch.long)


def score_adapted(model: CharRNN, text: str, settings: AdaptSettings | None = None) -> dict[str, float | int]:
    """``chargen eval --adapt``'s added figures for ``text``: ``adapted_nats_per_char`` and the settings used."""
    settings = settings or AdaptSettings()
    # The same ids as the static score (chargen.training.evaluate.score_text): unknown characters
    # left out, and the text read after the line break that generation starts from.
    nats, _ = adapted_nll(model, _text_ids(model, text), settings)
    return {
        "adapted_nats_per_char": round(nats, 6),
        "adapted_bits_per_char": round(nats / math.log(2), 6),
        "adapt_lr": settings.lr,
        "adapt_decay": settings.decay,
        "adapt_segment": settings.segment,
    }
