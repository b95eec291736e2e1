"""Data-parallel training across processes: the world, its process group, the batch shards, and
stopping every rank together.

Started by ``torchrun`` (or ``trainlab train --nproc N``), every rank builds the same model from the
same seed and draws the same epoch permutation; each takes its shard of every *global* batch
(``optim.batch_size``), DistributedDataParallel averages the gradients, and each rank's loss is
scaled by ``shard * world / batch``, so the step equals the single-process step on the whole batch
(up to the order of floating-point sums) even when the batch does not divide evenly. Training sums
are all-reduced at the end of each epoch; every rank evaluates the whole validation and test split
on identical weights, so metrics agree without communication. With a world of one nothing here
runs: the single-process hot path has no extra synchronization.
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

from trainlab.errors import TrainlabError
from trainlab.training.events import StopTraining

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
        world = World(int(env.get("RANK", "0")), size, int(env.get("LOCAL_RANK", "0")), int(env.get("LOCAL_WORLD_SIZE", size)))
    except ValueError:
        raise TrainlabError(f"torchrun environment is not numeric: {', '.join(f'{k}={env.get(k)!r}' for k in ENV)}") from None
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
    buf = torch.stack([t.loss_sum.double(), t.l1_sum.double(), t.correct.double(), torch.tensor(float(t.seen), dtype=torch.float64, device=t.loss_sum.device)])
    dist.all_reduce(buf)
    t.loss_sum.copy_(buf[0])
    t.l1_sum.copy_(buf[1])
    t.correct.copy_(buf[2].round().long())
    t.seen = int(buf[3].round().item())


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


STOP_EVENTS = ("batch_end", "epoch_end")


def stop_together(trainer: Any, world: World, interrupt: Any = None) -> None:
    """Make every rank stop at the same step: the stop signal and any callback's ``StopTraining``
    are agreed by an all-reduce at each step and epoch end, and then every rank raises it.

    Before the handlers run, a stop signal any rank received is shared, so each rank's ``Interrupt``
    stops at the same step (rank 0 writes the checkpoint). A ``StopTraining`` raised by a handler on
    some ranks (NaN guard, early stopping) is held until the event's handlers are done; then the
    ranks exchange it (two small collectives per step, only when the world has more than one)."""
    hooks = trainer._hooks
    for event in STOP_EVENTS:
        pending: list[StopTraining] = []

        def guard(h: Callable[[Any], None], pending: list[StopTraining] = pending) -> Callable[[Any], None]:
            def run(tr: Any) -> None:
                if pending:
                    return  # a handler already stopped this rank: the rest of the event is skipped, as without DDP
                try:
                    h(tr)
                except StopTraining as exc:
                    pending.append(exc)
            return run

        def share_signal(tr: Any) -> None:
            if interrupt is None:
                return
            flag = torch.tensor([interrupt.signum or 0], dtype=torch.int64, device=tr.device)  # NCCL needs CUDA tensors
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            if flag.item() and interrupt.signum is None:
                interrupt.request(int(flag.item()))

        def agree(tr: Any, pending: list[StopTraining] = pending) -> None:
            flag = torch.tensor([1 if pending else 0], dtype=torch.int64, device=tr.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            if not flag.item():
                return
            stops: list[Any] = [None] * world.size
            mine = (pending[0].reason, pending[0].status) if pending else None
            dist.all_gather_object(stops, mine)
            pending.clear()
            first = next(s for s in stops if s is not None)  # the lowest rank that stopped speaks for all
            raise StopTraining(first[0], status=first[1])

        hooks[event] = [share_signal, *(guard(h) for h in hooks[event]), agree]


def lost_peer(exc: BaseException) -> bool:
    """Whether an exception says another process of the job died (a collective lost its peer)."""
    if isinstance(exc, getattr(dist, "DistError", ())):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and any(k in text for k in ("Connection closed", "Connection reset", "Gloo", "NCCL", "ProcessGroup", "Broken pipe"))
