"""Several runs trained as one stacked model (``training/stacked.py``), each ending as an ordinary run directory.

Every member's config goes through the same ``as_config`` and ``build.setup`` a single run gets (so
its initial weights, data split and epoch orders are those of ``trainlab train`` with that config),
its Trainer is made by ``build.assemble`` with the config's callbacks (metrics.csv, checkpoint.pt,
early stopping, NaN guard), and after training the runner's own helpers write summary.json,
model.safetensors and the report. ``trainlab runs``, ``show``, ``compare`` and ``train --resume``
treat the members like any run. Used by ``trainlab.compare`` (docs/compare.md).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trainlab.atomic import write_json, write_text
from trainlab.build import Setup, assemble, make_trainer, setup, why_alone
from trainlab.config import Config, as_config
from trainlab.data.memo import DataCache
from trainlab.errors import NotStackable
from trainlab.report import report_at_end
from trainlab.runner import _finish
from trainlab.runs.lock import claim, release
from trainlab.runs.rundir import CONFIG, SUMMARY, Run, create_run_dir, run_name
from trainlab.runs.summary import write_summary_best_effort
from trainlab.runs.weights import save_preprocess
from trainlab.training.callbacks import Interrupt
from trainlab.training.callbacks.interrupt import catch_signals, raise_on_signals
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
    size = max_stack or stack_size(make_trainer(first))
    runs: list[Run] = []
    for start in range(0, len(cfgs), size):  # one stack's members built at a time: their data sets, models
        chunk = [first, *(setup(c, cache=cache) for c in cfgs[1:size])] if start == 0 else [setup(c, cache=cache) for c in cfgs[start : start + size]]
        extra = [list(callbacks[i]) for i in range(start, start + len(chunk))] if callbacks is not None else [[] for _ in chunk]
        reason = why_alone([s.config for s in chunk], [make_trainer(s) for s in chunk]) if len(chunk) > 1 else None
        if reason is not None and start == 0:
            raise NotStackable(f"cannot stack these {len(cfgs)} runs: {reason}")
        if len(chunk) == 1 or reason is not None:  # a lone last member (or, rarely, a later stack found unfit): the ordinary loop
            runs += [_train_alone(s, e, handle_signals) for s, e in zip(chunk, extra, strict=True)]
        else:
            runs += _train_group(chunk, extra, handle_signals, len(cfgs))
        if start + size < len(cfgs) and any(r.summary.get("status") == "interrupted" for r in runs[start:]):
            raise KeyboardInterrupt(f"stopped: {len(cfgs) - start - size} stacked runs were not started")
    return runs


def _start(s: Setup, extra: list[Callback], stacked: int) -> tuple[Setup, Trainer, Path, dict[str, Any]]:
    """A member's run directory (claimed), Trainer and first files, as ``runner.train`` makes them."""
    run_dir = create_run_dir(s.config.output.dir, run_name(s.config))
    claim(run_dir)
    trainer = assemble(s, run_dir, [*extra, Interrupt(run_dir, s.config.to_dict())])
    summary: dict[str, Any] = {"status": "running", "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "header": trainer.facts.header}
    if stacked:
        summary["stacked"] = {"runs": stacked}
    write_text(run_dir / CONFIG, s.config.to_yaml())
    save_preprocess(run_dir, s.data.preprocess_state)
    write_json(run_dir / SUMMARY, summary)
    return s, trainer, run_dir, summary


def _train_alone(s: Setup, extra: list[Callback], handle_signals: bool) -> Run:
    """One member left over: trained by its own Trainer's loop."""
    s, trainer, run_dir, summary = _start(s, extra, 0)
    try:
        try:
            with catch_signals(next(c for c in trainer.callbacks if isinstance(c, Interrupt))) if handle_signals else contextlib.nullcontext():
                trainer.fit()
        except BaseException as exc:
            summary.update(status="interrupted" if isinstance(exc, KeyboardInterrupt) else "failed", error=str(exc)[:500], epochs=trainer.epoch, steps=trainer.step)
            write_summary_best_effort(run_dir / SUMMARY, summary)
            raise
        return _end(s, trainer, run_dir, summary, handle_signals)
    finally:
        release(run_dir)


def _train_group(setups: list[Setup], callbacks: list[list[Callback]], handle_signals: bool, total: int) -> list[Run]:
    """Members trained as one stacked model, each ended as ``runner.train`` ends a run."""
    members: list[tuple[Setup, Trainer, Path, dict[str, Any]]] = []
    try:
        for s, extra in zip(setups, callbacks, strict=True):
            members.append(_start(s, extra, len(setups)))
        plain = all(s.config.loss.name == "cross_entropy" for s in setups)  # the resolved name: no smoothing or weights
        stacked = StackedEngine([m[1] for m in members], plain_cross_entropy=plain)
        stacked.interrupt = Interrupt(None, {})
        try:
            with catch_signals(stacked.interrupt) if handle_signals else contextlib.nullcontext():
                stacked.fit()
        except BaseException as exc:
            for _, trainer, run_dir, summary in members:
                if trainer.status in ("failed", "running"):
                    summary.update(status="interrupted" if isinstance(exc, KeyboardInterrupt) else "failed", error=str(exc)[:500], epochs=trainer.epoch, steps=trainer.step)
                    write_summary_best_effort(run_dir / SUMMARY, summary)
            raise
        runs = []
        for s, trainer, run_dir, summary in members:
            summary["stacked"].update(seconds=round(stacked.seconds, 3), of=total)  # the group's training time; runs stacked in all
            runs.append(_end(s, trainer, run_dir, summary, handle_signals))
        return runs
    finally:
        for _, _, run_dir, _ in members:
            release(run_dir)


def _end(s: Setup, trainer: Trainer, run_dir: Path, summary: dict[str, Any], handle_signals: bool) -> Run:
    """A member after training: as ``runner.train`` ends a run (interrupted, or final summary, weights and report)."""
    cfg = s.config
    if trainer.status == "interrupted":
        summary.update(status="interrupted", stop_reason=trainer.stop_reason, interrupted_by=trainer.facts.interrupted_by,
                       epochs=trainer.epoch, steps=trainer.step, fit_seconds=round(trainer.fit_seconds, 3))
        write_json(run_dir / SUMMARY, summary)
        return Run(run_dir, cfg, summary, trainer.history, s.model)
    _finish(s, trainer, run_dir, summary, handle_signals)
    if cfg.output.report:  # after the summary, so a finished run is complete even if drawing fails
        with raise_on_signals() if handle_signals else contextlib.nullcontext():
            summary["report_seconds"] = round(report_at_end(run_dir, trainer), 3)
            write_json(run_dir / SUMMARY, summary)
    return Run(run_dir, cfg, summary, trainer.history, s.model)
