"""Data-parallel training across processes: the world, its process group, the batch shards, and
stopping every rank together.

``training/engines.DataParallel`` is the engine the Trainer calls for its step (forward, shard,
reduce, gather, stopping together); this module holds the world and the collectives it uses.

Started by ``torchrun`` (or ``trainlab train --nproc N``), every rank builds the same model from the
same seed and draws the same epoch permutation; each takes its shard of every *global* batch
(``optim.batch_size``), DistributedDataParallel averages the gradients, and each rank's loss is
scaled by ``shard * world / batch``, so the step equals the single-process step on the whole batch
(up to the order of floating-point sums) even when the batch does not divide evenly. Training sums
are all-reduced at the end of each epoch. Evaluation (validation each epoch, the final test and
train figures) is sharded: each rank computes the outputs of its contiguous part of the split and
the parts are all-gathered, so every rank computes the single-process metrics from the same
outputs (any loss, class weights included; the confusion matrix; regression's R²). With a world of
one nothing here runs: the single-process hot path has no extra synchronization.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from trainlab.errors import ConfigError, TrainlabError

ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")  # set by torchrun for every process it starts
TIMEOUT = datetime.timedelta(minutes=10)  # a collective waiting longer than this ends the job


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (rank 0 writes the run directory)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1  # processes on this machine (they share its cores)

    @property
    def main(self) -> bool:
        """Whether this process writes files and prints (rank 0)."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        """Whether there is more than one process."""
        return self.size > 1


SINGLE = World()


def world_from_env(environ: dict[str, str] | None = None) -> World:
    """The world torchrun describes in RANK / WORLD_SIZE / LOCAL_RANK (one process when unset)."""
    env = os.environ if environ is None else environ
    if "WORLD_SIZE" not in env:
        return SINGLE
    try:
        size = int(env["WORLD_SIZE"])
        world = World(
            int(env.get("RANK", "0")), size, int(env.get("LOCAL_RANK", "0")), int(env.get("LOCAL_WORLD_SIZE", size))
        )
    except ValueError:
        raise TrainlabError(
            f"torchrun environment is not numeric: {', '.join(f'{k}={env.get(k)!r}' for k in ENV)}"
        ) from None
    if world.size < 1 or not 0 <= world.rank < world.size:
        raise TrainlabError(f"torchrun environment is inconsistent: RANK={world.rank} WORLD_SIZE={world.size}")
    return world


def start(world: World, device: torch.device) -> torch.device:
    """Join the process group (NCCL on CUDA, gloo on CPU); returns this rank's device."""
    if device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, rank=world.rank, world_size=world.size, timeout=TIMEOUT)
    return device


def stop(together: bool = False) -> None:
    """Leave the process group (if this process joined one); ``together``: after a barrier, so no
    rank tears its group down while another still writes its files (measured: a rank leaving alone
    sometimes aborted at exit, "terminate called without an active exception", SIGABRT)."""
    if dist.is_available() and dist.is_initialized():
        if together:
            dist.barrier()
        dist.destroy_process_group()


def broadcast(value: Any, world: World) -> Any:
    """Rank 0's ``value`` on every rank (the run directory's path, say); one collective."""
    if not world.active:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def shard(world: World) -> Callable[[torch.Tensor], tuple[torch.Tensor, float]]:
    """This rank's part of each global batch of indices and the loss scale that makes the averaged
    gradient equal the whole batch's: ``len(part) * world / len(batch)``. A rank left without
    examples (a last batch smaller than the world) trains on one example with scale 0, because
    every rank must take part in each gradient all-reduce."""

    def part(idx: torch.Tensor) -> tuple[torch.Tensor, float]:
        mine = idx[world.rank :: world.size]  # strided: shard sizes differ by at most one
        if len(mine) == 0:
            return idx[:1], 0.0
        return mine, len(mine) * world.size / len(idx)

    return part


def reduce_sums(trainer: Any) -> None:
    """All-reduce the epoch's training sums (loss, L1, correct, examples seen) so every rank reports
    the whole epoch's train metrics: one collective per epoch."""
    t = trainer
    buf = torch.stack(
        [
            t.loss_sum.double(),
            t.l1_sum.double(),
            t.correct.double(),
            torch.tensor(float(t.seen), dtype=torch.float64, device=t.loss_sum.device),
        ]
    )
    dist.all_reduce(buf)
    t.loss_sum.copy_(buf[0])
    t.l1_sum.copy_(buf[1])
    t.correct.copy_(buf[2].round().long())
    t.seen = int(buf[3].round().item())


def rows(n: int, world: World) -> list[tuple[int, int]]:
    """Each rank's contiguous part ``(start, end)`` of ``n`` rows to evaluate; sizes differ by at most one."""
    cuts = [r * n // world.size for r in range(world.size + 1)]
    return list(zip(cuts[:-1], cuts[1:]))


def gather_outputs(
    world: World, model: nn.Module
) -> Callable[[Callable[[torch.Tensor], torch.Tensor], torch.Tensor], torch.Tensor]:
    """Outputs for every row of a split, each rank computing only its part (``rows``), then one
    all-gather: every rank gets the outputs the single process computes (up to the order of float
    sums inside the model), from which the usual metrics follow unchanged.

    Outputs rather than metric sums travel (N × outputs floats, 0.4 MB for 10,000 test examples of
    10 classes) because a class-weighted loss's mean is not a sum over shards, and the confusion
    matrix, R² and per-class figures then need no code of their own.

    First rank 0's buffers (BatchNorm's running statistics) are broadcast: without ``train.sync_bn``
    each rank's last training forward updated its own from its shard, and the parts must all be
    computed by the model rank 0 saves."""
    buffers = list(model.buffers())

    def run(outputs: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            for buf in buffers:
                dist.broadcast(buf, src=0)
        parts = rows(len(x), world)
        a, b = parts[world.rank]
        # a rank without rows (a split smaller than the world) computes one stand-in row for the shape
        mine = outputs(x[a:b] if b > a else x[:1])
        longest = max(e - s for s, e in parts)
        with torch.inference_mode():
            pad = mine.new_zeros((longest, *mine.shape[1:]))  # all_gather needs equal sizes: pad
            pad[: b - a] = mine[: b - a]
            got = [torch.empty_like(pad) for _ in parts]
            dist.all_gather(got, pad)
            return torch.cat([g[: e - s] for g, (s, e) in zip(got, parts)])

    return run


def check_sync_bn(sync_bn: bool, device: torch.device, world: World) -> None:
    """Refuse ``train.sync_bn=true`` on data-parallel runs off CUDA, where torch's SyncBatchNorm cannot run:
    its training forward raises for CPU tensors ("SyncBatchNorm expected input tensor to be on GPU").
    One process needs no synchronization, so there the key is accepted (``trainlab eval`` of a GPU run
    on a CPU machine rebuilds it)."""
    if sync_bn and world.active and device.type != "cuda":
        raise ConfigError(
            f"train.sync_bn=true needs CUDA GPUs (device is {device.type}, {world.size} processes): torch's "
            "SyncBatchNorm "
            f"does not run on {device.type}, where each process normalizes with its own shard's statistics - use "
            "train.sync_bn=false"
        )


def sync_batch_norm(model: nn.Module, world: World) -> nn.Module:
    """``model`` with every BatchNorm layer a SyncBatchNorm (``train.sync_bn``): in training, the
    batch statistics of the whole global batch, all-reduced across ranks, as one process computes them.
    With one process there is nothing to synchronize and the model is returned as it is."""
    if not world.active:
        return model
    return nn.SyncBatchNorm.convert_sync_batchnorm(model)  # keeps the same Parameters and buffers


LAUNCHER_ENV = "TRAINLAB_NPROC_EXIT"  # = cli/train.EXIT_FILE: set by `trainlab train --nproc` for its ranks


def tell_launcher(run_dir: Any, world: World) -> None:
    """Rank 0 names its run directory for ``trainlab train --nproc`` (a file beside the exit-code file),
    so the launcher can say how to resume even when torchrun stopped rank 0 before it could."""
    where = os.environ.get(LAUNCHER_ENV)
    if world.main and where:
        try:
            with open(os.path.join(os.path.dirname(where), "run"), "w", encoding="utf-8") as f:
                f.write(str(run_dir))
        except OSError:
            pass  # only a nicer message depends on it


def after_restore(trainer: Any, world: World) -> None:
    """After a mid-epoch resume, keep the epoch's running sums on rank 0 only: the checkpoint holds
    rank 0's part of them, which the end-of-epoch reduction must count once."""
    if world.main:
        return
    trainer.loss_sum.zero_()
    trainer.l1_sum.zero_()
    trainer.correct.zero_()
    trainer.seen = 0


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """The model DistributedDataParallel-wrapped, for the training step only (checkpoints and
    evaluation use the plain module, so state_dict keys do not change)."""
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def outcomes(trainer: Any, world: World) -> list[dict[str, Any]]:
    """Every rank's end of training (status, epochs, steps), on every rank: summary.json's ``ranks``,
    which shows that they stopped together. One small collective after ``fit``."""
    mine = {"rank": world.rank, "status": trainer.status, "epochs": trainer.epoch, "steps": trainer.step}
    every: list[Any] = [None] * world.size
    dist.all_gather_object(every, mine)
    return every


def lost_peer(exc: BaseException) -> bool:
    """Whether an exception says another process of the job died (a collective lost its peer)."""
    if isinstance(exc, getattr(dist, "DistError", ())):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and any(
        k in text for k in ("Connection closed", "Connection reset", "Gloo", "NCCL", "ProcessGroup", "Broken pipe")
    )
