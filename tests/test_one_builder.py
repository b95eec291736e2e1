"""One run builder: a config key means the same thing in every command that trains."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import trainlab
import trainlab.build as build
from trainlab.config import load_config
from trainlab.lessons.base import LessonContext
from trainlab.training.callbacks import EarlyStopping

KEYS = [
    "data.name=digits",
    "data.limit=300",
    "model.hidden=[16]",
    "train.epochs=2",
    "threads=1",
    "train.precision=bf16",
    "optim.schedule=cosine",
    "train.patience=5",
    "model.norm=batch",
    "output.report=false",
]


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list:
    """Every Trainer the builder makes during a test."""
    trainers: list = []
    original = build.make_trainer

    def spy(s: build.Setup, callbacks: object = ()) -> object:
        t = original(s, callbacks)  # type: ignore[arg-type]
        trainers.append(t)
        return t

    monkeypatch.setattr(build, "make_trainer", spy)
    return trainers


def reached(trainer: object) -> None:
    """The four keys arrived: bf16 autocast, a cosine schedule, early stopping, batch norm."""
    assert trainer.precision == "bf16"  # type: ignore[attr-defined]
    assert type(trainer.schedule.scheduler).__name__ == "CosineAnnealingLR"  # type: ignore[attr-defined]
    assert any(isinstance(c, EarlyStopping) and c.patience == 5 for c in trainer.callbacks)  # type: ignore[attr-defined]
    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in trainer.model.modules())  # type: ignore[attr-defined]


def test_train_eval_and_report(made: list, tmp_path: Path) -> None:
    run = trainlab.train(None, [*KEYS, f"output.dir={tmp_path}"], handle_signals=False)
    trainlab.evaluate_run(run.path)
    assert len(made) == 2
    for t in made:
        reached(t)


def test_compare(made: list, tmp_path: Path) -> None:
    base = load_config(None, KEYS)
    trainlab.compare(["model.act=relu,tanh"], base, workers=1, out_dir=tmp_path, report=False)
    assert len(made) == 2
    for t in made:
        reached(t)


def test_sweep_trial(made: list, tmp_path: Path) -> None:
    pytest.importorskip("optuna")
    trainlab.sweep(None, [*KEYS, "optim.lr=choice(0.01)"], sampler="grid", root=tmp_path, name="keys", report=False)
    assert len(made) == 1
    reached(made[0])


def test_lesson_experiments(made: list) -> None:
    ctx = LessonContext(
        quick=True, overrides=["train.precision=bf16", "optim.schedule=cosine", "train.patience=5", "model.norm=batch"]
    )
    ctx.fit(
        ctx.config(**{"data.name": "digits", "data.limit": 300, "model.hidden": [16], "train.epochs": 2, "threads": 1})
    )
    assert len(made) == 1
    reached(made[0])
