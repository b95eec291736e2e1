"""The loop: it learns, it is deterministic, callbacks see events, early stopping stops."""

from __future__ import annotations

from pathlib import Path

import torch

import trainlab
from tests.conftest import quick
from trainlab.training.loop import Callback, Trainer


def test_learns_and_is_deterministic(runs_dir: Path) -> None:
    cfg = quick(runs_dir, train__epochs=3, threads=1, optim__lr=0.01)
    a = trainlab.train(cfg)
    b = trainlab.train(cfg)
    assert a.summary["test_accuracy"] > 0.85
    assert a.history == b.history and a.summary["test_accuracy"] == b.summary["test_accuracy"]
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k]), k
    c = trainlab.train(quick(runs_dir, train__epochs=3, threads=1, optim__lr=0.01, seed=1))
    assert c.history != a.history


class Recorder(Callback):
    def __init__(self) -> None:
        self.events: list[str] = []

    def on_fit_start(self, t: Trainer) -> None:
        self.events.append("fit_start")

    def on_epoch_start(self, t: Trainer) -> None:
        self.events.append("epoch_start")

    def on_batch_end(self, t: Trainer) -> None:
        if not self.events or self.events[-1] != "batch_end":
            self.events.append("batch_end")
        assert t.model.training

    def on_epoch_end(self, t: Trainer) -> None:
        self.events.append("epoch_end")
        assert "val_accuracy" in t.metrics

    def on_fit_end(self, t: Trainer) -> None:
        self.events.append("fit_end")


def test_events_in_order(runs_dir: Path) -> None:
    rec = Recorder()
    run = trainlab.train(quick(runs_dir, train__epochs=2), callbacks=[rec])
    assert rec.events == [
        "fit_start",
        "epoch_start",
        "batch_end",
        "epoch_end",
        "epoch_start",
        "batch_end",
        "epoch_end",
        "fit_end",
    ]
    assert run.summary["steps"] == 2 * -(-run.summary["data"]["train"] // 64)  # ceil(n / batch) per epoch


def test_full_batch_gd_takes_one_step_per_epoch(runs_dir: Path) -> None:
    run = trainlab.train(quick(runs_dir, optim__name="gd", optim__lr=0.5, train__epochs=3))
    assert run.summary["steps"] == 3 and run.config.optim.batch_size == "full"


def test_early_stopping_stops_and_restores(runs_dir: Path) -> None:
    run = trainlab.train(quick(runs_dir, train__epochs=50, train__patience=1, optim__lr=0.3, optim__name="sgd"))
    assert run.summary["epochs"] < 50 and "early stopping" in run.summary["stop_reason"]
    assert run.summary["status"] == "completed"


def test_eval_mode_metrics_match_manual_computation(runs_dir: Path) -> None:
    run = trainlab.train(quick(runs_dir, model__dropout=0.5))
    from trainlab.build import setup

    s = setup(run.config)
    s.model.load_state_dict(run.model.state_dict())
    s.model.eval()
    with torch.no_grad():
        acc = (s.model(s.data.test.x).argmax(1) == s.data.test.y).sum().item() / len(s.data.test)
    assert acc == run.summary["test_accuracy"]
