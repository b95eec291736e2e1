"""Sweeps on scikit-learn's digits, one epoch per trial: grid, seeded random, cv, NaN, resume, refine, report."""

from __future__ import annotations

import itertools
import math
import os
from pathlib import Path

import pytest

from trainlab.api import train
from trainlab.cli import main
from trainlab.config import load_config
from trainlab.sweeps import sweep
from trainlab.sweeps.cv import fold_indices
from trainlab.training.callbacks import Pruning
from trainlab.training.loop import StopTraining

BASE = [
    "data.name=digits",
    "model.hidden=[16]",
    "train.epochs=1",
    "threads=1",
    "optim.batch_size=128",
    "output.report=false",
    "train.checkpoint=false",
]


def test_grid_sweep_runs_exactly_the_six_combinations_and_writes_the_report(tmp_path: Path) -> None:
    r = sweep(
        None,
        [*BASE, "optim.lr=choice(0.01,0.1)", "model.act=choice(relu,tanh,gelu)"],
        sampler="grid",
        root=tmp_path,
        name="grid",
    )
    assert len(r.trials) == 6 and all(t.state.name == "COMPLETE" for t in r.trials)
    seen = {(t.params["optim.lr"], t.params["model.act"]) for t in r.trials}
    assert seen == set(itertools.product([0.01, 0.1], ["relu", "tanh", "gelu"]))
    for t in r.trials:  # each trial's run really used its values
        cfg = load_config(Path(t.user_attrs["run_dirs"][0]) / "config.yaml")
        assert (cfg.optim.lr, cfg.model.act) == (t.params["optim.lr"], t.params["model.act"])
    html = r.report.read_text()
    for part in ("optimization history", "parameter importances", "slices", "trial-0005", "data:image/png;base64"):
        assert part in html
    # best.yaml trains the best trial again, to the same numbers (same seed, same data)
    best = load_config(r.best_config, [f"output.dir={tmp_path / 'again'}"])
    again = train(best)
    assert again.summary["test_accuracy"] == pytest.approx(r.best.user_attrs["test_accuracy"])
    assert r.best.value == max(t.value for t in r.trials)


def test_random_sweep_with_a_fixed_seed_is_reproducible(tmp_path: Path) -> None:
    args = [*BASE, "optim.lr=loguniform(1e-3,1e-1)", "model.hidden=choice([8],[16,8])"]
    a, b, c = (
        sweep(None, args, sampler="random", trials=3, seed=s, root=tmp_path, name=n, report=False)
        for s, n in ((7, "a"), (7, "b"), (8, "c"))
    )
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
    assert [t.value for t in a.trials] == [t.value for t in b.trials]
    assert [t.params for t in a.trials] != [t.params for t in c.trials]


def test_cv_3_reports_three_folds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "sweep",
            *BASE,
            "optim.lr=loguniform(1e-2,1e-1)",
            "--cv",
            "3",
            "--trials",
            "2",
            "--sampler",
            "random",
            "--dir",
            str(tmp_path),
            "--name",
            "cv",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "3-fold cv" in out and "folds (sd)" in out
    from trainlab.sweeps import open_sweep

    r = open_sweep("cv", root=tmp_path)
    for t in r.trials:
        folds = t.user_attrs["fold_values"]
        assert len(folds) == 3 and t.value == pytest.approx(sum(folds) / 3)
        assert [Path(d).name.split("-")[-1] for d in t.user_attrs["run_dirs"]] == ["fold1", "fold2", "fold3"]
        assert " ".join(f"{v:.3f}" for v in folds) in out  # the table shows every fold


def test_folds_are_stratified_disjoint_and_seeded() -> None:
    import numpy as np

    y = np.repeat(np.arange(3), [30, 60, 90])
    folds = fold_indices(y, 3, seed=0)
    vals = np.concatenate([v for _, v in folds])
    assert sorted(vals) == list(range(len(y)))  # every example validates exactly once
    for tr, va in folds:
        assert not set(tr) & set(va)
        assert np.bincount(y[va]).tolist() == [10, 20, 30]
    assert all((a[1] == b[1]).all() for a, b in zip(folds, fold_indices(y, 3, seed=0), strict=True))


def test_a_diverging_trial_fails_with_its_reason_and_the_sweep_goes_on(tmp_path: Path) -> None:
    r = sweep(
        None,
        [*BASE, "optim.name=sgd", "optim.lr=choice(1e9,0.05)"],
        sampler="grid",
        root=tmp_path,
        name="nan",
        report=False,
    )
    by_lr = {t.params["optim.lr"]: t for t in r.trials}
    reason = by_lr[1e9].user_attrs["reason"]  # said by the NaN/Inf guard, or by Pruning if none watches
    assert by_lr[1e9].state.name == "FAIL" and ("NaN/Inf" in reason or "diverged" in reason), reason
    assert by_lr[0.05].state.name == "COMPLETE"


class FakeTrial:
    """Optuna's trial interface, for the callback alone."""

    def __init__(self, prune_at: int) -> None:
        self.reported: list[tuple[float, int]] = []
        self.prune_at = prune_at

    def report(self, value: float, step: int) -> None:
        self.reported.append((value, step))

    def should_prune(self) -> bool:
        return len(self.reported) >= self.prune_at


class FakeTrainer:
    def __init__(self, epoch: int, **metrics: float) -> None:
        self.epoch, self.metrics = epoch, metrics


def test_pruning_callback_reports_each_epoch_and_stops_on_prune_or_nan() -> None:
    trial = FakeTrial(prune_at=2)
    cb = Pruning(trial, "val_accuracy", offset=10)
    cb.on_epoch_end(FakeTrainer(1, train_loss=0.5, val_accuracy=0.7))
    with pytest.raises(StopTraining) as stop:
        cb.on_epoch_end(FakeTrainer(2, train_loss=0.4, val_accuracy=0.75))
    assert stop.value.status == "pruned" and trial.reported == [(0.7, 11), (0.75, 12)]
    with pytest.raises(StopTraining) as stop:
        Pruning(None, "val_loss").on_epoch_end(FakeTrainer(3, train_loss=math.nan, val_loss=1.0))
    assert stop.value.status == "diverged" and "train_loss=nan" in stop.value.reason


def test_interrupted_sweep_resumes_then_refines(tmp_path: Path) -> None:
    args = [*BASE, "optim.lr=loguniform(1e-3,1e-1)", "model.dropout=uniform(0,0.5)"]
    started = []

    def stop_at_third(trial) -> None:
        started.append(trial.number)
        if len(started) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sweep(None, args, sampler="random", trials=4, root=tmp_path, name="first", on_start=stop_at_third, report=False)
    r = sweep(resume="first", root=tmp_path)
    states = [t.state.name for t in r.trials]
    assert states.count("COMPLETE") == 4 and states.count("FAIL") == 1  # the interrupted one ran again
    assert next(t for t in r.trials if t.state.name == "FAIL").user_attrs["reason"] == "interrupted"
    r2 = sweep(refine="first", trials=2, root=tmp_path, name="fine", report=False)
    old, new = r.spec.params()["optim.lr"], r2.spec.params()["optim.lr"]
    assert old.low <= new.low < new.high <= old.high and (new.low, new.high) != (old.low, old.high)
    assert len(r2.trials) == 2


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", "data.name=digits", "optim.lr=loguniform(0,1)", "--dir", str(tmp_path)]) == 2
    assert "positive lower bound" in capsys.readouterr().err
    assert (
        main(
            ["sweep", "data.name=digits", "optim.lr=loguniform(1e-3,1e-1)", "--sampler", "grid", "--dir", str(tmp_path)]
        )
        == 2
    )
    assert "grid sampler needs choice" in capsys.readouterr().err
    assert main(["sweep", "--resume", "nope", "--dir", str(tmp_path)]) == 2
    assert "no sweep 'nope'" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing was created


def test_two_local_workers_share_the_sqlite_study(tmp_path: Path) -> None:
    seen = []
    r = sweep(
        None,
        [*BASE, "optim.lr=loguniform(1e-3,1e-1)"],
        sampler="random",
        trials=4,
        workers=2,
        root=tmp_path,
        name="two",
        on_trial=seen.append,
        report=False,
    )
    assert len(r.trials) == 4 and all(t.state.name == "COMPLETE" for t in r.trials)
    assert sorted(t.number for t in seen) == [0, 1, 2, 3]  # the parent reported each trial once
    pids = {t.user_attrs["worker"].rsplit(":", 1)[1] for t in r.trials}
    assert str(os.getpid()) not in pids and 1 <= len(pids) <= 2  # worker processes ran them (which one: a race)
    assert (tmp_path / "two" / "study.db").is_file()


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_concurrent_pops_never_hand_out_a_trial_twice(tmp_path: Path, kind: str) -> None:
    # Optuna's pop relies on SELECT ... FOR UPDATE, which SQLite ignores: without BEGIN IMMEDIATE
    # (sweeps.storage.serialize_sqlite) four poppers handed out 93 trials from a queue of 60.
    import collections
    import threading

    import optuna

    from trainlab.sweeps.storage import make_storage, pop_waiting_trial_id

    url = f"sqlite:///{tmp_path / 's.db'}" if kind == "sqlite" else f"journal:{tmp_path / 'j.log'}"
    study = optuna.create_study(study_name="race", storage=make_storage(url))
    for _ in range(60):
        study.enqueue_trial({})
    popped: collections.Counter[int] = collections.Counter()
    start = threading.Barrier(4)

    def pop_all() -> None:
        mine = optuna.load_study(
            study_name="race", storage=make_storage(url)
        )  # its own engine, as a worker process has
        start.wait()
        while (trial_id := pop_waiting_trial_id(mine)) is not None:
            popped[trial_id] += 1

    threads = [threading.Thread(target=pop_all) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(popped.values()) == 60 and max(popped.values()) == 1
