"""The worker loop: pop queued trials (one, or a fair share to stack), train them while they beat, tell the results.

A worker first fails dead workers' trials (``heartbeat.fail_stale_trials``), then pops a trial
(``queue.pop_trial``) or, where the sweep stacks (``plan.stack_reason``), a batch of its fair share of
the trials left (``queue.batch_size``), draws their parameters, and trains them (``trial.run_trial``
or ``trial.run_trials_stacked``) while each trial beats on its own (``heartbeat.Heartbeat``), so a
worker that dies mid-batch has every trial of it failed and queued once more. Every trial records
how it trained (``stacked``: the batch size, or ``alone``: why it trained on its own). When the
queue is empty a worker waits for the trials still running elsewhere, so the last one out sees the
whole sweep finished and writes the report. ``pool.work_parallel`` runs N of these loops as
``python -m trainlab.sweeps.worker`` subprocesses.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from trainlab.data.memo import DataCache
from trainlab.sweeps.heartbeat import (
    Heartbeat,
    fail_stale_trials,
    heartbeat_interval,
    record_heartbeat,
)
from trainlab.sweeps.options import SweepOptions
from trainlab.sweeps.plan import stack_batch, stack_reason
from trainlab.sweeps.preset import SweepSpec
from trainlab.sweeps.queue import batch_size, pop_trial
from trainlab.sweeps.records import report_new, worker_id
from trainlab.sweeps.storage import study_storage, trial_id
from trainlab.sweeps.strategies import optuna_module as _optuna
from trainlab.sweeps.trial import run_trial, run_trials_stacked


def work(
    study: Any,
    spec: SweepSpec,
    sweep_dir: Path,
    options: SweepOptions,
    *,
    threads: int | None = None,
    wait: bool = True,
) -> int:
    """Run queued trials until the queue is empty (then wait for other workers' trials, unless not
    ``wait``); returns how many ran here.

    ``options.stack``: where the sweep allows it (``stack_reason``), pop a batch of trials, this
    worker's fair share of the trials left (``batch_size``: at most ``STACK_TRIALS``), and train them
    as stacked models (``run_trials_stacked``); each trial of the batch beats on its own
    (``Heartbeat``), so a worker that dies mid-batch has every trial of it failed and queued once
    more. ``options.workers``: how many workers are known to share the study (``--workers N``); more
    are counted from the running trials. ``options.on_trial`` hears of every finished trial,
    ``options.on_start`` of each trial before it trains here. ``threads``: each run's torch threads."""
    on_trial, on_start, stack, workers = options.on_trial, options.on_start, options.stack, options.workers
    optuna = _optuna()
    s = optuna.trial.TrialState
    storage = study_storage(study)
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
        report_new(study, seen, on_trial)  # other workers' trials too, and those failed as stale
        want = batch_size(study, limit, workers)
        trial = pop_trial(study, spec.seed)
        if trial is None:
            if not wait or not study.get_trials(deepcopy=False, states=(s.RUNNING,)):
                return ran
            time.sleep(min(interval, 2.0))  # trials still running elsewhere: wait for them (or their death)
            continue
        # at once: other workers count the workers they see (batch_size), and a worker that dies before
        # its batch's heartbeats start still leaves a beat to go stale (a trial that never beat is never reaped)
        record_heartbeat(storage, trial_id(trial))
        trial.set_user_attr("worker", me)
        batch = [trial]
        if limit > 1:
            for p in spec.params().values():  # draw now: the sampler is reseeded for the next trial's number
                p.suggest(trial)
            while len(batch) < want:
                more = pop_trial(study, spec.seed)
                if more is None:
                    break
                record_heartbeat(storage, trial_id(more))
                more.set_user_attr("worker", me)
                for p in spec.params().values():
                    p.suggest(more)
                batch.append(more)
        if len(batch) == 1:
            crowded = "other workers took the other waiting trials"
            alone = "its worker's fair share of the trials left was 1" if want <= 1 else crowded
            trial.set_user_attr("alone", why_alone or alone)
        try:
            if on_start is not None:
                for t in batch:
                    on_start(t)
            with contextlib.ExitStack() as beats:
                for t in batch:
                    beats.enter_context(Heartbeat(storage, trial_id(t), interval))
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
                fixed = storage.get_trial(trial_id(t)).system_attrs.get("fixed_params") or {}
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
        report_new(study, seen, on_trial)
