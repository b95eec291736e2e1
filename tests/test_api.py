"""trainlab.training end to end in Python: the run directory, summary keys, listing, eval."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import trainlab
from tests.conftest import quick
from trainlab.errors import ConfigError


def test_run_directory_contents(runs_dir: Path) -> None:
    run = trainlab.train(quick(runs_dir))
    files = {p.name for p in run.path.iterdir()}
    assert {"config.yaml", "metrics.csv", "summary.json", "checkpoint.pt", "model.safetensors"} <= files
    s = json.loads((run.path / "summary.json").read_text())
    for key in (
        "test_accuracy",
        "test_loss",
        "best_val_accuracy",
        "epochs",
        "fit_seconds",
        "status",
        "confusion_matrix",
        "per_class_accuracy",
    ):
        assert key in s, key
    assert s["status"] == "completed" and s["epochs"] == 2
    cm = s["confusion_matrix"]
    assert sum(map(sum, cm)) == 360 and sum(cm[i][i] for i in range(10)) / 360 == pytest.approx(s["test_accuracy"])
    saved = yaml.safe_load((run.path / "config.yaml").read_text())
    assert saved["loss"]["name"] == "cross_entropy"  # auto resolved and written out
    lines = (run.path / "metrics.csv").read_text().splitlines()
    assert lines[0].startswith("epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr") and len(lines) == 3


def test_saved_config_reproduces_the_numbers(runs_dir: Path) -> None:
    first = trainlab.train(quick(runs_dir))
    again = trainlab.train(first.path / "config.yaml")
    assert again.summary["test_accuracy"] == first.summary["test_accuracy"]
    assert again.history == first.history


def test_list_and_evaluate_runs(runs_dir: Path) -> None:
    run = trainlab.train(quick(runs_dir))
    runs = trainlab.list_runs(runs_dir)
    assert [r.path for r in runs] == [run.path]
    r = trainlab.evaluate_run(run.path, "test")
    assert r["accuracy"] == pytest.approx(run.summary["test_accuracy"])
    assert trainlab.load_run(run.path).summary["status"] == "completed"


def test_bad_config_leaves_no_run_directory(runs_dir: Path) -> None:
    with pytest.raises(ConfigError):
        trainlab.train(quick(runs_dir, model__act="nope"))
    assert not runs_dir.exists() or not list(runs_dir.iterdir())


def test_binary_perceptron_on_xor_cannot_fit_but_mlp_can(runs_dir: Path) -> None:
    common = {
        "data": {"name": "xor(size=400,noise=0.2)", "val": 0},
        "train": {"epochs": 60},
        "optim": {"lr": 0.05, "batch_size": 32},
        "output": {"dir": str(runs_dir)},
        "threads": 1,
    }
    p = trainlab.train({**common, "model": {"name": "perceptron"}})
    assert p.config.loss.name == "bce_with_logits" and p.summary["test_accuracy"] < 0.7
    m = trainlab.train({**common, "model": {"hidden": [16]}})
    assert m.summary["test_accuracy"] > 0.9


def test_the_lazy_facade_names_what_the_api_exports() -> None:
    """``trainlab/__init__._PUBLIC`` (lazy, no torch) and ``api.__all__`` list the same names, so neither drifts."""
    from trainlab import _PUBLIC, api

    assert set(_PUBLIC) == set(api.__all__) - {"as_config"}  # as_config: trainlab.config's, not the facade's
