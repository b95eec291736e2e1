"""Regression as a task: the data sets, MSE/MAE/R² reporting, and a linear model recovering w and b."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from trainlab import api
from trainlab.data.sources import load_raw
from trainlab.errors import ConfigError


def _cfg(runs_dir, data: str, **over) -> dict:
    cfg = {
        "data": {"name": data, "val": 0.1, "preprocess": "standardize(per_feature=true)"},
        "model": {"name": "linear"},
        "optim": {"name": "sgd", "lr": 0.1, "batch_size": 32},
        "train": {"epochs": 20},
        "threads": 1,
        "output": {"dir": str(runs_dir), "report": False},
    }
    for k, v in over.items():
        section, key = k.split("__")
        cfg.setdefault(section, {})[key] = v
    return cfg


def test_data_sets_are_regression_tasks():
    line = load_raw("line(w=[1,-2],b=0.5,dims=2,noise=0,size=50)")
    assert line.task == "regression" and line.x_train.shape == (50, 2) and line.y_train.dtype == np.float32
    assert np.allclose(line.y_train, line.x_train @ np.array([1, -2]) + 0.5, atol=1e-5)
    out = load_raw("line(outliers=0.1,size=100,noise=0)")
    assert (np.abs(out.y_train - (2 * out.x_train[:, 0] - 1)) > 5).sum() == 10
    sine = load_raw("sine(noise=0)")
    assert np.allclose(sine.y_test, np.sin(2 * np.pi * sine.x_test[:, 0]), atol=1e-5)
    diabetes = load_raw("diabetes")
    assert diabetes.x_train.shape == (353, 10) and diabetes.task == "regression"
    with pytest.raises(ConfigError, match="list of dims=2"):
        load_raw("line(w=[1,2,3],dims=2)")


def test_linear_model_on_line_recovers_w_and_b(runs_dir):
    run = api.train(_cfg(runs_dir, "line(w=2,b=-1,noise=0.1,size=400)"), handle_signals=False)
    s = run.summary
    # 360 training points with noise 0.1: the standard errors of w and b are ~0.01 and ~0.005
    assert s["fitted"]["w"][0] == pytest.approx(2.0, abs=0.05) and s["fitted"]["b"] == pytest.approx(-1.0, abs=0.05)
    assert s["test_mse"] == pytest.approx(0.01, rel=0.3) and s["test_r2"] > 0.99
    assert {"test_mse", "test_mae", "test_r2", "train_mse"} <= set(s) and "test_accuracy" not in s
    header = next(csv.reader(open(run.path / "metrics.csv")))
    assert {"val_mse", "val_mae", "val_r2"} <= set(header) and "train_accuracy" not in header
    assert json.loads((run.path / "summary.json").read_text())["fitted"] == s["fitted"]


def test_mae_resists_outliers_that_pull_mse(runs_dir):
    data = "line(w=2,b=-1,noise=0.05,size=200,outliers=0.2)"
    mse = api.train(_cfg(runs_dir, data), handle_signals=False).summary["fitted"]
    mae = api.train(_cfg(runs_dir, data, loss__name="mae", train__epochs=60), handle_signals=False).summary["fitted"]
    assert abs(mse["b"] - (-1)) > 1.0  # 20% of targets +10: mse's intercept moves by ~2
    assert abs(mae["b"] - (-1)) < 0.2 and abs(mae["w"][0] - 2) < 0.2


def test_classification_losses_refuse_regression_data(runs_dir):
    with pytest.raises(ConfigError, match="regression task"):
        api.train(_cfg(runs_dir, "sine", loss__name="cross_entropy"), handle_signals=False)


@pytest.mark.parametrize("spec", ["none", "scale", "standardize(per_feature=true)", "pca(k=3)", "zca_whiten(eps=0.01)"])
def test_fitted_line_is_in_the_data_units_whatever_the_preprocessing(spec):
    import torch

    from trainlab.data.preprocess import fit_preprocess
    from trainlab.data.regression import fitted_line

    x = torch.randn(100, 3) * torch.tensor([1.0, 5.0, 0.2]) + 3
    t = fit_preprocess(spec, x)
    model = torch.nn.Sequential(torch.nn.Linear(t.output_shape((3,))[0], 1))
    line = fitted_line(model, t.state_dict(), t.output_shape((3,)))
    with torch.no_grad():
        expected = model(t(x)).squeeze(1)
    got = x @ torch.tensor(line["w"], dtype=torch.float32) + line["b"]
    assert torch.allclose(got, expected, atol=1e-3)  # w·x + b reproduces the model on the raw inputs
