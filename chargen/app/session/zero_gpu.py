"""Session training on a ZeroGPU Space: the budget (what a run asks the GPU for and what a visitor's daily
quota is charged up front), the message for a refused call, and the ``@spaces.GPU`` entry point.

The GPU side of the Space itself (the ``spaces`` package or a stand-in) is :mod:`chargen.hosting.zerogpu`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from typing import Any

from chargen.app import i18n
from chargen.app.session.checks import TrainRequest

# Anonymous ZeroGPU visitors get 120 s of GPU a day and each call is charged ~1.5x its duration up front.
ZERO_GPU_DAILY_QUOTA_S = 120
ZERO_GPU_CHARGE_FACTOR = 1.5
ZERO_GPU_OVERHEAD_S = 10
"""Seconds a GPU call asks for beyond the training budget: the fork, moving the model, the last save."""


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
    return i18n.text("train.error.gpu_refused", title=title, detail=detail)


def gpu_train_stream(request: TrainRequest) -> Iterator[dict[str, Any]]:
    """:func:`~chargen.app.session.stream.train_stream` on the GPU, for ``@spaces.GPU``: all state comes in
    as the request (a frozen dataclass of plain values, pickled into the forked process the call runs in)
    and goes out as yielded plain data and CPU tensors. Without a GPU (``spaces`` off ZeroGPU returns the
    function unchanged) it trains on the CPU."""
    import torch

    from chargen.app.session.stream import train_stream

    yield from train_stream(request, device="cuda" if torch.cuda.is_available() else "cpu", stop=None, threads=None)


def zero_gpu_train_stream() -> Callable[[TrainRequest], Iterator[dict[str, Any]]]:
    """:func:`gpu_train_stream` under ``spaces.GPU`` with a duration of the budget plus the overhead.

    Checked by reading spaces 0.51.3 (spaces/zero/decorator.py, wrappers.py), not run here: a
    generator function is run in a forked worker, each yielded value pickled back; closing the
    stream in the parent (Stop) sets the worker's stop event and closes the generator there.
    """
    from chargen.hosting.zerogpu import gpu

    return gpu(duration=gpu_call_duration)(gpu_train_stream)


def gpu_call_duration(request: TrainRequest, *rest: Any, **options: Any) -> int:
    """The GPU seconds a :func:`gpu_train_stream` call asks for; ``spaces`` calls it with the call's
    arguments (only the budget, ``request.seconds``, counts)."""
    return zero_gpu_duration(float(request.seconds))


__all__ = [
    "ZERO_GPU_CHARGE_FACTOR",
    "ZERO_GPU_DAILY_QUOTA_S",
    "ZERO_GPU_OVERHEAD_S",
    "gpu_call_duration",
    "gpu_train_stream",
    "zero_gpu_cost",
    "zero_gpu_duration",
    "zero_gpu_enabled",
    "zero_gpu_max_seconds",
    "zero_gpu_refusal",
    "zero_gpu_train_stream",
]
