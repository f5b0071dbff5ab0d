"""Multi-process (DDP) plumbing for ``torchrun --nproc_per_node=K -m percomp_ui train RUN …``.

torchrun starts K copies of ``percomp train`` with RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and
MASTER_PORT in their environment. With WORLD_SIZE > 1 the trainer joins the process group (NCCL when
it trains on CUDA, Gloo on CPU); otherwise nothing here does anything and training is one process.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    """This process's place in the job (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def setup(use_cuda: bool) -> Dist:
    """Join the torchrun process group when WORLD_SIZE > 1 (idempotent)."""
    if env_world_size() <= 1:
        return Dist()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        if use_cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Dist(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local_rank)


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: Dist) -> None:
    if ctx.enabled:
        dist.barrier()


def mean_over_ranks(ctx: Dist, values: dict[str, float], device: torch.device) -> dict[str, float]:
    """Average a few scalars over all ranks (for the logged losses of the global batch)."""
    if not ctx.enabled or not values:
        return values
    keys = list(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return {k: float(v) / ctx.world_size for k, v in zip(keys, t.tolist())}


def average_gradients(ctx: Dist, params: list[torch.nn.Parameter]) -> None:
    """All-reduce (mean) the gradients of parameters DDP does not manage (the aux-loss quantiles)."""
    if not ctx.enabled:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= ctx.world_size
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def broadcast_parameters(ctx: Dist, params: list[torch.nn.Parameter]) -> None:
    """Make rank 0's values authoritative for parameters DDP does not broadcast itself."""
    if not ctx.enabled:
        return
    with torch.no_grad():
        for p in params:
            dist.broadcast(p.data, src=0)
