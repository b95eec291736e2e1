"""logging.tensorboard=true: event files with scalars and histograms of weights and activations."""

from __future__ import annotations

from pathlib import Path

import pytest

import trainlab
from tests.conftest import quick

pytest.importorskip("tensorboard", reason="tensorboard is not installed (pip install 'trainlab[tensorboard]')")


def test_tensorboard_logs_scalars_and_histograms(runs_dir: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = trainlab.train(quick(runs_dir, logging__tensorboard=True, output__report=False, threads=1))
    assert list(run.path.glob("events.out.tfevents.*"))
    events = EventAccumulator(str(run.path), size_guidance={"histograms": 0, "scalars": 0})
    events.Reload()
    tags = events.Tags()
    assert {"loss/train", "loss/val", "accuracy/train", "accuracy/val", "lr"} <= set(tags["scalars"])
    assert {"weights/fc1.weight", "weights/out.bias", "activations/act1"} <= set(tags["histograms"])
    losses = [e.value for e in events.Scalars("loss/train")]
    assert losses == pytest.approx([m["train_loss"] for m in run.history])
    relu = events.Histograms("activations/act1")[-1].histogram_value
    assert relu.min >= 0  # ReLU outputs, not pre-activations
