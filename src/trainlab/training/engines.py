"""How a Trainer's step runs: one engine interface, chosen once by the builder (``build.engine_for``).

The loop (``training/loop.py``) is one; an engine says how its step is spread. ``Engine`` is the
base (a declaration of what the engine cannot train); ``Single`` is the single-process step: the
model the step calls, the part of each batch this process trains on, the epoch's sums,
evaluation's outputs and how an event's handlers run. ``DataParallel`` is the same step under
torchrun (DDP's forward, a shard of each global batch, sums all-reduced, outputs all-gathered,
every rank stopping at the same step; ``training/distributed.py`` holds the collectives). The
stacked engine (``training/stacked.StackedEngine``) trains several members' Trainers as one model.

Each engine *declares* what it supports: ``UNSUPPORTED`` is a tuple of ``Unsupported`` (a test on a
config and the reason), which ``why_not(cfg)`` reads. The single and data-parallel steps run every
config; the builder asks the stacked engine once (``build.why_alone``) instead of each caller
keeping its own list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.distributed as dist
from torch import nn

from trainlab.config import Config
from trainlab.training import distributed
from trainlab.training.distributed import World
from trainlab.training.events import StopTraining

Handler = Callable[[Any], None]


@dataclass(frozen=True)
class Unsupported:
    """A feature an engine cannot run: ``test(cfg)`` is True for a config that uses it, ``reason(cfg)`` says which."""

    test: Callable[[Config], bool]
    reason: Callable[[Config], str]


class Engine:
    """An engine: how runs' steps are carried out, and its declaration of what it cannot train."""

    name: ClassVar[str] = "engine"
    UNSUPPORTED: ClassVar[tuple[Unsupported, ...]] = ()

    @classmethod
    def why_not(cls, cfg: Config) -> str | None:
        """Why this engine cannot train ``cfg`` (its first declared unsupported feature), or None."""
        return next((u.reason(cfg) for u in cls.UNSUPPORTED if u.test(cfg)), None)


class Single(Engine):
    """The Trainer's own step in one process: the interface the loop calls for every step and event.

    It supports every config (``UNSUPPORTED`` is empty)."""

    name = "single"

    def module(self, model: nn.Module) -> nn.Module:
        """The module the training step calls (checkpoints and evaluation use ``model`` itself)."""
        return model

    def shard(self, idx: torch.Tensor) -> tuple[torch.Tensor, float]:
        """This process's part of a batch of indices and the scale of its loss (1: the whole batch)."""
        return idx, 1.0

    def reduce(self, trainer: Any) -> None:
        """Make the epoch's training sums (``loss_sum``, ``l1_sum``, ``correct``, ``seen``) the whole epoch's."""

    def outputs(self, outputs: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """Every row's outputs for a split, from ``outputs`` (the trainer's local evaluation)."""
        return outputs(x)

    def fire(self, trainer: Any, event: str, handlers: Sequence[Handler]) -> None:
        """Run an event's handlers, in order; a ``StopTraining`` from one ends the event."""
        for handler in handlers:
            handler(trainer)

    @property
    def sharded(self) -> bool:
        """Whether each process trains on part of every batch (data-parallel)."""
        return False


SINGLE_ENGINE = Single()
STOP_EVENTS = ("batch_end", "epoch_end")  # the events whose StopTraining every rank must agree on


class DataParallel(Single):
    """The Trainer's step across torchrun's processes (docs/distributed.md).

    Every rank draws the same permutation and trains its shard of each global batch through the
    DDP-wrapped model; the epoch's sums are all-reduced and evaluation's outputs all-gathered, so
    every rank reports the single-process metrics. At ``batch_end`` and ``epoch_end`` a stop signal
    any rank received is shared first, and a ``StopTraining`` raised on some ranks is held until the
    event's handlers are done, then agreed, so every rank stops at the same step.
    """

    name = "data-parallel"

    def __init__(self, world: World, model: nn.Module, device: torch.device, interrupt: Any = None):
        self.world = world
        self.ddp = distributed.wrap(model, device)
        self.part = distributed.shard(world)
        self.gather = distributed.gather_outputs(world, model)
        self.interrupt = interrupt  # the rank's Interrupt callback (its stop signal is shared), or None

    def module(self, model: nn.Module) -> nn.Module:
        """The DDP-wrapped model: it averages the gradients across ranks."""
        return self.ddp

    def shard(self, idx: torch.Tensor) -> tuple[torch.Tensor, float]:
        """This rank's strided part of the global batch and its loss scale (``distributed.shard``)."""
        return self.part(idx)

    def reduce(self, trainer: Any) -> None:
        """All-reduce the epoch's sums (one collective per epoch)."""
        distributed.reduce_sums(trainer)

    def outputs(self, outputs: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """This rank's rows of the split, all-gathered (a collective every rank calls)."""
        return self.gather(outputs, x)

    @property
    def sharded(self) -> bool:
        """True: each rank trains on its part of every batch."""
        return True

    def fire(self, trainer: Any, event: str, handlers: Sequence[Handler]) -> None:
        """The handlers, with the ranks agreeing on a stop at ``batch_end`` and ``epoch_end``."""
        if event not in STOP_EVENTS:
            super().fire(trainer, event, handlers)
            return
        self._share_signal(trainer)
        pending: StopTraining | None = None
        for handler in handlers:
            try:
                handler(trainer)
            except StopTraining as exc:
                pending = exc  # a handler stopped this rank: the rest of the event is skipped, as without DDP
                break
        self._agree(trainer, pending)

    def _share_signal(self, trainer: Any) -> None:
        """A stop signal any rank received, requested on every rank (so each ``Interrupt`` stops at this step)."""
        if self.interrupt is None:
            return
        signum = self.interrupt.signum or 0
        flag = torch.tensor([signum], dtype=torch.int64, device=trainer.device)  # NCCL needs CUDA tensors
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        if flag.item() and self.interrupt.signum is None:
            self.interrupt.request(int(flag.item()))

    def _agree(self, trainer: Any, pending: StopTraining | None) -> None:
        """Raise on every rank the stop of the lowest rank that stopped, if any did (two small collectives)."""
        flag = torch.tensor([1 if pending is not None else 0], dtype=torch.int64, device=trainer.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        if not flag.item():
            return
        stops: list[Any] = [None] * self.world.size
        mine = (pending.reason, pending.status) if pending is not None else None
        dist.all_gather_object(stops, mine)
        first = next(s for s in stops if s is not None)  # the lowest rank that stopped speaks for all
        raise StopTraining(first[0], status=first[1])
