"""torch.distributed plumbing shared by training and sharded prediction.

`torchrun --nproc-per-node N main.py train|predict ...` sets RANK, WORLD_SIZE and
LOCAL_RANK; without them everything here degrades to a single process, so callers never
branch on whether they run distributed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def init_from_env(device: str = "cpu") -> DistContext:
    """Join the process group torchrun describes (NCCL on CUDA, gloo on CPU)."""
    if not launched_by_torchrun():
        return DistContext()
    rank = int(os.environ["RANK"])
    world_size = int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    if world_size > 1 and not dist.is_initialized():
        use_nccl = device.startswith("cuda") and torch.cuda.is_available()
        if use_nccl:
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend="nccl" if use_nccl else "gloo")
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank)


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def shard(items: Sequence[T], ctx: DistContext) -> list[T]:
    """This rank's share of `items`: every world_size-th item, starting at its rank."""
    return list(items[ctx.rank :: ctx.world_size])


def gather_to_main(obj: Any, ctx: DistContext) -> list[Any] | None:
    """Collect one picklable object from every rank; rank 0 gets them in rank order."""
    if not ctx.is_distributed:
        return [obj]
    gathered: list[Any] | None = [None] * ctx.world_size if ctx.is_main else None
    dist.gather_object(obj, gathered, dst=0)
    return gathered


def barrier(ctx: DistContext) -> None:
    if ctx.is_distributed:
        dist.barrier()
