"""torchrun / DDP plumbing: who this process is, and the process group's life."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from synsetlab.errors import UserError


class DeviceError(UserError, ValueError):
    """A device or distributed backend that this machine cannot give."""


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (one process: rank 0 of 1)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Only the main process writes files and reports progress."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def init_world(device: torch.device, backend: str = "auto") -> World:
    """Join the process group torchrun describes (``WORLD_SIZE`` > 1) with ``backend``
    (``auto``: NCCL on CUDA, gloo on the CPU). Without torchrun, a world of one and no process
    group."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    if backend == "auto":
        backend = "nccl" if device.type == "cuda" else "gloo"
    if backend == "nccl" and device.type != "cuda":
        raise DeviceError(
            f"the nccl backend needs CUDA devices, and this process trains on {device}: use "
            "--set dist_backend=gloo (or auto) on the CPU"
        )
    if not dist.is_initialized():
        dist.init_process_group(backend)
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def close_world(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


def all_reduce_sum(value: torch.Tensor, world: World) -> torch.Tensor:
    """The sum of ``value`` over all processes (itself in a world of one). A collective:
    every process calls it at the same point, or they all wait."""
    if not world.distributed:
        return value
    value = value.clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value


def all_reduce_mean(value: torch.Tensor, world: World) -> torch.Tensor:
    """The mean of ``value`` over all processes (itself in a world of one)."""
    return all_reduce_sum(value, world) / world.size


def resolve_device(name: str, world: World | None = None) -> torch.device:
    """``auto``: this process's CUDA device when there is one, else the CPU. A device this
    machine lacks is a :class:`DeviceError` (a UserError) that says what to ask for instead."""
    if name != "auto":
        try:
            device = torch.device(name)
        except RuntimeError:
            raise DeviceError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N") from None
        if device.type == "cuda":
            count = torch.cuda.device_count() if torch.cuda.is_available() else 0
            if count == 0:
                raise DeviceError(f"{name}: CUDA is not available here; use --device cpu or auto")
            if device.index is not None and device.index >= count:
                raise DeviceError(f"there is no {name}: this machine has {count} CUDA device(s)")
        return device
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0")) if world is None else world.local_rank
        return torch.device("cuda", local)
    return torch.device("cpu")
