"""Per-layer statistics during training: stats.csv and plots when asked, nothing when off."""

from __future__ import annotations

import csv
from pathlib import Path

import torch

import trainlab
from tests.conftest import quick
from trainlab.nn.stats import ActivationRecorder, activation_stats
from trainlab.training.callbacks.diagnostics import Diagnostics


def test_stats_csv_and_plots(runs_dir: Path) -> None:
    run = trainlab.train(
        quick(runs_dir, threads=1, diagnostics__every=5, train__epochs=2, output__report=False)
    )  # 23 steps per epoch
    rows = list(csv.DictReader((run.path / "stats.csv").open()))
    steps = sorted({int(r["step"]) for r in rows})
    assert steps == [1, *range(6, run.summary["steps"] + 1, 5)]  # step 1, then the step after every 5th
    layers = {r["layer"] for r in rows}
    assert layers == {"fc1", "act1", "out"}
    act = next(r for r in rows if r["layer"] == "act1")
    assert 0.2 < float(act["zero"]) < 0.8 and float(act["std"]) > 0  # ReLU: about half its outputs are 0
    fc = [r for r in rows if r["layer"] == "fc1"]
    assert all(float(r["grad_norm"]) > 0 and 0 < float(r["update_ratio"]) < 1 for r in fc)
    for name in ("stats_histograms.png", "stats_gradient_flow.png", "stats_update_ratio.png"):
        assert (run.path / name).stat().st_size > 2000, name


def test_off_by_default_costs_nothing(runs_dir: Path) -> None:
    seen: list = []
    run = trainlab.train(
        quick(runs_dir, threads=1, train__epochs=1, output__report=False),
        on_setup=lambda s, t: seen.extend(t.callbacks),
    )
    assert not any(isinstance(c, Diagnostics) for c in seen)
    assert not (run.path / "stats.csv").exists()
    assert not any(m._forward_hooks for m in run.model.modules())  # no hook left behind


def test_activation_stats_by_kind() -> None:
    a = torch.tensor([[0.0, 0.5, 0.0], [0.0, 2.0, 0.0]])  # unit 0 and 2 are dead
    mean, std, zero, dead, sat, absmax = activation_stats(a, "relu").tolist()
    assert abs(zero - 4 / 6) < 1e-6 and abs(dead - 2 / 3) < 1e-6 and sat == 0 and absmax == 2.0
    t = torch.tensor([[0.995, -0.999, 0.1, 0.0]])
    assert activation_stats(t, "tanh")[4].item() == 0.5
    s = torch.tensor([[0.001, 0.5, 0.999, 0.3]])
    assert activation_stats(s, "sigmoid")[4].item() == 0.5


def test_recorder_removes_its_hooks() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh())
    with ActivationRecorder(model, sample=4) as rec:
        model(torch.randn(5, 4))
    assert list(rec.results()) == ["0", "1"] and rec.samples["1"].shape == (4,)
    assert not any(m._forward_hooks for m in model.modules())
