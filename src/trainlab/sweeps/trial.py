"""Train one trial (its run, or one run per cv fold) or a stacked batch of trials, and say how each ended.

A trial's config is the base config with the trial's drawn values (``base.replace(**values)``); it
trains with ``runner.train(..., callbacks=[Pruning(trial)], data=...)`` (data through the worker's
``DataCache``: one data set or the folds of ``cv.py``), or, for a batch, as one stacked model
(``stacking.train_stacked``) when the configs allow it (``build.why_alone``), else
one by one. Each trial ends in an ``Outcome`` (COMPLETE, PRUNED or FAIL, the value, the attributes
to store) that the worker loop tells Optuna.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainlab.build import resolve_device, why_alone
from trainlab.config import Config
from trainlab.data.dataset import Dataset
from trainlab.data.memo import DataCache, data_key
from trainlab.errors import TrainlabError
from trainlab.runner import train
from trainlab.runs.rundir import Run
from trainlab.stacking import train_stacked
from trainlab.sweeps.cv import fold_datasets
from trainlab.sweeps.preset import SweepSpec
from trainlab.sweeps.records import worker_id
from trainlab.training.callbacks import Pruning


def trial_data(cache: DataCache, cfg: Config, cv: int) -> list[Dataset]:
    """The data sets a trial trains on: one (its own validation split) or ``cv`` folds, through the
    shared cache, so consecutive trials on the same data skip loading."""
    device = resolve_device(cfg.device)
    if cv:
        return cache.get(data_key(cfg.data, cfg.seed, device, f"cv{cv}"), lambda: fold_datasets(cfg, cv, device))
    return [cache.dataset(cfg.data, cfg.seed, device)]


@dataclass
class Outcome:
    """How a trial ended: Optuna state name, objective value, reason, and attributes to store."""

    state: str  # COMPLETE, PRUNED or FAIL
    value: float | None
    attrs: dict[str, Any]


def _objective_value(history: list[dict[str, float]], objective: str, patience: int, maximize: bool) -> float:
    """The objective of a finished run: its last epoch, or its best one when early stopping restored it."""
    values = [m[objective] for m in history if objective in m]
    if not values:
        raise TrainlabError(f"the run recorded no {objective}; it needs a validation split")
    if patience:
        return max(values) if maximize else min(values)
    return values[-1]


def run_trial(
    trial: Any,
    spec: SweepSpec,
    base: Config,
    sweep_dir: Path,
    cache: DataCache,
    threads: int | None = None,
    callbacks: tuple = (),
) -> Outcome:
    """Train the trial's config (once, or once per fold) and say how it ended."""

    values = {key: p.suggest(trial) for key, p in spec.params().items()}
    trial.set_user_attr("config", values)
    trial.set_user_attr("worker", worker_id())
    updates: dict[str, Any] = {**values, "output.dir": str(sweep_dir / "runs")}
    if threads:
        updates["threads"] = threads
    try:
        cfg = base.replace(**updates)
        folds = trial_data(cache, cfg, spec.cv)
    except TrainlabError as exc:
        return Outcome("FAIL", None, {"reason": f"config: {exc}"})
    fold_values: list[float] = []
    run_dirs: list[str] = []
    tests: list[float] = []
    attrs: dict[str, Any] = {"run_dirs": run_dirs}
    start = time.perf_counter()
    for i, data in enumerate(folds):
        name = f"trial-{trial.number:04d}" + (f"-fold{i + 1}" if spec.cv else "")
        pruning = Pruning(trial, spec.objective, offset=i * cfg.train.epochs, prune=not spec.pruner.startswith("none"))
        try:
            run = train(
                cfg.replace(**{"output.name": name}), callbacks=[pruning, *callbacks], data=data, progress=False
            )
        except TrainlabError as exc:
            attrs.update(reason=f"{name}: {exc}", seconds=round(time.perf_counter() - start, 2))
            return Outcome("FAIL", None, attrs)
        judged = _judge(run, name, spec, cfg, attrs, tests, start)
        if isinstance(judged, Outcome):
            return judged
        fold_values.append(judged)
    return _complete(spec, attrs, fold_values, tests, start)


def _judge(
    run: Run, name: str, spec: SweepSpec, cfg: Config, attrs: dict[str, Any], tests: list[float], start: float
) -> Outcome | float:
    """A trial's finished run: its objective value, or the Outcome that ends the trial (pruned, failed)."""
    attrs["run_dirs"].append(str(run.path))
    status, reason = run.summary.get("status"), run.summary.get("stop_reason", "")
    attrs["epochs"] = attrs.get("epochs", 0) + run.summary.get("epochs", 0)
    if "test_accuracy" in run.summary:
        tests.append(run.summary["test_accuracy"])
    if status == "interrupted":  # Ctrl-C / SIGTERM stopped the run safely: stop the sweep too
        raise KeyboardInterrupt(reason)
    if status in ("pruned", "diverged"):
        attrs.update(reason=reason, seconds=round(time.perf_counter() - start, 2))
        return Outcome("PRUNED" if status == "pruned" else "FAIL", None, attrs)
    if status != "completed":
        attrs.update(
            reason=f"{name}: run ended with status {status} {reason}".strip(),
            seconds=round(time.perf_counter() - start, 2),
        )
        return Outcome("FAIL", None, attrs)
    value = _objective_value(run.history, spec.objective, cfg.train.patience, spec.direction == "maximize")
    if not math.isfinite(value):
        attrs.update(reason=f"diverged: {spec.objective}={value}", seconds=round(time.perf_counter() - start, 2))
        return Outcome("FAIL", None, attrs)
    return value


def _complete(
    spec: SweepSpec, attrs: dict[str, Any], fold_values: list[float], tests: list[float], start: float
) -> Outcome:
    """The Outcome of a trial whose every run (or fold) completed."""
    attrs["seconds"] = round(time.perf_counter() - start, 2)
    if tests:
        attrs["test_accuracy"] = statistics.fmean(tests)
    if spec.cv:
        attrs["fold_values"] = fold_values
        attrs["fold_std"] = statistics.pstdev(fold_values)
    return Outcome("COMPLETE", statistics.fmean(fold_values), attrs)


def run_trials_stacked(
    trials: list[Any], spec: SweepSpec, base: Config, sweep_dir: Path, cache: DataCache, threads: int | None = None
) -> list[Outcome]:
    """Train several trials' configs as stacked models (``stacking.train_stacked``) when they allow
    it, else one by one (``run_trial``); one Outcome per trial, in order."""
    cfgs: list[Config] = []
    for trial in trials:
        values = {key: p.suggest(trial) for key, p in spec.params().items()}  # (already drawn: the stored values)
        trial.set_user_attr("config", values)
        trial.set_user_attr("worker", worker_id())
        updates: dict[str, Any] = {
            **values,
            "output.dir": str(sweep_dir / "runs"),
            "output.name": f"trial-{trial.number:04d}",
        }
        if threads:
            updates["threads"] = threads
        try:
            cfgs.append(base.replace(**updates))
        except TrainlabError as exc:
            # each fails with its own reason
            return _one_by_one(trials, f"a trial's config is invalid ({exc})", spec, base, sweep_dir, cache, threads)
    reason = why_alone(cfgs) if len(cfgs) > 1 else "a single trial"
    if reason is None:
        start = time.perf_counter()
        prune = not spec.pruner.startswith("none")
        try:
            pruning = [[Pruning(t, spec.objective, prune=prune)] for t in trials]
            runs = train_stacked(cfgs, cache=cache, callbacks=pruning)
        except TrainlabError as exc:  # NotStackable (found when built) or a failed group: one by one
            reason = str(exc)
        else:
            outcomes = []
            for trial, cfg, run in zip(trials, cfgs, runs, strict=True):
                trial.set_user_attr("stacked", len(trials))
                attrs: dict[str, Any] = {"run_dirs": []}
                tests: list[float] = []
                judged = _judge(run, run.path.name, spec, cfg, attrs, tests, start)
                if not isinstance(judged, Outcome):
                    judged = _complete(spec, attrs, [judged], tests, start)
                outcomes.append(judged)
            return outcomes
    return _one_by_one(trials, f"its batch could not stack: {reason}", spec, base, sweep_dir, cache, threads)


def _one_by_one(
    trials: list[Any], why: str, spec: SweepSpec, base: Config, sweep_dir: Path, cache: DataCache, threads: int | None
) -> list[Outcome]:
    """Train each trial on its own (``run_trial``), recording ``why`` in its ``alone`` attribute."""
    for t in trials:
        t.set_user_attr("alone", why)
    return [run_trial(t, spec, base, sweep_dir, cache, threads) for t in trials]
