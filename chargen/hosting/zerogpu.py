"""ZeroGPU: the ``spaces`` package when it is installed, and training as the one GPU-worthy job.

On a ZeroGPU Space (``SPACES_ZERO_GPU=true``) only functions decorated with ``@spaces.GPU`` get a
GPU, each call charged to the visitor's daily quota (and refused up front when the quota left is
smaller than the duration asked). Generation stays on the CPU: chargen's int8 engine beats a GPU
round trip for one visitor and spends nobody's quota, so it is never decorated. Training is the
work that deserves a GPU: the app's Train tab wraps its training stream with :func:`gpu` when it
builds the page on ZeroGPU (``chargen.app.session.zero_gpu.zero_gpu_train_stream``), and
:func:`train_on_gpu` is the same for a whole ``python -m chargen train`` run.

Without the ``spaces`` package :func:`gpu` returns functions unchanged, and ``spaces`` itself does
the same when ``SPACES_ZERO_GPU`` is not ``true`` (``spaces/zero/decorator.py``: ``if not
Config.zero_gpu: return task``). The ZeroGPU branch cannot run off the platform; it was checked by
reading spaces 0.51.3's source, not by running it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from chargen.training.train import TrainConfig, TrainResult

try:  # ZeroGPU provides it (do not list it in a Space's requirements); the dev requirements install it
    import spaces as _spaces
except ImportError:
    _spaces = None

TRAIN_GPU_MARGIN_S = 30
"""Seconds of GPU time asked beyond a training run's ``max_minutes``: start-up, the last evaluation and save."""

F = TypeVar("F", bound=Callable[..., Any])


def gpu(duration: int | Callable[..., int | None] | None = None) -> Callable[[F], F]:
    """``@spaces.GPU(duration=...)`` when the ``spaces`` package is installed, else a decorator that changes nothing.

    Args:
        duration: GPU seconds to ask for, or a function of the call's arguments returning them
            (``spaces`` calls it before each call); None takes ``spaces``' default (60 s).
    """
    if _spaces is None:
        return lambda fn: fn
    return _spaces.GPU(duration=duration)


def _training_seconds(config: TrainConfig, *args: Any, **kwargs: Any) -> int | None:
    """GPU time for a run: its wall-clock budget plus a margin; None (spaces' default) when it has none."""
    if config.max_minutes is None:
        return None
    return int(config.max_minutes * 60) + TRAIN_GPU_MARGIN_S


@gpu(duration=_training_seconds)
def train_on_gpu(config: TrainConfig, resume: bool = False) -> TrainResult:
    """Train as ``python -m chargen train`` does, on a GPU when there is one (on ZeroGPU: for this call only).

    On ZeroGPU the call holds a GPU for ``max_minutes`` + 30 s of the caller's quota, so give
    ``max_minutes``. The run uses CUDA when torch sees a GPU, else the CPU, so the same code runs on a
    cpu-basic Space or a laptop. Checkpoints land in ``config.out``.
    """
    import torch

    from chargen.training.train import train

    device = config.device or ("cuda" if torch.cuda.is_available() else "cpu")
    return train(replace(config, device=device), resume=resume, progress_bar=False)
