"""Sweeps whose several workers each stack a fair share of the trials: the same values as one by one,
fair batch sizes, a plan line that says which, and a worker killed mid-batch loses none of its trials."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import wait_until
from trainlab.cli import main
from trainlab.sweeps import sweep
from trainlab.sweeps.api import build_spec
from trainlab.sweeps.heartbeat import Heartbeat, fail_stale_trials
from trainlab.sweeps.options import SweepOptions
from trainlab.sweeps.plan import sweep_plan
from trainlab.sweeps.queue import fair_share, pop_trial
from trainlab.sweeps.records import replaced_numbers, trial_reason, worker_id
from trainlab.sweeps.run import work
from trainlab.sweeps.storage import make_storage, sqlite_url, trial_id
from trainlab.sweeps.study import create_study

BASE = [
    "data.name=digits",
    "model.hidden=[8]",
    "train.epochs=1",
    "threads=1",
    "optim.batch_size=128",
    "output.report=false",
    "train.checkpoint=false",
]
LR = "optim.lr=loguniform(1e-3,1e-1)"


def _batches(trials: list) -> dict[int, int]:
    """How many trials trained in a stacked batch of each size."""
    out: dict[int, int] = {}
    for t in trials:
        if "stacked" in t.user_attrs:
            out[t.user_attrs["stacked"]] = out.get(t.user_attrs["stacked"], 0) + 1
    return out


def test_fair_share_is_a_workers_part_of_the_trials_left() -> None:
    assert fair_share(12, 0, 2) == 6 and fair_share(6, 6, 2) == 6  # two workers starting together: 6 and 6
    assert fair_share(12, 0, 3) == 4 and fair_share(8, 4, 3) == 4 and fair_share(4, 8, 3) == 4
    assert fair_share(40, 0, 2) == 8  # never more than STACK_TRIALS
    assert fair_share(3, 0, 1) == 3 and fair_share(1, 5, 4) == 1
    assert fair_share(2, 0, 4) == 1  # less than one each: one at a time
    assert fair_share(0, 3, 2) == 0


def test_a_worker_counts_the_other_workers_from_their_running_trials(tmp_path: Path) -> None:
    # a shared study: two workers elsewhere run one trial each (beating), this one knows of no others
    storage = make_storage(sqlite_url(tmp_path), heartbeat=1)
    spec = build_spec(None, [*BASE, LR], trials=12, sampler="random").validate()
    spec.name = "shared"
    study = create_study("shared", spec, storage)
    others = [pop_trial(study, spec.seed) for _ in range(2)]
    for i, t in enumerate(others):
        t.set_user_attr("worker", f"elsewhere:{i}")
    with Heartbeat(storage, trial_id(others[0]), 1), Heartbeat(storage, trial_id(others[1]), 1):
        ran = work(study, spec, tmp_path / "shared", SweepOptions(stack=True), wait=False)
    assert ran == 10
    # 3 workers seen: ceil((10 + 2) / 3) = 4, then ceil((6 + 2) / 3) = 3, ceil((3 + 2) / 3) = 2, then the last one
    assert _batches(study.get_trials(deepcopy=False)) == {4: 4, 3: 3, 2: 2}
    mine = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    assert len(mine) == 10 and {t.user_attrs["worker"] for t in mine} == {worker_id()}
    last = next(t for t in mine if "stacked" not in t.user_attrs)
    assert last.user_attrs["alone"] == "its worker's fair share of the trials left was 1"


def test_local_workers_stack_fair_batches_with_the_values_of_one_by_one(tmp_path: Path) -> None:
    args = [
        "data.name=digits",
        "data.val=0.2",
        "model.hidden=[8]",
        "train.epochs=2",
        "threads=1",
        "output.report=false",
        "train.checkpoint=false",
        LR,
        "optim.weight_decay=choice(0,0.001)",
    ]
    reported: list[int] = []
    stacked = sweep(
        None,
        args,
        sampler="random",
        trials=8,
        seed=5,
        workers=2,
        root=tmp_path,
        name="two",
        report=False,
        on_trial=lambda t: reported.append(t.number),
    )
    alone = sweep(
        None,
        args,
        sampler="random",
        trials=8,
        seed=5,
        root=tmp_path,
        name="one",
        report=False,
        progress=False,
        stack=False,
    )
    assert sorted(reported) == list(range(8))  # every trial reported once
    assert [t.state.name for t in stacked.trials] == ["COMPLETE"] * 8
    for a, b in zip(stacked.trials, alone.trials, strict=True):
        assert a.params == b.params
        assert a.value == pytest.approx(b.value, rel=1e-4, abs=1e-6)
        assert a.user_attrs["test_accuracy"] == pytest.approx(b.user_attrs["test_accuracy"], abs=1e-6)
    # each of the 2 workers took at most its share, ceil(8 / 2) = 4, never the whole queue
    sizes = _batches(stacked.trials)
    assert (
        sizes
        and max(sizes) <= 4
        and sum(sizes.values()) + sum("alone" in t.user_attrs and "stacked" not in t.user_attrs for t in stacked.trials)
        == 8
    )
    assert all(
        "stacked" not in t.user_attrs and t.user_attrs["alone"] == "stacking off (--no-stack)" for t in alone.trials
    )
    # one run directory per trial: none ran twice
    runs = sorted(int(re.search(r"trial-(\d+)", p.name).group(1)) for p in (tmp_path / "two" / "runs").iterdir())
    assert runs == list(range(8))
    assert "2 local workers" in stacked.plan and "stacked" in stacked.trained
    assert (
        alone.plan == "trials train one by one: stacking off (--no-stack)"
        and alone.trained == "8 trials one by one: stacking off (--no-stack)"
    )


def test_the_plan_line_says_stacked_or_one_by_one_and_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    common = [*BASE, LR, "--sampler", "random", "--trials", "2", "--dir", str(tmp_path)]
    assert main(["sweep", *common, "--name", "s"]) == 0
    out = capsys.readouterr().out
    assert "trials train stacked, up to 2 at once (optim.lr differ)\n" in out
    assert "2 trials (2 complete); 2 trials stacked in 1 batch of 2\n" in out
    assert "trained: 2 trials stacked in 1 batch of 2" in (tmp_path / "s" / "sweep.html").read_text()
    assert main(["sweep", *common, "--name", "n", "--no-stack", "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert (
        "trials train one by one: stacking off (--no-stack)\n" in out
        and "2 trials one by one: stacking off (--no-stack)\n" in out
    )
    # in Python, the progress lines start with the plan too
    r = sweep(None, [*BASE, LR], sampler="random", trials=2, root=tmp_path, name="py", report=False, progress=True)
    assert (
        capsys.readouterr().out.splitlines()[0] == r.plan == "trials train stacked, up to 2 at once (optim.lr differ)"
    )
    assert r.trained == "2 trials stacked in 1 batch of 2"

    def plan(args: list[str], **kw) -> str:
        return sweep_plan(build_spec(None, [*BASE, *args], **kw).validate())

    assert plan([LR], sampler="tpe") == (
        "trials train one by one: the tpe sampler "
        "(its suggestions depend on the trials already finished; grid and random stack)"
    )
    assert plan([LR], sampler="random", cv=3).startswith("trials train one by one: --cv 3")
    assert plan([LR, "model.dropout=uniform(0,0.3)"], sampler="random").startswith(
        "trials train one by one: model.dropout is searched"
    )
    assert plan([LR, "model.dropout=0.2"], sampler="random").startswith(
        "trials train one by one: the base config cannot stack: model.dropout=0.2"
    )
    assert "counting the workers seen running trials" in sweep_plan(
        build_spec(None, [*BASE, LR], sampler="random").validate(), shared=True
    )


# A worker that pops its fair share (ceil(6 / 2) = 3 trials), then hangs in training, every trial of
# its batch still beating, until the test kills it.
HANGING_WORKER = """
import sys, time
from pathlib import Path
from trainlab.sweeps import run, storage, trial
from trainlab.sweeps.study import load_study
from trainlab.sweeps.options import SweepOptions
def hang(cfgs, **kwargs):
    time.sleep(300)
trial.train_stacked = hang
name, url, root = sys.argv[1:]
study, spec = load_study(name, storage.make_storage(url, 1, 2))
run.work(study, spec, Path(root) / name, SweepOptions(stack=True, workers=2))
"""


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_a_worker_killed_mid_batch_has_every_trial_of_it_retried_once(tmp_path: Path, kind: str) -> None:
    import optuna

    url = sqlite_url(tmp_path) if kind == "sqlite" else f"journal:{tmp_path / 'journal.log'}"
    storage = make_storage(url, heartbeat=1, grace=2)
    spec = build_spec(None, [*BASE, LR], trials=6, sampler="random").validate()
    spec.name = "kill"
    study = create_study("kill", spec, storage)
    proc = subprocess.Popen(
        [sys.executable, "-c", HANGING_WORKER, "kill", url, str(tmp_path)], env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    running = lambda: study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))  # noqa: E731
    try:
        wait_until(lambda: len(running()) == 3 or proc.poll() is not None, 120, "the worker to pop its batch")
        assert proc.poll() is None and len(running()) == 3
        time.sleep(4)  # twice the grace period: a batch beating as one trial would lose the others now
        fail_stale_trials(study)
        batch = running()
        assert len(batch) == 3, "a live worker's trial was reaped"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    killed = {t.number: t.params for t in batch}

    def reaped() -> bool:  # what every worker does before it pops
        fail_stale_trials(study)
        return not running()

    # every trial of the dead batch stops beating, so all are reaped (a trial that never beat would stay RUNNING)
    wait_until(reaped, 60, "the dead worker's trials to be failed")
    work(study, spec, tmp_path / "kill", SweepOptions(stack=True))
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    failed = [t for t in trials if t.state.name == "FAIL"]
    assert len(complete) == 6 and len(trials) == 9, [t.state.name for t in trials]  # each retry replaces its attempt
    assert {t.number for t in failed} == set(killed) == replaced_numbers(trials)
    assert all("no heartbeat" in trial_reason(t) for t in failed)
    retries = {t.system_attrs["failed_trial"]: t for t in trials if "failed_trial" in t.system_attrs}
    assert set(retries) == set(killed)  # each killed trial queued once more, with its parameters
    assert all(retries[n].state.name == "COMPLETE" and retries[n].params == killed[n] for n in killed)
    assert len({t.params["optim.lr"] for t in complete}) == 6
    numbers = sorted(int(re.search(r"trial-(\d+)", p.name).group(1)) for p in (tmp_path / "kill" / "runs").iterdir())
    assert numbers == sorted(t.number for t in complete)  # one run each, none for the killed attempts
