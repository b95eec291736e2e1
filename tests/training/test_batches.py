"""A last batch of one example with batch norm joins the batch before it; the doctor shows it (issue 13, B)."""

from __future__ import annotations

from pathlib import Path

import pytest

import trainlab
from trainlab.build import setup
from trainlab.cli import main
from trainlab.config import load_config
from trainlab.diagnose.checks import check_batches, subject_from_setup
from trainlab.training.loop import batch_bounds


def test_batch_bounds() -> None:
    assert batch_bounds(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert batch_bounds(9, 4) == [(0, 4), (4, 8), (8, 9)]  # a last batch of one, without batch norm
    assert batch_bounds(9, 4, min_batch=2) == [(0, 4), (4, 9)]  # with it: joins the one before
    assert batch_bounds(1293, 4, 2)[-1] == (1288, 1293) and len(batch_bounds(1293, 4, 2)) == 323
    assert batch_bounds(3, 8, 2) == [(0, 3)] and batch_bounds(0, 8) == [(0, 0)]


@pytest.mark.parametrize("batch", [2, 4, 68, 76])  # digits: 1293 training examples, 1293 % b == 1 for each
def test_batch_norm_with_a_last_batch_of_one_trains(tmp_path: Path, batch: int) -> None:
    run = trainlab.train(
        {
            "data": {"name": "digits"},
            "model": {"norm": "batch", "hidden": [16]},
            "optim": {"batch_size": batch},
            "train": {"epochs": 1},
            "threads": 1,
            "output": {"dir": str(tmp_path), "report": False},
        },
        handle_signals=False,
    )
    assert run.summary["status"] == "completed" and run.summary["data"]["train"] == 1293
    assert run.summary["steps"] == 1293 // batch  # the example left over joined the last batch


def test_batch_norm_with_batch_size_1_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["train", "data.name=digits", "model.norm=batch", "optim.batch_size=1", f"output.dir={tmp_path}"]) == 2
    assert (
        "optim.batch_size=1 with batch norm: it cannot normalize a single example in training"
        in capsys.readouterr().err
    )
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_doctor_shows_the_merged_batch(capsys: pytest.CaptureFixture) -> None:
    s = setup(
        load_config(
            None, ["data.name=digits", "model.norm=batch", "optim.batch_size=4", "model.hidden=[16]", "threads=1"]
        )
    )
    result = check_batches(subject_from_setup(s))
    assert result.passed and result.measured["merged"]
    assert result.summary.startswith(
        "323 batches of 4 per epoch, the last of 5 (a last batch of 1 joins the one before: batch norm"
    )
    plain = setup(load_config(None, ["data.name=digits", "optim.batch_size=4", "model.hidden=[16]", "threads=1"]))
    result = check_batches(subject_from_setup(plain))
    assert (
        result.passed
        and not result.measured["merged"]
        and result.summary.startswith("324 batches of 4 per epoch, the last of 1;")
    )
