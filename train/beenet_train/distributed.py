"""torch.distributed glue of the trainer (docs/scale.md).

The trainer runs unchanged in one process; started by ``torchrun`` or with
``MASTER_ADDR/MASTER_PORT/RANK/WORLD_SIZE`` set (the ``env://`` rendezvous)
it joins a process group: gloo without CUDA, NCCL with.  Everything here is
PyTorch's own machinery (process groups, DistributedDataParallel,
SyncBatchNorm) except :class:`CpuSyncBatchNorm`: PyTorch 1.13's
``nn.SyncBatchNorm`` refuses CPU tensors ("SyncBatchNorm expected input
tensor to be on GPU"), so on gloo the same computation is written with the
differentiable ``torch.distributed.nn.functional.all_reduce``.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from typing import List, Optional

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Dist:
    """This process' place in the job (rank 0 of 1 when not distributed)."""
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    backend: Optional[str] = None
    device: torch.device = torch.device("cpu")

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def env_world() -> tuple:
    """(rank, world size) from torchrun's / env://'s variables, (0, 1) when unset."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def setup() -> Dist:
    """Join the process group when WORLD_SIZE > 1 (gloo, or NCCL when CUDA is
    available); one process otherwise, without touching torch.distributed."""
    rank, world = env_world()
    if world <= 1:
        return Dist()
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    device = torch.device("cpu")
    if backend == "nccl":
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    if not dist.is_initialized():
        dist.init_process_group(backend, init_method="env://", rank=rank, world_size=world)
    return Dist(rank, world, local, backend, device)


def shutdown(d: Dist) -> None:
    if d.active and dist.is_initialized():
        dist.destroy_process_group()


def local_batch(global_batch: int, d: Dist) -> int:
    """Per-rank batch of a fixed global batch (which must divide evenly)."""
    if global_batch % d.world:
        raise ValueError("the global batch %d does not divide into %d processes: choose a --batch-size "
                         "that is a multiple of the number of processes" % (global_batch, d.world))
    return global_batch // d.world


def rank_positions(n: int, d: Dist) -> List[int]:
    """Positions (in a global batch of n items) this rank trains on: every
    world-th one from its rank, as DistributedSampler strides an epoch."""
    return list(range(d.rank, n, d.world))


def broadcast_object(obj, d: Dist):
    """Rank 0's ``obj`` on every rank (pickled; for resume states and statistics)."""
    if not d.active:
        return obj
    box = [obj if d.main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(d: Dist) -> None:
    """Wait for every rank (the feature cache's shards are complete)."""
    if d.active:
        dist.barrier()


def broadcast_float(x: float, d: Dist) -> float:
    """Rank 0's value on every rank (the wall clock that drives the schedule)."""
    if not d.active:
        return x
    t = torch.tensor([x], dtype=torch.float64, device=d.device)
    dist.broadcast(t, src=0)
    return float(t.item())


def all_sum(values: List[float], d: Dist) -> List[float]:
    """Sum of each value over the ranks (epoch statistics)."""
    if not d.active:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=d.device)
    dist.all_reduce(t)
    return t.cpu().tolist()


# ---------------------------------------------------------------------------
# SyncBatchNorm

class CpuSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm whose training statistics are taken over the global batch
    (all ranks), for CPU tensors, as ``nn.SyncBatchNorm`` computes them:
    the per-channel sums, then the sums of squared deviations, all-reduced
    (differentiably, so the backward pass all-reduces their gradients);
    biased variance to normalise, unbiased for the running estimate."""

    def _check_input_dim(self, x):
        if x.dim() < 2:
            raise ValueError("expected at least 2D input (got %dD)" % x.dim())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized()
                and dist.get_world_size() > 1):
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                                self.training or not self.track_running_stats, self.momentum, self.eps)
        from torch.distributed.nn.functional import all_reduce
        dims = [0] + list(range(2, x.dim()))
        count = torch.tensor([float(x.numel() // x.shape[1])], dtype=x.dtype)
        c = x.shape[1]
        shape = [1, c] + [1] * (x.dim() - 2)
        stats = all_reduce(torch.cat([x.sum(dims), count]))
        n = stats[-1]
        mean = stats[:c] / n
        # two passes, as F.batch_norm: E[x^2] - E[x]^2 loses digits when |mean| >> std
        var = all_reduce(((x - mean.view(shape)) ** 2).sum(dims)) / n
        if self.track_running_stats:
            with torch.no_grad():
                m = self.momentum if self.momentum is not None else 0.1
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * (n / (n - 1)), alpha=m)
                self.num_batches_tracked.add_(1)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def convert_sync_bn(model: nn.Module, d: Dist) -> nn.Module:
    """Every BatchNorm of ``model`` synchronised over the ranks: PyTorch's
    SyncBatchNorm on CUDA, :class:`CpuSyncBatchNorm` on CPU (same state
    dict keys, so checkpoints and the export are unchanged)."""
    if d.device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    for name, child in model.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            new = CpuSyncBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                   child.track_running_stats)
            new.load_state_dict(child.state_dict())
            new.train(child.training)
            setattr(model, name, new)
        else:
            convert_sync_bn(child, d)
    return model


# ---------------------------------------------------------------------------
# DDP with a byte counter

class AllReduceCounter:
    """Counts the bytes DDP puts into its gradient all-reduces: its
    ``hook`` is PyTorch's default all-reduce of each bucket, counted."""

    def __init__(self):
        self.bytes = 0
        self.calls = 0

    def hook(self):
        from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook

        def counting_allreduce_hook(state, bucket):
            buf = bucket.buffer()
            self.bytes += buf.numel() * buf.element_size()
            self.calls += 1
            return allreduce_hook(state, bucket)
        return counting_allreduce_hook


def wrap_ddp(model: nn.Module, d: Dist):
    """(module to train, gradient byte counter or None)."""
    if not d.active:
        return model, None
    from torch.nn.parallel import DistributedDataParallel as DDP
    ids = [d.device.index] if d.device.type == "cuda" else None
    ddp = DDP(model, device_ids=ids)
    counter = AllReduceCounter()
    ddp.register_comm_hook(None, counter.hook())
    return ddp, counter


# ---------------------------------------------------------------------------
# Progress (rank 0)

class Progress:
    """Epoch, step, clips/s and ETA on a terminal: one overwritten line on a
    TTY (every second), a log line every ``every`` seconds otherwise."""

    def __init__(self, enabled: bool, total_steps: int, global_batch: int, every: float = 60.0,
                 stream=None):
        self.enabled = enabled
        self.total = total_steps
        self.batch = global_batch
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every = 1.0 if self.tty else every
        self.t0 = time.time()
        self.last = self.t0
        self.steps = 0
        self.prog0 = None

    def step(self, epoch: int, epochs: int, step: int, prog: float) -> None:
        self.steps += 1
        if self.prog0 is None:
            self.prog0 = prog
        now = time.time()
        if not self.enabled or now - self.last < self.every:
            return
        self.last = now
        el = now - self.t0
        rate = self.steps * self.batch / max(el, 1e-9)
        done = prog - self.prog0
        eta = el / done * (1.0 - prog) if done > 0 else float("nan")
        line = "epoch %d/%d step %d/%d  %.1f clips/s  ETA %s" % (
            epoch + 1, epochs, step, self.total, rate, _hms(eta))
        if self.tty:
            self.stream.write("\r" + line + "   ")
        else:
            self.stream.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), line))
        self.stream.flush()

    def end_line(self) -> None:
        if self.enabled and self.tty and self.steps:
            self.stream.write("\n")
            self.stream.flush()


def _hms(s: float) -> str:
    if s != s or s == float("inf"):
        return "?"
    s = int(s)
    return "%d:%02d:%02d" % (s // 3600, s // 60 % 60, s % 60)
