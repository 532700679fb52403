"""Training on several processes (``torchrun``): which rank this is, and the few things ranks agree on.

``torchrun --nproc_per_node=N -m chargen train ...`` starts N copies of the command with ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK`` set. :func:`start` joins them into one process group (NCCL for
CUDA tensors, gloo for CPU tensors and the small control messages), and the training loop wraps
its model in DistributedDataParallel. Rank 0 alone evaluates, logs and writes files; it decides
when the run ends and :func:`agree` hands its figures to the other ranks.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from torch import distributed as dist

from chargen.errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class Ranks:
    """Where this process stands among the processes of one run (one process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """True on the rank that evaluates, logs and writes (rank 0)."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        """True when there is more than one process, so a process group is used."""
        return self.world_size > 1


def ranks_from_env(environ: dict[str, str] | None = None) -> Ranks:
    """The ranks torchrun sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``); one process when they are absent."""
    env = os.environ if environ is None else environ
    try:
        ranks = Ranks(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)))
    except ValueError:
        raise ConfigError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (torchrun sets them)") from None
    if ranks.world_size < 1 or not 0 <= ranks.rank < ranks.world_size:
        raise ConfigError(f"rank {ranks.rank} of world size {ranks.world_size} makes no sense")
    return ranks


def start(ranks: Ranks) -> None:
    """Join the run's process group (a no-op for one process): gloo, plus NCCL for CUDA tensors when a GPU is seen."""
    if not ranks.active or dist.is_initialized():
        return
    backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"
    dist.init_process_group(backend=backend)


def stop(ranks: Ranks) -> None:
    """Leave the process group (a no-op for one process)."""
    if ranks.active and dist.is_initialized():
        dist.destroy_process_group()


def device_for(device: str, ranks: Ranks) -> torch.device:
    """The device this rank trains on: ``cuda:LOCAL_RANK`` for a CUDA run of several processes."""
    if ranks.active and device.startswith("cuda"):
        torch.cuda.set_device(ranks.local_rank)
        return torch.device("cuda", ranks.local_rank)
    return torch.device(device)


def agree(ranks: Ranks, values: list[float]) -> list[float]:
    """Rank 0's ``values`` on every rank (returned unchanged with one process)."""
    if not ranks.active:
        return values
    tensor = torch.tensor(values, dtype=torch.float64)
    dist.broadcast(tensor, src=0)
    return tensor.tolist()


def mean(ranks: Ranks, value: torch.Tensor) -> torch.Tensor:
    """The mean of a scalar tensor over the ranks (``value`` itself with one process)."""
    if not ranks.active:
        return value
    total = value.detach().clone()
    dist.all_reduce(total)
    return total / ranks.world_size


def rank_zero_first(ranks: Ranks, work: Callable[[], T]) -> T:
    """Run ``work`` on rank 0, then (if it succeeded) on the other ranks; each rank gets its own result.

    For what writes shared files (the corpus's encoding) or may fail on bad input: when rank 0
    fails, every rank raises the same error, so no rank waits for a partner that is gone.
    """
    if not ranks.active:
        return work()
    result: Any = None
    failure: list[Any] = [None]
    if ranks.main:
        try:
            result = work()
        except Exception as exc:  # noqa: BLE001 - handed to every rank, then raised
            failure[0] = _portable(exc)
    dist.broadcast_object_list(failure, src=0)
    if failure[0] is not None:
        raise failure[0]
    if not ranks.main:
        result = work()
    dist.barrier()  # every rank has finished before rank 0 writes anything more
    return result


def _portable(exc: Exception) -> Exception:
    """``exc`` if it survives pickling, else a ConfigError with its message."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001
        return ConfigError(str(exc))


def broadcast_object(ranks: Ranks, value: T) -> T:
    """Rank 0's ``value`` (any picklable object) on every rank."""
    if not ranks.active:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]
