"""A real PostgreSQL study shared by two worker processes, one of which is killed mid-trial.

Needs a server: ``eval "$(.ci/postgres.sh)"`` exports TRAINLAB_TEST_PG (``make test`` and ``.ci/run``
do this when root on Debian).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

PG = os.environ.get("TRAINLAB_TEST_PG")
pytestmark = pytest.mark.skipif(
    not PG and not os.environ.get("CI"),
    reason='TRAINLAB_TEST_PG is not set: start a server with eval "$(.ci/postgres.sh)" (make test does when root on Debian)',
)

TRIALS = 6
BASE = ["data.name=digits", "model.hidden=[16]", "train.epochs=1", "threads=1", "output.report=false", "train.checkpoint=false"]

# Worker A: an ordinary worker whose trials hang for a minute *inside* the trial (its heartbeat
# keeps beating), so the test can kill it mid-trial without racing it.
SLOW_WORKER = """
import os, socket, sys, time
from pathlib import Path
from trainlab.sweeps import run
original = run.run_trial
def slow(trial, *args, **kwargs):
    trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    time.sleep(60)
    return original(trial, *args, **kwargs)
run.run_trial = slow
name, url, root = sys.argv[1:]
study, spec = run.load_study(name, run.make_storage(url, 1, 3))
run.work(study, spec, Path(root) / name)
"""


def _wait(cond, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_two_workers_share_a_postgres_study_and_a_killed_workers_trial_fails(tmp_path: Path) -> None:
    assert PG, "CI must provide TRAINLAB_TEST_PG (.ci/postgres.sh)"
    import optuna

    from trainlab.sweeps.api import build_spec
    from trainlab.sweeps.run import create_study, make_storage, trial_reason

    name, root = f"pgtest-{uuid.uuid4().hex[:8]}", tmp_path / "sweeps"
    storage = make_storage(PG, heartbeat=1, grace=3)
    spec = build_spec(None, [*BASE, "optim.lr=loguniform(1e-3,1e-1)"], trials=TRIALS, sampler="random").validate()
    spec.name = name
    study = create_study(name, spec, storage)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    a = subprocess.Popen([sys.executable, "-c", SLOW_WORKER, name, PG, str(root)], env=env)
    b = None
    try:
        def running_by(proc: subprocess.Popen) -> list:
            running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
            return [t for t in running if t.user_attrs.get("worker", "").endswith(f":{proc.pid}")]

        _wait(lambda: running_by(a) or a.poll() is not None, 60, "worker A to start a trial")
        assert a.poll() is None
        b = subprocess.Popen([sys.executable, "-m", "trainlab", "sweep", "--join", name, "--storage", PG, "--heartbeat", "1", "--grace", "3", "--dir", str(root)],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        _wait(lambda: running_by(b) or b.poll() is not None, 60, "worker B to start a trial")
        a.kill()  # in the middle of its trial
        a.wait()
        out_b, _ = b.communicate(timeout=120)
        assert b.returncode == 0, out_b
    finally:
        for p in (a, b):
            if p is not None and p.poll() is None:
                p.kill()
    trials = optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
    assert len(trials) == TRIALS  # the requested count, not one more
    states = [t.state.name for t in trials]
    failed = [t for t in trials if t.state.name == "FAIL"]
    assert len(failed) == 1 and states.count("COMPLETE") == TRIALS - 1, states
    assert failed[0].user_attrs["worker"].endswith(f":{a.pid}")
    assert "no heartbeat" in trial_reason(failed[0])
    assert all(t.user_attrs["worker"].endswith(f":{b.pid}") for t in trials if t.state.name == "COMPLETE")
    # every trial ran exactly once: one run directory per completed trial, none twice
    numbers = [int(re.search(r"trial-(\d+)", p.name).group(1)) for p in (root / name / "runs").iterdir()]
    complete = {t.number for t in trials if t.state.name == "COMPLETE"}
    assert sorted(numbers) == sorted(complete)  # A's trial never got to training
    summary = next(line for line in out_b.splitlines() if line.startswith(f"{TRIALS} trials ("))
    assert f"{TRIALS - 1} complete" in summary and "1 fail" in summary
    assert "no heartbeat" in out_b  # B printed why the killed trial failed
    assert (root / name / "sweep.html").is_file()
