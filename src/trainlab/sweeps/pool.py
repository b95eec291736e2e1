"""``--workers N``: N local worker processes on one study, their finished trials reported as they come.

Each is a plain ``python -m trainlab.sweeps.worker`` subprocess (not multiprocessing), so a user's
script is never re-imported in the children, whatever its ``__main__`` looks like; each runs one
thread, and knows N, so where the sweep stacks each pops its fair share of the trials left.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from trainlab.cpu import affinity, cgroup_quota, usable_cores
from trainlab.errors import TrainlabError
from trainlab.sweeps.options import SweepOptions
from trainlab.sweeps.records import report_new
from trainlab.sweeps.storage import make_storage
from trainlab.sweeps.strategies import optuna_module as _optuna


def local_workers(asked: int, trials: list[Any]) -> tuple[int, str | None]:
    """How many local workers to start for ``--workers asked``: at most the trials waiting and the
    usable cores (affinity, cgroup quota), at least 1; with the line that says so when it is fewer.

    Each worker is a process of its own (a Python interpreter, torch and the data: hundreds of MB),
    so a worker with no trial to take or no core to run on only costs memory."""
    if asked <= 1:
        return max(1, asked), None
    waiting = sum(1 for t in trials if t.state.name == "WAITING")
    cores = usable_cores(affinity(), cgroup_quota())
    workers = max(1, min(asked, waiting, cores))
    if workers == asked:
        return workers, None
    why = [f"{waiting} trial(s) waiting" if waiting < asked else "", f"{cores} usable core(s)" if cores < asked else ""]
    return workers, f"--workers {asked}: starting {workers} ({', '.join(w for w in why if w)})"


def work_parallel(name: str, url: str, sweep_dir: Path, options: SweepOptions) -> None:
    """Run ``options.workers`` local processes (``trainlab.sweeps.worker``) on the study; report
    trials to ``options.on_trial`` as they finish.

    Each knows the number of workers, so where the sweep stacks (``options.stack``) each pops its
    fair share of the trials left; each uses ``options.heartbeat`` and ``options.grace``."""
    workers, heartbeat, grace = options.workers, options.heartbeat, options.grace
    optuna = _optuna()
    args = [
        url,
        str(sweep_dir),
        "{i}",
        str(heartbeat),
        "-" if grace is None else str(grace),
        str(workers),
        "stack" if options.stack else "no-stack",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # one thread each: N workers on N cores
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "trainlab.sweeps.worker", name, *(a.format(i=i) for a in args)], env=env
        )
        for i in range(workers)
    ]
    study = optuna.load_study(study_name=name, storage=make_storage(url, heartbeat, grace))
    seen: set[int] = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
    try:
        while True:
            alive = any(p.poll() is None for p in procs)
            report_new(study, seen, options.on_trial)
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
        raise TrainlabError(
            f"{len(bad)} of {workers} sweep workers exited with an error (exit codes {bad}); "
            f"run `trainlab sweep --resume {name}` to continue"
        )
