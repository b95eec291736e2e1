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


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "trainlab", "sweep", *args]


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

    from trainlab.sweep.run import make_storage, trial_reason

    name = f"pgtest-{uuid.uuid4().hex[:8]}"
    common = ["--storage", PG, "--heartbeat", "1", "--grace", "3", "--dir", str(tmp_path / "sweeps")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    a = subprocess.Popen(
        _cli("data.name=digits", "model.hidden=[32]", "train.epochs=2", "threads=1", "output.report=false", "train.checkpoint=false",
             "optim.lr=loguniform(1e-3,1e-1)", "--sampler", "random", "--trials", str(TRIALS), "--name", name, *common),
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    b = None
    try:
        storage = make_storage(PG, heartbeat=1, grace=3)
        names = lambda: {s.study_name for s in optuna.study.get_all_study_summaries(storage)}  # noqa: E731
        _wait(lambda: name in names() or a.poll() is not None, 60, "worker A to create the study")
        assert a.poll() is None, a.stdout.read()
        b = subprocess.Popen(_cli("--join", name, *common), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        study = optuna.load_study(study_name=name, storage=storage)

        def running_by(proc: subprocess.Popen) -> list:
            return [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)) if t.user_attrs.get("worker", "").endswith(f":{proc.pid}")]

        # kill A in the middle of one of its trials, once B is working too
        _wait(lambda: running_by(b) and running_by(a) or a.poll() is not None, 60, "both workers to run trials")
        assert a.poll() is None, "worker A finished before B joined; make trials longer"
        a.kill()
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
    workers = {t.user_attrs["worker"].rsplit(":", 1)[1] for t in trials}
    assert workers == {str(a.pid), str(b.pid)}  # both processes did share the work
    # every trial ran exactly once: one run directory per trial number, none twice
    run_dirs = [p.name for p in (tmp_path / "sweeps" / name / "runs").iterdir()]
    numbers = [int(re.search(r"trial-(\d+)", d).group(1)) for d in run_dirs]
    assert sorted(numbers) == sorted(set(numbers))
    complete = {t.number for t in trials if t.state.name == "COMPLETE"}
    assert complete <= set(numbers) <= {t.number for t in trials}  # the killed trial may have died before its run began
    assert all(len(t.user_attrs["run_dirs"]) == 1 for t in trials if t.number in complete)
    summary = next(line for line in out_b.splitlines() if line.startswith(f"{TRIALS} trials ("))
    assert f"{TRIALS - 1} complete" in summary and "1 fail" in summary
    assert (tmp_path / "sweeps" / name / "sweep.html").is_file()
