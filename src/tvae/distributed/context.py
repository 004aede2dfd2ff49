"""Where this process stands in a torchrun job, and the few collective operations we use."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from tvae.devices import gpu_count, resolve_device
from tvae.errors import InvalidParameterError


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in a torchrun job (a lone process is rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    restart_count: int = 0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> DistContext:
        env = os.environ if env is None else env
        return cls(
            rank=int(env.get("RANK", 0)),
            world_size=int(env.get("WORLD_SIZE", 1)),
            local_rank=int(env.get("LOCAL_RANK", 0)),
            local_world_size=int(env.get("LOCAL_WORLD_SIZE", 1)),
            restart_count=int(env.get("TORCHELASTIC_RESTART_COUNT", 0)),
        )

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def is_main_process() -> bool:
    """True on rank 0 (and in a lone process): the one process that should write files."""
    return DistContext.from_env().is_main


def worker_device(ctx: DistContext, device: str | None, enable_gpu: bool) -> torch.device:
    """The model's device; with several workers on a GPU node, GPU ``local_rank``."""
    resolved = resolve_device(device, enable_gpu)
    if resolved.type == "cuda" and ctx.distributed:
        count = torch.cuda.device_count()
        if ctx.local_rank >= count:  # NCCL needs a GPU of its own for each worker
            raise InvalidParameterError(
                f"{ctx.local_world_size} workers on this node but {gpu_count(count)}: start at "
                f"most {count} per node (tvae fit --nproc, "
                "torchrun --nproc-per-node), or train on the CPU with --device cpu"
            )
        return torch.device("cuda", ctx.local_rank)
    return resolved


def init_process_group(ctx: DistContext, device: torch.device) -> bool:
    """Join the torchrun job (NCCL on CUDA, gloo otherwise); False if nothing was to be done."""
    if not ctx.distributed or dist.is_initialized():
        return False
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", init_method="env://")
    return True


def broadcast_json(value: Any, ctx: DistContext, device: torch.device) -> Any:
    """Rank 0's JSON-able ``value`` on every rank (bytes in a tensor: nothing is pickled)."""
    if not ctx.distributed:
        return value
    payload = json.dumps(value).encode() if ctx.is_main else b""
    size = torch.tensor([len(payload)], dtype=torch.int64, device=device)
    dist.broadcast(size, src=0)
    buffer = torch.zeros(int(size.item()), dtype=torch.uint8, device=device)
    if ctx.is_main:
        buffer.copy_(torch.frombuffer(bytearray(payload), dtype=torch.uint8))
    dist.broadcast(buffer, src=0)
    return json.loads(buffer.cpu().numpy().tobytes())


def mean_over_workers(values: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """The element-wise mean of ``values`` over all workers (for the loss log)."""
    if not ctx.distributed:
        return values
    total = values.clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total / ctx.world_size


def epoch_seed(network_seed: int, rank: int, epoch: int) -> np.random.SeedSequence:
    """The random state of one worker's epoch: a function of the seed, the rank and the epoch."""
    return np.random.SeedSequence([network_seed, rank, epoch])
