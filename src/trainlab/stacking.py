"""Several runs trained as one stacked model (``training/stacked.py``), each ending as an ordinary run directory.

Every member's config goes through the same ``as_config`` and ``build.setup`` a single run gets (so
its initial weights, data split and epoch orders are those of ``trainlab train`` with that config),
its Trainer is made by ``build.assemble`` with the config's callbacks (metrics.csv, checkpoint.pt,
early stopping, NaN guard), and each member is a ``session.RunSession`` (claimed run directory,
summary.json, model.safetensors and the report, as for a single run). ``trainlab runs``, ``show``,
``compare`` and ``train --resume`` treat the members like any run. Used by ``trainlab.compare``
(docs/compare.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trainlab.build import Setup, assemble, make_trainer, setup, stack_fits, why_alone
from trainlab.config import Config, as_config
from trainlab.data.memo import DataCache
from trainlab.errors import NotStackable
from trainlab.runs.rundir import Run, run_name
from trainlab.runs.summary import Summary
from trainlab.session import RunSession, now
from trainlab.training.callbacks import Interrupt
from trainlab.training.callbacks.interrupt import catch_signals
from trainlab.training.loop import Callback, Trainer
from trainlab.training.stacked import StackedEngine, stack_size


def train_stacked(
    configs: Sequence[Config | dict[str, Any] | str | Path],
    cache: DataCache | None = None,
    callbacks: Sequence[Sequence[Callback]] | None = None,
    handle_signals: bool = True,
    max_stack: int = 0,
) -> list[Run]:
    """Train ``configs`` as stacked models; returns each member's Run, in the order given.

    Raises ``NotStackable`` (before any run directory exists) when they cannot train together: the
    message says why. ``callbacks[i]``: extra callbacks for member i (their ``epoch_end`` sees the
    member's metrics as in a single run; no ``batch_end`` is sent). With ``handle_signals``, Ctrl-C /
    SIGTERM stop every member after the current step with a checkpoint each (status ``interrupted``).
    ``max_stack``: members per stacked model (0: ``training.stacked.stack_size``, from the model's
    size: a stack whose working set outgrows the cache was measured slower, BENCHMARKS.md).
    """
    cfgs = [as_config(c) for c in configs]
    reason = why_alone(cfgs) if len(cfgs) > 1 else "a single run"
    if reason is not None:
        raise NotStackable(f"cannot stack these {len(cfgs)} runs: {reason}")
    first = setup(cfgs[0], cache=cache)
    size = min(max_stack or stack_size(make_trainer(first)), stack_fits(first))  # K members hold K models
    runs: list[Run] = []
    for start in range(0, len(cfgs), size):  # one stack's members built at a time: their data sets, models
        chunk = (
            [first, *(setup(c, cache=cache) for c in cfgs[1:size])]
            if start == 0
            else [setup(c, cache=cache) for c in cfgs[start : start + size]]
        )
        extra = (
            [list(callbacks[i]) for i in range(start, start + len(chunk))]
            if callbacks is not None
            else [[] for _ in chunk]
        )
        reason = why_alone([s.config for s in chunk], [make_trainer(s) for s in chunk]) if len(chunk) > 1 else None
        if reason is not None and start == 0:
            raise NotStackable(f"cannot stack these {len(cfgs)} runs: {reason}")
        if (
            len(chunk) == 1 or reason is not None
        ):  # a lone last member (or, rarely, a later stack found unfit): the ordinary loop
            runs += [_train_alone(s, e, handle_signals) for s, e in zip(chunk, extra, strict=True)]
        else:
            runs += _train_group(chunk, extra, handle_signals, len(cfgs))
        if start + size < len(cfgs) and any(r.summary.get("status") == "interrupted" for r in runs[start:]):
            raise KeyboardInterrupt(f"stopped: {len(cfgs) - start - size} stacked runs were not started")
    return runs


def _start(session: RunSession, s: Setup, extra: list[Callback], stacked: int) -> Trainer:
    """A member's Trainer and first files in its session's (claimed) run directory, as ``runner.train`` makes them."""
    trainer = assemble(s, session.run_dir, [*extra, Interrupt(session.run_dir, s.config.to_dict())])
    summary = Summary(started=now(), header=trainer.facts.header)
    if stacked:
        summary.stacked = {"runs": stacked}
    session.begin(summary, trainer, config=s.config, preprocess=s.data.preprocess_state)
    return trainer


def _session(s: Setup, handle_signals: bool) -> RunSession:
    """A member's run: a new run directory, claimed."""
    return RunSession.create(s.config.output.dir, run_name(s.config), handle_signals)


def _train_alone(s: Setup, extra: list[Callback], handle_signals: bool) -> Run:
    """One member left over: trained by its own Trainer's loop."""
    with _session(s, handle_signals) as session:
        trainer = _start(session, s, extra, 0)
        interrupt = next(c for c in trainer.callbacks if isinstance(c, Interrupt))
        with catch_signals(interrupt) if handle_signals else contextlib.nullcontext():
            trainer.fit()
        return _end(session, s, trainer)


def _train_group(setups: list[Setup], callbacks: list[list[Callback]], handle_signals: bool, total: int) -> list[Run]:
    """Members trained as one stacked model, each ended as ``runner.train`` ends a run.

    Each member's session sees any exception that leaves this function (its exit writes the member's true
    status: a stop during member i's final evaluation leaves the members after it ``interrupted``, not running).
    """
    members: list[tuple[Setup, Trainer, RunSession]] = []
    with contextlib.ExitStack() as sessions:
        for s, extra in zip(setups, callbacks, strict=True):
            session = sessions.enter_context(_session(s, handle_signals))
            members.append((s, _start(session, s, extra, len(setups)), session))
        plain = all(s.config.loss.name == "cross_entropy" for s in setups)  # the resolved name: no smoothing or weights
        stacked = StackedEngine([m[1] for m in members], plain_cross_entropy=plain)
        stacked.interrupt = Interrupt(None, {})
        with catch_signals(stacked.interrupt) if handle_signals else contextlib.nullcontext():
            stacked.fit()
        runs = []
        for s, trainer, session in members:
            # the group's training time; runs stacked in all
            session.summary.stacked = {"runs": len(setups), "seconds": round(stacked.seconds, 3), "of": total}
            runs.append(_end(session, s, trainer))
        return runs


def _end(session: RunSession, s: Setup, trainer: Trainer) -> Run:
    """A member after training: as ``runner.train`` ends a run (interrupted, or final summary, weights and report);
    a stop signal while drawing its report stops the rest too."""
    return session.conclude(s, trainer, trainer.facts.interrupted_by, reraise_report=True)
