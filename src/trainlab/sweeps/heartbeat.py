"""Heartbeats of running trials, and the reaping of dead workers' trials (retried once).

Each running trial records its own heartbeat (``Heartbeat``: Optuna's, or for the journal storage,
which has none, a time in a system attribute). A worker that dies stops beating, and the next worker
to look fails its trials (``fail_stale_trials``) and queues each once more with the same parameters
(Optuna's ``RetryFailedTrialCallback``); the failed attempts are not counted.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from trainlab.sweeps.storage import HEARTBEAT, journal_heartbeat, study_storage, trial_id
from trainlab.sweeps.strategies import optuna_module as _optuna

BEAT_ATTR = "trainlab_heartbeat"  # journal storage: the running trial's last heartbeat (unix time)


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


def heartbeat_interval(storage: Any) -> float:
    """Seconds between heartbeats of a running trial in this storage."""
    journal = journal_heartbeat(storage)
    if journal is not None:
        return float(journal[0])
    return float(storage.get_heartbeat_interval() or HEARTBEAT)


def record_heartbeat(storage: Any, trial_id: int) -> None:
    """Record that the trial's worker is alive: Optuna's heartbeat, or the time in a system
    attribute for the journal storage, which has no heartbeat of its own."""
    if journal_heartbeat(storage) is not None:
        storage.set_trial_system_attr(trial_id, BEAT_ATTR, time.time())
    else:
        storage.record_heartbeat(trial_id)


def fail_stale_trials(study: Any) -> None:
    """Fail dead workers' trials and queue each once more with the same parameters.

    RDB storages: Optuna's ``fail_stale_trials`` with its retry callback. Journal: a running trial
    whose last heartbeat (or start) is older than the grace period; machines sharing the journal
    need roughly synchronized clocks."""
    optuna = _optuna()
    storage = study_storage(study)
    journal = journal_heartbeat(storage)
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
            if not storage.set_trial_state_values(trial_id(t), state=optuna.trial.TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
        retry(study, storage.get_trial(trial_id(t)))
