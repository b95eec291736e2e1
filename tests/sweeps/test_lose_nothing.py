"""Sweeps that lose and repeat nothing: resume without replaying the sampler, a dead worker's trial
retried once with its parameters, a sweep killed while being created, the journal file storage."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from trainlab.errors import ConfigError
from trainlab.sweeps import sweep
from trainlab.sweeps.api import build_spec
from trainlab.sweeps.heartbeat import record_heartbeat
from trainlab.sweeps.options import SweepOptions
from trainlab.sweeps.queue import pop_trial
from trainlab.sweeps.records import replaced_numbers, trial_reason
from trainlab.sweeps.run import work
from trainlab.sweeps.storage import make_storage, sqlite_url, study_storage, trial_id
from trainlab.sweeps.study import create_study

BASE = [
    "data.name=digits",
    "data.limit=300",
    "model.hidden=[8]",
    "train.epochs=1",
    "threads=1",
    "optim.batch_size=128",
    "output.report=false",
    "train.checkpoint=false",
]
SPACE = [*BASE, "optim.lr=loguniform(1e-3,1e-1)"]


def _lrs(r) -> list[float]:
    return [t.params["optim.lr"] for t in r.trials]


def test_a_resumed_sweep_continues_the_sampler_instead_of_replaying_it(tmp_path: Path) -> None:
    sweep(None, SPACE, sampler="random", trials=2, seed=3, root=tmp_path, name="a", report=False)
    grown = sweep(resume="a", trials=4, root=tmp_path, report=False)
    assert len(set(_lrs(grown))) == 4  # on main, trials 2 and 3 repeated 0 and 1
    # a trial's draw depends on (seed, trial number) only: the same as a sweep that was never stopped
    whole = sweep(None, SPACE, sampler="random", trials=4, seed=3, root=tmp_path, name="b", report=False)
    assert _lrs(whole) == _lrs(grown)


def _kill_mid_trial(study, spec) -> object:
    """What a SIGKILLed worker leaves: a running trial with its parameters drawn and a last heartbeat."""
    trial = pop_trial(study, spec.seed)
    for p in spec.params().values():
        p.suggest(trial)
    record_heartbeat(study_storage(study), trial_id(trial))
    return trial


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_a_dead_workers_trial_runs_again_once_with_the_same_parameters(tmp_path: Path, kind: str) -> None:
    url = sqlite_url(tmp_path) if kind == "sqlite" else f"journal:{tmp_path / 'j' / 'journal.log'}"
    storage = make_storage(url, heartbeat=1, grace=2)
    spec = build_spec(None, SPACE, trials=3, sampler="random").validate()
    spec.name = "dead"
    study = create_study("dead", spec, storage)
    dead = _kill_mid_trial(study, spec)
    lr = dead.params["optim.lr"]
    time.sleep(2.5)  # the grace period passes without a heartbeat
    work(study, spec, tmp_path / "dead", SweepOptions(stack=False))
    trials = study.get_trials(deepcopy=False)
    states = [t.state.name for t in trials]
    assert states.count("COMPLETE") == 3 and states.count("FAIL") == 1, states  # counted once
    failed = next(t for t in trials if t.state.name == "FAIL")
    assert failed.number == dead.number and "no heartbeat" in trial_reason(failed)
    retry = next(t for t in trials if t.system_attrs.get("failed_trial") == dead.number)
    assert retry.state.name == "COMPLETE" and retry.params["optim.lr"] == lr
    assert replaced_numbers(trials) == {dead.number}
    assert len({t.params["optim.lr"] for t in trials if t.state.name == "COMPLETE"}) == 3  # all distinct


def test_a_sweep_killed_while_being_created_can_be_created_again(tmp_path: Path) -> None:
    import optuna

    # what a creator killed between create_study and storing the spec leaves behind
    (tmp_path / "half").mkdir()
    optuna.create_study(study_name="half", storage=sqlite_url(tmp_path / "half"))
    with pytest.raises(ConfigError, match="interrupted while being created"):
        sweep(resume="half", root=tmp_path)
    r = sweep(None, SPACE, sampler="random", trials=2, root=tmp_path, name="half", report=False)
    assert [t.state.name for t in r.trials] == ["COMPLETE", "COMPLETE"]


def test_journal_storage_runs_a_sweep_and_a_bad_path_is_one_line(tmp_path: Path) -> None:
    log = tmp_path / "shared" / "j.log"
    r = sweep(None, SPACE, sampler="random", trials=2, root=tmp_path, name="j", storage=f"journal:{log}", report=False)
    assert log.is_file() and [t.state.name for t in r.trials] == ["COMPLETE", "COMPLETE"]
    assert r.storage == f"journal:{log}"
    with pytest.raises(ConfigError, match="give a file"):
        make_storage(f"journal:{tmp_path}")
