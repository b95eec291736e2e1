"""The study loop: create or join an Optuna study, run trials as trainlab runs, and tell the results.

A sweep lives in ``sweeps/<name>/``: ``study.db`` (the default SQLite storage), ``sweep.yaml`` (what
was asked), ``runs/trial-NNNN/`` (one run directory per trial), ``sweep.html`` and ``best.yaml``.
The study itself (the spec, the trials, their values and attributes) lives in the storage, so any
process that can reach the storage can join the sweep or resume it: nothing else is shared.

Exactly ``trials`` trials run, however many workers share the study: the creator puts that many
*waiting* trials in Optuna's queue (the grid's combinations for a grid sweep, empty ones otherwise)
and each worker pops them one at a time. Popping is atomic in the storage (row locks in PostgreSQL,
``BEGIN IMMEDIATE`` in SQLite: ``serialize_sqlite``), so a trial never runs twice.
Each running trial records its own heartbeat; a worker that dies stops beating, and the next worker
to look fails its trials (``fail_stale_trials``) and queues each once more with the same parameters
(Optuna's ``RetryFailedTrialCallback``); the failed attempts are not counted. When the queue is empty
a worker waits for the trials still running elsewhere, so the last one out sees the whole sweep
finished and writes the report.

Where the sweep allows it (``stack_reason``: grid or random sampler, no cv, a space of per-run
values), a worker pops a batch of trials and trains them as one stacked model; the batch is its fair
share of the trials left (``fair_share``), so workers sharing the study split the queue instead of
the first one taking it all. Every trial records how it trained (``stacked``: the batch size, or
``alone``: why it trained on its own), which ``trained_line`` sums up.

The sampler is reseeded before every trial from (sweep seed, trial number), so what a trial draws
depends on neither the worker that runs it nor the session: a resumed sweep or a joining worker
continues the sequence instead of replaying it, and the same seed gives the same sweep.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from trainlab.atomic import write_text
from trainlab.build import resolve_device, why_alone
from trainlab.config import Config
from trainlab.data.dataset import Dataset
from trainlab.data.memo import DataCache, data_key
from trainlab.errors import ConfigError, TrainlabError, unknown
from trainlab.registry import parse_spec
from trainlab.runner import train
from trainlab.runs.rundir import Run
from trainlab.stacking import train_stacked
from trainlab.sweeps.cv import fold_datasets
from trainlab.sweeps.preset import SweepSpec
from trainlab.sweeps.space import grid
from trainlab.sweeps.strategies import PRUNERS, SAMPLERS
from trainlab.sweeps.strategies import optuna_module as _optuna
from trainlab.training.callbacks import Pruning
from trainlab.training.stacked import StackedEngine

SPEC_ATTR = "trainlab_sweep"  # study user attribute holding the SweepSpec
HEARTBEAT = 5.0  # seconds between heartbeats of a running trial
GRACE = 30.0  # a running trial without a heartbeat for this long belongs to a dead worker
STACK_TRIALS = 8  # trials taken at once and trained as one stacked model (training/stacked.py) where they allow it

OnTrial = Callable[[Any], None]


def sqlite_url(sweep_dir: Path) -> str:
    """The default storage: an SQLite file inside the sweep's directory."""
    return f"sqlite:///{(sweep_dir / 'study.db').resolve()}"


def mask_url(url: str) -> str:
    """The storage URL without its password, for printing and for sweep.yaml."""
    # optional: Optuna comes with pip install 'trainlab[sweep]'
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy understands: show it as given
        return url


JOURNAL = "journal:"  # --storage journal:PATH: Optuna's journal file, for machines sharing only a filesystem


def make_storage(url: str, heartbeat: float = HEARTBEAT, grace: float | None = None) -> Any:
    """An Optuna storage with heartbeats for dead-worker detection: RDB (SQLite, PostgreSQL) or a
    journal file (``journal:PATH``); a dead worker's trial is retried once with the same parameters."""
    optuna = _optuna()
    grace_s = max(2, round(grace if grace is not None else max(GRACE, 4 * heartbeat)))
    # Optuna 4.9 renamed RetryFailedTrialCallback (deprecated, same behavior) to RetryHeartbeatStaleTrialCallback
    retry_class = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None) or optuna.storages.RetryFailedTrialCallback
    retry = retry_class(max_retry=1)
    if url.startswith(JOURNAL):
        path = Path(url[len(JOURNAL):]).expanduser()
        if not url[len(JOURNAL):] or path.is_dir():
            raise ConfigError(f"storage {url!r}: give a file, e.g. journal:sweeps/NAME/journal.log")
        path.parent.mkdir(parents=True, exist_ok=True)
        store = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
        store._trainlab_heartbeat = (max(1, round(heartbeat)), grace_s, retry)  # read by record_heartbeat, fail_stale_trials
        return store
    if url.startswith(("postgresql://", "postgres://")):  # the driver trainlab[sweep] installs
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    engine: dict[str, Any] = {}
    if url.startswith("sqlite"):
        engine = {"connect_args": {"timeout": 60}}  # local workers share the file: wait on its lock
    else:
        engine = {"pool_pre_ping": True}
    # Optuna 4.9 renamed failed_trial_callback (deprecated) to heartbeat_stale_trial_callback
    params = inspect.signature(optuna.storages.RDBStorage).parameters
    key = "heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback" in params else "failed_trial_callback"
    try:
        store = optuna.storages.RDBStorage(
            url, engine_kwargs=engine, heartbeat_interval=max(1, round(heartbeat)), grace_period=grace_s, **{key: retry},
        )
    except ImportError as exc:
        raise ConfigError(f"storage {mask_url(url)!r} needs a database driver ({exc}); for PostgreSQL: pip install 'trainlab[sweep]'") from None
    except Exception as exc:  # sqlalchemy: bad URL, server down, wrong password
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"cannot open storage {mask_url(url)!r}: {first}") from None
    if url.startswith("sqlite"):
        serialize_sqlite(store.engine)
    return store


def serialize_sqlite(engine: Any) -> None:
    """Make every SQLite transaction take the write lock when it begins (``BEGIN IMMEDIATE``).

    Optuna pops a waiting trial by reading its state and writing RUNNING under ``SELECT ... FOR
    UPDATE``, which SQLite ignores: by default pysqlite begins a transaction only at the first write,
    so two local workers could both read WAITING and both run the same trial (the second then fails
    telling it: ``UpdateFinishedTrialError``). Locking at BEGIN makes each read-then-write atomic
    between processes; the cost is that transactions on the file run one at a time, which a
    handful of local workers never notice. The recipe is SQLAlchemy's (SQLite dialect docs,
    "Serializable isolation")."""
    # optional: SQLAlchemy comes with Optuna (pip install 'trainlab[sweep]')
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _no_implicit_begin(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # pysqlite must not emit its own deferred BEGIN

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections opened while Optuna set up the schema predate the listeners


def trial_reason(trial: Any) -> str:
    """Why a trial did not complete ('' if it did). Workers record a reason with every pruned or
    failed trial; a failed trial without one was failed by ``fail_stale_trials``: its worker died."""
    if trial.state.name in ("COMPLETE", "RUNNING", "WAITING"):
        return ""
    reason = trial.user_attrs.get("reason") or trial.system_attrs.get("fail_reason")
    if reason:
        return str(reason)
    if trial.state.name == "FAIL":
        return f"worker {trial.user_attrs.get('worker', '?')} stopped: no heartbeat (died or killed)"
    return ""


def make_sampler(spec: SweepSpec, worker: int = 0) -> Any:
    """The sampler by name; ``work`` reseeds it before every trial (``trial_seed``), so its draws
    depend on the trial number, not on the worker (``worker`` is kept for callers) or the session."""
    return SAMPLERS.create(spec.sampler, seed=spec.seed, trials=spec.trials or 20)


def trial_seed(seed: int, number: int) -> int:
    """The sampler's seed for trial ``number``: distinct per trial, the same in every process."""
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])


def reseed_sampler(sampler: Any, seed: int) -> None:
    """Reseed an Optuna sampler (and TPE's inner random sampler) in place.

    Optuna's public ``reseed_rng`` draws a fresh random seed; the deterministic seed goes to the
    samplers' ``_rng`` (a LazyRandomState), which tests/sweeps/test_sweep.py checks still exists."""
    for s in (sampler, getattr(sampler, "_random_sampler", None)):
        rng = getattr(s, "_rng", None)
        if rng is not None:
            rng.rng.seed(seed)


def make_pruner(spec: SweepSpec) -> Any:
    """The pruner by name (none, median, asha), given the epochs of one run."""
    return PRUNERS.create(spec.pruner, epochs=int(spec.base.get("train", {}).get("epochs", 10)))


def load_study(name: str, storage: Any, worker: int = 0) -> tuple[Any, SweepSpec]:
    """Open an existing sweep's study and its spec."""
    optuna = _optuna()
    try:
        summaries = optuna.study.get_all_study_summaries(storage, include_best_trial=False)
    except Exception as exc:
        raise ConfigError(f"cannot read studies from the storage: {str(exc).splitlines()[0]}") from None
    names = [s.study_name for s in summaries]
    if name not in names:
        raise unknown("sweep", name, names) if names else ConfigError(f"no sweep {name!r} in this storage (it holds no studies)")
    probe = optuna.load_study(study_name=name, storage=storage)
    if SPEC_ATTR not in probe.user_attrs:
        if not probe.get_trials(deepcopy=False):  # killed between create_study and set_user_attr
            raise ConfigError(f"sweep {name!r} was interrupted while being created; run the command that created it again (same --name) to create it afresh")
        raise ConfigError(f"study {name!r} was not made by trainlab sweep (no {SPEC_ATTR} attribute)")
    spec = SweepSpec.from_dict(probe.user_attrs[SPEC_ATTR])
    study = optuna.load_study(study_name=name, storage=storage, sampler=make_sampler(spec, worker), pruner=make_pruner(spec))
    return study, spec


def create_study(name: str, spec: SweepSpec, storage: Any) -> Any:
    """Create the study, store the spec in it and queue exactly ``spec.trials`` trials."""
    optuna = _optuna()
    try:
        study = optuna.create_study(study_name=name, storage=storage, direction=spec.direction, sampler=make_sampler(spec), pruner=make_pruner(spec))
    except optuna.exceptions.DuplicatedStudyError:
        if unfinished_creation(name, storage):  # a creator killed before storing the spec: start afresh
            optuna.delete_study(study_name=name, storage=storage)
            return create_study(name, spec, storage)
        raise ConfigError(f"a sweep named {name!r} already exists in this storage; continue it with --resume {name} (or --join {name}), or pick another --name") from None
    study.set_user_attr(SPEC_ATTR, spec.to_dict())
    queue(study, spec, spec.trials or 0)
    return study


def unfinished_creation(name: str, storage: Any) -> bool:
    """Whether the study ``name`` is missing, or was left without its spec and trials by a creator that died."""
    try:
        study = _optuna().load_study(study_name=name, storage=storage)
    except KeyError:  # no such study
        return True
    return SPEC_ATTR not in study.user_attrs and not study.get_trials(deepcopy=False)


def replaced_numbers(trials: list[Any]) -> set[int]:
    """Failed trials that run again elsewhere (interrupted ones, and dead workers' retried ones): not counted."""
    out = {t.number for t in trials if t.state.name == "FAIL" and t.user_attrs.get("replaced")}
    for t in trials:
        out.update(t.system_attrs.get("retry_history", []))  # set by Optuna's retry callback
    return out


def queue(study: Any, spec: SweepSpec, total: int) -> int:
    """Add waiting trials until the study holds ``total`` trials that did or will run; returns how many were added."""
    optuna = _optuna()
    s = optuna.trial.TrialState
    trials = study.get_trials(deepcopy=False)
    replaced = replaced_numbers(trials)
    have = len(trials) - len(replaced)
    missing = max(0, total - have)
    if spec.is_grid:
        combos = grid(spec.params())
        done = {tuple(sorted(t.params.items())) for t in trials if t.number not in replaced}
        done |= {tuple(sorted(t.system_attrs.get("fixed_params", {}).items())) for t in trials if t.state == s.WAITING}
        todo = [c for c in combos if tuple(sorted(c.items())) not in done]
        if spec.trials is not None and spec.trials < len(combos) and not trials:
            random.Random(spec.seed).shuffle(todo)  # a seeded subset of the grid
        for params in todo[:missing]:
            study.enqueue_trial(params, skip_if_exists=False)
        return min(missing, len(todo))
    for _ in range(missing):
        study.enqueue_trial({})
    return missing


# -- one trial -------------------------------------------------------------------------------------
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


def run_trial(trial: Any, spec: SweepSpec, base: Config, sweep_dir: Path, cache: DataCache, threads: int | None = None, callbacks: tuple = ()) -> Outcome:
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
            run = train(cfg.replace(**{"output.name": name}), callbacks=[pruning, *callbacks], data=data, progress=False)
        except TrainlabError as exc:
            attrs.update(reason=f"{name}: {exc}", seconds=round(time.perf_counter() - start, 2))
            return Outcome("FAIL", None, attrs)
        judged = _judge(run, name, spec, cfg, attrs, tests, start)
        if isinstance(judged, Outcome):
            return judged
        fold_values.append(judged)
    return _complete(spec, attrs, fold_values, tests, start)


def _judge(run: Run, name: str, spec: SweepSpec, cfg: Config, attrs: dict[str, Any], tests: list[float], start: float) -> Outcome | float:
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
        attrs.update(reason=f"{name}: run ended with status {status} {reason}".strip(), seconds=round(time.perf_counter() - start, 2))
        return Outcome("FAIL", None, attrs)
    value = _objective_value(run.history, spec.objective, cfg.train.patience, spec.direction == "maximize")
    if not math.isfinite(value):
        attrs.update(reason=f"diverged: {spec.objective}={value}", seconds=round(time.perf_counter() - start, 2))
        return Outcome("FAIL", None, attrs)
    return value


def _complete(spec: SweepSpec, attrs: dict[str, Any], fold_values: list[float], tests: list[float], start: float) -> Outcome:
    """The Outcome of a trial whose every run (or fold) completed."""
    attrs["seconds"] = round(time.perf_counter() - start, 2)
    if tests:
        attrs["test_accuracy"] = statistics.fmean(tests)
    if spec.cv:
        attrs["fold_values"] = fold_values
        attrs["fold_std"] = statistics.pstdev(fold_values)
    return Outcome("COMPLETE", statistics.fmean(fold_values), attrs)


def stack_reason(spec: SweepSpec, stack: bool = True) -> str | None:
    """Why this sweep's trials train one by one (``None``: they may train stacked, several at once).

    Stacking needs draws that do not depend on finished trials (grid and random samplers, reseeded
    per trial number; TPE's suggestions would change if asked before the others ended), no
    cross-validation folds, a space of per-member values only (``optim.lr``, ``seed``, ...:
    ``training.stacked.StackedEngine.may_differ``, the optimizer's and loss's names excepted) and a base config
    that can stack at all (``build.why_alone``)."""
    if not stack:
        return "stacking off (--no-stack)"
    if spec.cv:
        return f"--cv {spec.cv} (a trial trains its folds one after another)"
    sampler = parse_spec(spec.sampler).name
    if sampler not in ("grid", "random"):
        return f"the {sampler} sampler (its suggestions depend on the trials already finished; grid and random stack)"
    for key in spec.params():
        if key in ("optim.name", "loss.name"):
            return f"{key} is searched (a stack's members share one optimizer and loss)"
        if not StackedEngine.may_differ(key):
            return f"{key} is searched (a stack's members may differ only in per-run values: docs/compare.md, Stacked runs)"
    reason = why_alone([spec.base_config()])
    return None if reason is None else f"the base config cannot stack: {reason}"


def stack_batch(spec: SweepSpec, stack: bool) -> int:
    """Most trials a worker takes at once: ``STACK_TRIALS`` where they may train stacked (``stack_reason``), else 1."""
    return 1 if stack_reason(spec, stack) is not None else STACK_TRIALS


def fair_share(waiting: int, running: int, workers: int, limit: int = STACK_TRIALS) -> int:
    """How many waiting trials one worker pops at once: its share of the trials left,
    ``ceil((waiting + running) / workers)``, at most ``limit`` and at most what waits (0 when none does).

    Counting the trials running elsewhere makes workers that start together split the queue evenly
    (12 trials, 2 workers: 6 and 6, not 6 and 3)."""
    if waiting <= 0:
        return 0
    return max(1, min(limit, waiting, math.ceil((waiting + running) / max(1, workers))))


def worker_id() -> str:
    """This process as a trial's ``worker`` attribute records it: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def batch_size(study: Any, limit: int, workers: int = 1) -> int:
    """How many trials this worker pops next (``fair_share``), at most ``limit``.

    ``workers``: how many workers are known to share the study (``--workers N``); the count used is
    the larger of that and the workers seen running trials now (distinct ``worker`` attributes of
    RUNNING trials, plus this one), which is how a shared study (``--storage``, ``--join``) knows of
    its workers. A worker between two batches is not seen, nor one yet to join: the count is a
    lower bound, so the first worker of a shared study may take a full batch."""
    if limit <= 1:
        return 1
    s = _optuna().trial.TrialState
    trials = study.get_trials(deepcopy=False, states=(s.WAITING, s.RUNNING))
    running = [t for t in trials if t.state == s.RUNNING]
    # a running trial not yet labelled counts as a worker of its own (it is labelled right after its pop)
    others = {t.user_attrs.get("worker") or f"?{t.number}" for t in running} - {worker_id()}
    return fair_share(len(trials) - len(running), len(running), max(workers, 1 + len(others)), limit)


def trained_line(trials: list[Any]) -> str:
    """How a sweep's trials trained, from their attributes: how many stacked, in which batches, and
    how many one by one and why (trials run again elsewhere after an interruption are left out)."""
    replaced = replaced_numbers(trials)
    done = [t for t in trials if t.number not in replaced and t.state.is_finished()]
    sizes: dict[int, int] = {}
    alone: dict[str, int] = {}
    unknown = 0
    for t in done:
        if "stacked" in t.user_attrs:
            sizes[int(t.user_attrs["stacked"])] = sizes.get(int(t.user_attrs["stacked"]), 0) + 1
        elif "alone" in t.user_attrs:
            alone[str(t.user_attrs["alone"])] = alone.get(str(t.user_attrs["alone"]), 0) + 1
        else:
            unknown += 1
    parts = []
    if sizes:
        batches = {k: max(1, round(n / k)) for k, n in sorted(sizes.items(), reverse=True)}
        total = sum(batches.values())
        shape = f" of {next(iter(batches))}" if len(batches) == 1 else " (" + ", ".join(f"{b} of {k}" for k, b in batches.items()) + ")"
        parts.append(f"{sum(sizes.values())} trials stacked in {total} batch{'es' if total > 1 else ''}{shape}")
    if alone:
        n = sum(alone.values())
        whys = "; ".join(why + (f" ({k})" if len(alone) > 1 else "") for why, k in sorted(alone.items(), key=lambda kv: -kv[1]))
        parts.append(f"{n} {'trial' if n == 1 else 'trials'} one by one: {whys}")
    if unknown:
        parts.append(f"{unknown} without a record (stopped before training, or run by a trainlab that did not record it)")
    return "; ".join(parts) or "no trial trained yet"


def sweep_plan(spec: SweepSpec, stack: bool = True, workers: int = 1, shared: bool = False) -> str:
    """One line saying how this worker (or these ``workers`` local ones) will train the trials:
    stacked in batches and how big, or one by one and why. ``shared``: other workers may join (--storage, --join)."""
    reason = stack_reason(spec, stack)
    if reason is not None:
        return f"trials train one by one: {reason}"
    limit = min(STACK_TRIALS, spec.trials or STACK_TRIALS)
    if limit < 2:
        return "trials train one by one: a single trial"
    line = f"trials train stacked, up to {limit} at once ({', '.join(spec.params())} differ)"
    if workers > 1 or shared:
        count = f"{workers} local workers" + (" plus those seen running trials" if shared else "") if workers > 1 else "the workers seen running trials, plus this one"
        line += f"; each worker takes its fair share, ceil((waiting + running) / workers) trials, counting {count}"
    return line


def run_trials_stacked(trials: list[Any], spec: SweepSpec, base: Config, sweep_dir: Path, cache: DataCache, threads: int | None = None) -> list[Outcome]:
    """Train several trials' configs as stacked models (``stacking.train_stacked``) when they allow
    it, else one by one (``run_trial``); one Outcome per trial, in order."""
    cfgs: list[Config] = []
    for trial in trials:
        values = {key: p.suggest(trial) for key, p in spec.params().items()}  # (already drawn: the stored values)
        trial.set_user_attr("config", values)
        trial.set_user_attr("worker", worker_id())
        updates: dict[str, Any] = {**values, "output.dir": str(sweep_dir / "runs"), "output.name": f"trial-{trial.number:04d}"}
        if threads:
            updates["threads"] = threads
        try:
            cfgs.append(base.replace(**updates))
        except TrainlabError as exc:
            return _one_by_one(trials, f"a trial's config is invalid ({exc})", spec, base, sweep_dir, cache, threads)  # each fails with its own reason
    reason = why_alone(cfgs) if len(cfgs) > 1 else "a single trial"
    if reason is None:
        start = time.perf_counter()
        prune = not spec.pruner.startswith("none")
        try:
            runs = train_stacked(cfgs, cache=cache, callbacks=[[Pruning(t, spec.objective, prune=prune)] for t in trials])
        except TrainlabError as exc:  # NotStackable (found when built) or a failed group: one by one
            reason = str(exc)
        else:
            outcomes = []
            for trial, cfg, run in zip(trials, cfgs, runs, strict=True):
                trial.set_user_attr("stacked", len(trials))
                attrs: dict[str, Any] = {"run_dirs": []}
                tests: list[float] = []
                judged = _judge(run, run.path.name, spec, cfg, attrs, tests, start)
                outcomes.append(judged if isinstance(judged, Outcome) else _complete(spec, attrs, [judged], tests, start))
            return outcomes
    return _one_by_one(trials, f"its batch could not stack: {reason}", spec, base, sweep_dir, cache, threads)


def _one_by_one(trials: list[Any], why: str, spec: SweepSpec, base: Config, sweep_dir: Path, cache: DataCache, threads: int | None) -> list[Outcome]:
    """Train each trial on its own (``run_trial``), recording ``why`` in its ``alone`` attribute."""
    for t in trials:
        t.set_user_attr("alone", why)
    return [run_trial(t, spec, base, sweep_dir, cache, threads) for t in trials]


# -- the worker loop -------------------------------------------------------------------------------
class Heartbeat:
    """A background thread recording a running trial's heartbeat in the storage."""

    def __init__(self, storage: Any, trial_id: int, interval: float):
        self.storage, self.trial_id, self.interval = storage, trial_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name=f"heartbeat-{trial_id}")

    def _beat(self) -> None:
        while True:
            record_heartbeat(self.storage, self.trial_id)
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


BEAT_ATTR = "trainlab_heartbeat"  # journal storage: the running trial's last heartbeat (unix time)


def _journal_heartbeat(storage: Any) -> tuple[int, int, Any] | None:
    """(interval, grace, retry callback) of a journal storage made by ``make_storage``, else None."""
    return getattr(storage, "_trainlab_heartbeat", None)


def heartbeat_interval(storage: Any) -> float:
    """Seconds between heartbeats of a running trial in this storage."""
    journal = _journal_heartbeat(storage)
    if journal is not None:
        return float(journal[0])
    return float(storage.get_heartbeat_interval() or HEARTBEAT)


def record_heartbeat(storage: Any, trial_id: int) -> None:
    """Record that the trial's worker is alive: Optuna's heartbeat, or the time in a system
    attribute for the journal storage, which has no heartbeat of its own."""
    if _journal_heartbeat(storage) is not None:
        storage.set_trial_system_attr(trial_id, BEAT_ATTR, time.time())
    else:
        storage.record_heartbeat(trial_id)


def fail_stale_trials(study: Any) -> None:
    """Fail dead workers' trials and queue each once more with the same parameters.

    RDB storages: Optuna's ``fail_stale_trials`` with its retry callback. Journal: a running trial
    whose last heartbeat (or start) is older than the grace period; machines sharing the journal
    need roughly synchronized clocks."""
    optuna = _optuna()
    storage = study._storage
    journal = _journal_heartbeat(storage)
    if journal is None:
        optuna.storages.fail_stale_trials(study)
        return
    _, grace, retry = journal
    now = time.time()
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        beat = t.system_attrs.get(BEAT_ATTR) or (t.datetime_start.timestamp() if t.datetime_start else now)
        if now - float(beat) < grace:
            continue
        try:  # another worker may fail it first: the journal lets only one update win
            if not storage.set_trial_state_values(t._trial_id, state=optuna.trial.TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
        retry(study, storage.get_trial(t._trial_id))


def _pop(study: Any, seed: int) -> Any:
    """Atomically take a waiting trial from the queue (``None`` when the queue is empty), with the
    sampler reseeded for that trial's number."""
    optuna = _optuna()
    # Study.ask() would create a fresh trial when another worker took the last waiting one; popping
    # directly keeps the trial count exact. _pop_waiting_trial_id is what ask() itself uses.
    trial_id = study._pop_waiting_trial_id()
    if trial_id is None:
        return None
    reseed_sampler(study.sampler, trial_seed(seed, study._storage.get_trial_number_from_id(trial_id)))
    return optuna.trial.Trial(study, trial_id)  # (Trial() already asks the sampler for relative params)


def work(study: Any, spec: SweepSpec, sweep_dir: Path, threads: int | None = None, on_trial: OnTrial | None = None, on_start: OnTrial | None = None, wait: bool = True,
         stack: bool = False, workers: int = 1) -> int:
    """Run queued trials until the queue is empty (then wait for other workers' trials); returns how many ran here.

    ``stack``: where the sweep allows it (``stack_reason``), pop a batch of trials, this worker's fair
    share of the trials left (``batch_size``: at most ``STACK_TRIALS``), and train them as stacked
    models (``run_trials_stacked``); each trial of the batch beats on its own (``Heartbeat``), so a
    worker that dies mid-batch has every trial of it failed and queued once more. ``workers``: how
    many workers are known to share the study (``--workers N``); more are counted from the running
    trials."""
    optuna = _optuna()
    s = optuna.trial.TrialState
    storage = study._storage
    interval = heartbeat_interval(storage)
    base = spec.base_config()
    cache = DataCache(size=1)  # one data set (or one set of folds) at a time
    limit = stack_batch(spec, stack)
    why_alone = stack_reason(spec, stack)
    me = worker_id()
    ran = 0
    seen = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
    while True:
        fail_stale_trials(study)
        _report_new(study, seen, on_trial)  # other workers' trials too, and those failed as stale
        want = batch_size(study, limit, workers)
        trial = _pop(study, spec.seed)
        if trial is None:
            if not wait or not study.get_trials(deepcopy=False, states=(s.RUNNING,)):
                return ran
            time.sleep(min(interval, 2.0))  # trials still running elsewhere: wait for them (or their death)
            continue
        # at once: other workers count the workers they see (batch_size), and a worker that dies before
        # its batch's heartbeats start still leaves a beat to go stale (a trial that never beat is never reaped)
        record_heartbeat(storage, trial._trial_id)
        trial.set_user_attr("worker", me)
        batch = [trial]
        if limit > 1:
            for p in spec.params().values():  # draw now: the sampler is reseeded for the next trial's number
                p.suggest(trial)
            while len(batch) < want:
                more = _pop(study, spec.seed)
                if more is None:
                    break
                record_heartbeat(storage, more._trial_id)
                more.set_user_attr("worker", me)
                for p in spec.params().values():
                    p.suggest(more)
                batch.append(more)
        if len(batch) == 1:
            trial.set_user_attr("alone", why_alone or ("its worker's fair share of the trials left was 1" if want <= 1 else "other workers took the other waiting trials"))
        try:
            if on_start is not None:
                for t in batch:
                    on_start(t)
            with contextlib.ExitStack() as beats:
                for t in batch:
                    beats.enter_context(Heartbeat(storage, t._trial_id, interval))
                if len(batch) == 1:
                    outcomes = [run_trial(trial, spec, base, sweep_dir, cache, threads)]
                else:
                    outcomes = run_trials_stacked(batch, spec, base, sweep_dir, cache, threads)
        except KeyboardInterrupt:
            # interrupted, not failed: mark them and queue replacements so --resume runs them again
            for t in batch:
                t.set_user_attr("reason", "interrupted")
                t.set_user_attr("replaced", True)
                study.tell(t, state=s.FAIL)
                fixed = study._storage.get_trial(t._trial_id).system_attrs.get("fixed_params") or {}
                study.enqueue_trial({**fixed, **t.params})  # the same parameters: resume loses nothing
            raise
        except Exception as exc:  # a bug, not a bad trial: record it on the trials, then let it raise
            for t in batch:
                t.set_user_attr("reason", f"error: {type(exc).__name__}: {exc}"[:500])
                study.tell(t, state=s.FAIL)
            raise
        for t, outcome in zip(batch, outcomes, strict=True):
            for k, v in outcome.attrs.items():
                t.set_user_attr(k, v)
            study.tell(t, outcome.value, state=getattr(s, outcome.state))
            ran += 1
        _report_new(study, seen, on_trial)


def _report_new(study: Any, seen: set[int], on_trial: OnTrial | None) -> None:
    """Call ``on_trial`` once for each trial that finished since the last call (in trial order)."""
    for t in study.get_trials(deepcopy=False):
        if t.state.is_finished() and t.number not in seen:
            seen.add(t.number)
            if on_trial is not None:
                on_trial(t)


def work_parallel(name: str, url: str, sweep_dir: Path, workers: int, on_trial: OnTrial | None = None, heartbeat: float = HEARTBEAT, grace: float | None = None,
                  stack: bool = True) -> None:
    """Run ``workers`` local processes (``trainlab.sweeps.worker``) on the study; report trials as they finish.

    Each knows ``workers``, so where the sweep stacks (``stack``) each pops its fair share of the trials left."""

    optuna = _optuna()
    args = [url, str(sweep_dir), "{i}", str(heartbeat), "-" if grace is None else str(grace), str(workers), "stack" if stack else "no-stack"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # one thread each: N workers on N cores
    procs = [
        subprocess.Popen([sys.executable, "-m", "trainlab.sweeps.worker", name, *(a.format(i=i) for a in args)], env=env)
        for i in range(workers)
    ]
    study = optuna.load_study(study_name=name, storage=make_storage(url, heartbeat, grace))
    seen: set[int] = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
    try:
        while True:
            alive = any(p.poll() is None for p in procs)
            _report_new(study, seen, on_trial)
            if not alive:
                break
            time.sleep(0.5)
    finally:  # on Ctrl-C the workers got the signal too: let them stop their trials safely
        for p in procs:
            p.wait()
    codes = [p.returncode for p in procs]
    if 130 in codes:
        raise KeyboardInterrupt
    bad = [c for c in codes if c != 0]
    if bad:
        raise TrainlabError(f"{len(bad)} of {workers} sweep workers exited with an error (exit codes {bad}); run `trainlab sweep --resume {name}` to continue")


def write_spec_file(sweep_dir: Path, name: str, spec: SweepSpec, url: str) -> None:
    """sweep.yaml: what was asked, and where the study lives (password hidden)."""
    data = {"name": name, "storage": mask_url(url), **{k: v for k, v in spec.to_dict().items() if k != "name"}}
    write_text(sweep_dir / "sweep.yaml", yaml.safe_dump(data, sort_keys=False))
