"""The trial queue: exactly ``trials`` waiting trials, popped one at a time or a fair share at once.

Exactly ``trials`` trials run, however many workers share the study: the creator puts that many
*waiting* trials in Optuna's queue (the grid's combinations for a grid sweep, empty ones otherwise)
and each worker pops them (``pop_trial``, atomic in the storage), so a trial never runs twice.
Where trials stack, a worker pops its fair share of the trials left (``batch_size``,
``fair_share``), so workers sharing the study split the queue instead of the first one taking it all.
"""

from __future__ import annotations

import math
import random
import sys
import time
from typing import Any

from trainlab.sweeps.plan import STACK_TRIALS
from trainlab.sweeps.preset import SweepSpec
from trainlab.sweeps.records import replaced_numbers, worker_id
from trainlab.sweeps.sampling import reseed_sampler, trial_seed
from trainlab.sweeps.space import grid
from trainlab.sweeps.storage import pop_waiting_trial_id, study_storage
from trainlab.sweeps.strategies import optuna_module as _optuna

QUEUE_NOTE = 500  # queueing more trials than this says so first, then every PROGRESS_S seconds (one insert each)
PROGRESS_S = 5.0


def queue(study: Any, spec: SweepSpec, total: int) -> int:
    """Add waiting trials until the study holds ``total`` trials that did or will run; returns how many were added.

    Each trial is one insert in the storage (tens of ms in SQLite, where each commit syncs the file),
    so queueing many says so before it starts and how far it got every few seconds (``_Progress``);
    trials queued before a Ctrl-C stay, and ``--resume`` queues the rest."""
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
        todo = todo[:missing]
        progress = _Progress(len(todo))
        for params in todo:
            study.enqueue_trial(params, skip_if_exists=False)
            progress.step()
        return len(todo)
    progress = _Progress(missing)
    for _ in range(missing):
        study.enqueue_trial({})
        progress.step()
    return missing


class _Progress:
    """Lines on stderr while many trials are queued: how many before, how far every ``PROGRESS_S`` seconds."""

    def __init__(self, total: int):
        self.total, self.done, self.t0 = total, 0, time.monotonic()
        self.last = self.t0
        if total > QUEUE_NOTE:
            print(f"queueing {total} trials in the study (one storage write each)...", file=sys.stderr, flush=True)

    def step(self) -> None:
        """One more trial queued."""
        self.done += 1
        now = time.monotonic()
        if self.total > QUEUE_NOTE and (now - self.last >= PROGRESS_S or self.done == self.total):
            self.last = now
            print(f"  queued {self.done} of {self.total} ({now - self.t0:.0f} s)", file=sys.stderr, flush=True)


def pop_trial(study: Any, seed: int) -> Any:
    """Atomically take a waiting trial from the queue (``None`` when the queue is empty), with the
    sampler reseeded for that trial's number."""
    optuna = _optuna()
    trial_id = pop_waiting_trial_id(study)
    if trial_id is None:
        return None
    reseed_sampler(study.sampler, trial_seed(seed, study_storage(study).get_trial_number_from_id(trial_id)))
    return optuna.trial.Trial(study, trial_id)  # (Trial() already asks the sampler for relative params)


def fair_share(waiting: int, running: int, workers: int, limit: int = STACK_TRIALS) -> int:
    """How many waiting trials one worker pops at once: its share of the trials left,
    ``ceil((waiting + running) / workers)``, at most ``limit`` and at most what waits (0 when none does).

    Counting the trials running elsewhere makes workers that start together split the queue evenly
    (12 trials, 2 workers: 6 and 6, not 6 and 3)."""
    if waiting <= 0:
        return 0
    return max(1, min(limit, waiting, math.ceil((waiting + running) / max(1, workers))))


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
