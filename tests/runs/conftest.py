"""A run stopped mid-epoch, shared by the checkpoint-payload and lock tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import trainlab
from tests.conftest import StopAt

EPOCHS, BATCH = 3, 32  # xor: 400 examples, 40 for validation -> 360 train = 12 batches per epoch


def config(runs: Path) -> dict:
    return {
        "data": {"name": "xor"},
        "model": {"hidden": [8]},
        "optim": {"batch_size": BATCH},
        "train": {"epochs": EPOCHS},
        "threads": 1,
        "output": {"dir": str(runs), "report": False},
    }


@pytest.fixture(scope="module")
def stopped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run stopped mid-epoch 1 (step 17, batch 5 of 12), ready to resume."""
    run = trainlab.train(config(tmp_path_factory.mktemp("runs")), callbacks=[StopAt(17)], handle_signals=False)
    assert run.summary["status"] == "interrupted"
    return run.path


@pytest.fixture
def run_copy(stopped: Path, tmp_path: Path) -> Path:
    dest = tmp_path / stopped.name
    shutil.copytree(stopped, dest)
    return dest
