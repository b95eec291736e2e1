"""A real PostgreSQL study shared by three worker processes that stack their trials, one of which
is SIGKILLed mid-batch.

Needs a server: ``eval "$(.ci/postgres.sh)"`` exports TRAINLAB_TEST_PG (``make test`` and ``.ci/run``
do this when root on Debian).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import wait_until

PG = os.environ.get("TRAINLAB_TEST_PG")
pytestmark = pytest.mark.skipif(
    not PG and not os.environ.get("CI"),
    reason='TRAINLAB_TEST_PG is not set: start a server with eval "$(.ci/postgres.sh)" '
    "(make test does when root on Debian)",
)

TRIALS = 12
BASE = [
    "data.name=digits",
    "model.hidden=[16]",
    "train.epochs=1",
    "threads=1",
    "output.report=false",
    "train.checkpoint=false",
]

# Worker A: an ordinary stacking worker told there are 3 workers, so it pops its fair share,
# ceil(12 / 3) = 4 trials, draws their parameters, then hangs in training for a minute (every trial of
# the batch keeps beating), so the test can kill it mid-batch without racing it.
SLOW_WORKER = """
import sys, time
from pathlib import Path
from trainlab.sweeps import run, storage, trial
from trainlab.sweeps.study import load_study
from trainlab.sweeps.options import SweepOptions
original = trial.train_stacked
def slow(cfgs, **kwargs):
    time.sleep(60)
    return original(cfgs, **kwargs)
trial.train_stacked = slow
name, url, root = sys.argv[1:]
study, spec = load_study(name, storage.make_storage(url, 1, 3))
run.work(study, spec, Path(root) / name, SweepOptions(stack=True, workers=3))
"""
A_BATCH = 4


def test_three_workers_share_a_postgres_study_and_a_killed_workers_trial_runs_again(tmp_path: Path) -> None:
    assert PG, "CI must provide TRAINLAB_TEST_PG (.ci/postgres.sh)"
    import optuna

    from trainlab.sweeps.api import build_spec
    from trainlab.sweeps.records import trial_reason
    from trainlab.sweeps.storage import make_storage
    from trainlab.sweeps.study import create_study

    name, root = f"pgtest-{uuid.uuid4().hex[:8]}", tmp_path / "sweeps"
    storage = make_storage(PG, heartbeat=1, grace=3)
    spec = build_spec(None, [*BASE, "optim.lr=loguniform(1e-3,1e-1)"], trials=TRIALS, sampler="random").validate()
    spec.name = name
    study = create_study(name, spec, storage)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    a = subprocess.Popen([sys.executable, "-c", SLOW_WORKER, name, PG, str(root)], env=env)
    joined: list[subprocess.Popen] = []
    try:

        def running_by(proc: subprocess.Popen) -> list:
            running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
            return [t for t in running if t.user_attrs.get("worker", "").endswith(f":{proc.pid}")]

        wait_until(lambda: len(running_by(a)) == A_BATCH or a.poll() is not None, 60, "worker A to pop its batch")
        assert a.poll() is None
        killed = {t.number: t.params for t in running_by(a)}
        for _ in range(2):  # B and C join by name, as on other machines
            joined.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "trainlab",
                        "sweep",
                        "--join",
                        name,
                        "--storage",
                        PG,
                        "--heartbeat",
                        "1",
                        "--grace",
                        "3",
                        "--dir",
                        str(root),
                    ],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
            )
        wait_until(lambda: running_by(joined[0]) or joined[0].poll() is not None, 60, "worker B to start a trial")
        a.kill()  # SIGKILL in the middle of its batch
        a.wait()
        outs = [p.communicate(timeout=240)[0] for p in joined]
        assert all(p.returncode == 0 for p in joined), outs
    finally:
        for p in (a, *joined):
            if p.poll() is None:
                p.kill()
    trials = optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    failed = [t for t in trials if t.state.name == "FAIL"]
    assert len(complete) == TRIALS and len(trials) == TRIALS + A_BATCH, [
        t.state.name for t in trials
    ]  # the retries replace, not add
    assert len({t.params["optim.lr"] for t in complete}) == TRIALS  # all distinct: no worker repeated another's draw
    assert {t.number for t in failed} == set(killed) and all("no heartbeat" in trial_reason(t) for t in failed)
    retries = {t.system_attrs["failed_trial"]: t for t in trials if "failed_trial" in t.system_attrs}
    assert set(retries) == set(killed)  # every trial of the killed batch was queued once more...
    assert all(
        retries[n].state.name == "COMPLETE" and retries[n].params == killed[n] for n in killed
    )  # ...and run with its parameters
    # the joined workers stacked their shares: each batch at most ceil(12 / 2) = 6 (two workers seen at most when B
    # popped)
    sizes = {t.user_attrs["stacked"] for t in complete if "stacked" in t.user_attrs}
    assert sizes and max(sizes) <= 6, sizes
    # every completed trial ran exactly once: one run directory each
    numbers = [int(re.search(r"trial-(\d+)", p.name).group(1)) for p in (root / name / "runs").iterdir()]
    assert sorted(numbers) == sorted(t.number for t in complete)
    assert any("no heartbeat" in out for out in outs)  # a worker printed why the killed trial failed
    assert (root / name / "sweep.html").is_file()
