"""A checkpoint with the right format tag and wrong contents is refused in one line before anything is restored
(issue 13)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

import trainlab
from tests.runs.conftest import BATCH, EPOCHS
from trainlab.cli import main
from trainlab.errors import CheckpointError
from trainlab.runs.checkpoint import load_checkpoint, save_checkpoint, validate_payload


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict], None]:
    def change(p: dict) -> None:
        node = p
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return change


MUTATIONS: list[tuple[str, Callable[[dict], None], str]] = [
    ("epoch 99", _set(("epoch",), 99), r"epoch=99, expected an integer in \[0, 3\]"),
    (
        "position 10**6",
        _set(("in_epoch", "position"), 10**6),
        r"in_epoch.position=1000000, expected an integer in \[0, 12\]",
    ),
    ("epoch abc", _set(("epoch",), "abc"), r"epoch='abc', expected an integer"),
    ("step negative", _set(("step",), -1), r"step=-1, expected an integer >= 0"),
    ("rng empty", _set(("rng",), {}), r"rng lacks the python state"),
    ("history 5", _set(("history",), 5), r"history is not a list of per-epoch mappings"),
    ("history too long", lambda p: p["history"].append({"epoch": 9.0}), r"history has 2 rows for epoch=1"),
    (
        "param group params",
        _set(("optimizer", "param_groups", 0, "params"), "x"),
        r"optimizer.param_groups\[0\].params='x'",
    ),
    (
        "param group lr",
        _set(("optimizer", "param_groups", 0, "lr"), "abc"),
        r"optimizer.param_groups\[0\].lr='abc' is not an optimizer setting",
    ),
    (
        "param group betas",
        _set(("optimizer", "param_groups", 0, "betas"), ("a", "b")),
        r"betas=\('a', 'b'\) is not an optimizer setting",
    ),
    (
        "param listed twice",
        lambda p: p["optimizer"]["param_groups"].append(dict(p["optimizer"]["param_groups"][0])),
        r"lists a parameter twice",
    ),
    ("python rng short", _set(("rng", "python"), (3, (1, 2, 3), None)), r"rng.python is not a Python random state"),
    ("python rng index", _set(("rng", "python"), (3, (0,) * 624 + (999,), None)), r"an index above 624"),
    (
        "numpy keys shape",
        _set(("rng", "numpy", "keys"), torch.zeros(3, dtype=torch.int64)),
        r"rng.numpy.keys has shape \(3,\), expected \(624,\)",
    ),
    (
        "torch rng dtype",
        _set(("rng", "torch"), torch.zeros(5056)),
        r"rng.torch holds torch.float32, expected torch.uint8",
    ),
    ("perm not a permutation", lambda p: p["in_epoch"]["perm"].fill_(0), r"in_epoch.perm is not a permutation"),
    ("seen inconsistent", _set(("in_epoch", "seen"), 3), r"in_epoch.seen=3 does not match position=5"),
    ("fit_seconds", _set(("fit_seconds",), float("nan")), r"fit_seconds=nan, expected a finite number >= 0"),
    ("callbacks", _set(("callbacks",), {"EarlyStopping": 5}), r"callbacks is not a mapping of callback names"),
    ("model", _set(("model",), {"fc1.weight": "abc"}), r"model is not a mapping of parameter names to tensors"),
]


@pytest.mark.parametrize(("name", "mutate", "message"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_bad_field_refused_in_one_line_and_nothing_changes(
    run_copy: Path, capsys: pytest.CaptureFixture, name: str, mutate: Callable[[dict], None], message: str
) -> None:
    ckpt = run_copy / "checkpoint.pt"
    payload = load_checkpoint(ckpt)
    assert payload["epoch"] == 1 and payload["in_epoch"]["position"] == 5
    payload.pop("format")
    mutate(payload)
    save_checkpoint(ckpt, payload)
    before = {p.name: p.read_bytes() for p in run_copy.iterdir()}
    assert main(["train", "--resume", str(run_copy), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {ckpt}: damaged or foreign checkpoint: ") or "incomplete" in err
    assert err.count("\n") == 1 and __import__("re").search(message, err), err
    assert {p.name: p.read_bytes() for p in run_copy.iterdir()} == before  # the user's files are untouched


def test_an_intact_checkpoint_passes_and_train_size_is_checked(stopped: Path) -> None:
    payload = load_checkpoint(stopped / "checkpoint.pt")
    validate_payload(payload, "ckpt", epochs=EPOCHS, batch_size=BATCH, train_size=360)
    with pytest.raises(CheckpointError, match="in_epoch.perm orders 360 examples, the training split has 300"):
        validate_payload(payload, "ckpt", epochs=EPOCHS, batch_size=BATCH, train_size=300)
    with pytest.raises(CheckpointError, match="incomplete checkpoint, missing rng"):
        validate_payload({k: v for k, v in payload.items() if k != "rng"}, "ckpt")


def test_optimizer_state_checked_against_the_live_optimizer(stopped: Path) -> None:
    from trainlab.build import setup
    from trainlab.runs.checkpoint import check_optimizer_state

    s = setup(trainlab.load_run(stopped).config)
    saved = load_checkpoint(stopped / "checkpoint.pt")["optimizer"]
    check_optimizer_state(saved, s.optimizer, "ckpt")  # the run's own state fits
    saved["state"][0]["exp_avg"] = torch.zeros(3, 3)
    with pytest.raises(
        CheckpointError, match=r"optimizer.state\[0\].exp_avg has shape \(3, 3\), its parameter \(8, 2\)"
    ):
        check_optimizer_state(saved, s.optimizer, "ckpt")
    saved = load_checkpoint(stopped / "checkpoint.pt")["optimizer"]
    saved["param_groups"][0]["amsgrad"] = True  # a valid flag, but not what this config builds
    with pytest.raises(CheckpointError, match=r"amsgrad=True does not fit this optimizer.s False"):
        check_optimizer_state(saved, s.optimizer, "ckpt")
    saved = load_checkpoint(stopped / "checkpoint.pt")["optimizer"]
    saved["state"][1]["step"] = None
    with pytest.raises(CheckpointError, match=r"optimizer.state\[1\] is not a mapping of names to tensors"):
        validate_payload({**load_checkpoint(stopped / "checkpoint.pt"), "optimizer": saved}, "ckpt")


def test_a_data_parallel_checkpoint_counts_rank_0s_shards(stopped: Path) -> None:
    """Mid-epoch, a data-parallel run's checkpoint holds rank 0's running sums: of each batch its
    strided shard, ceil(batch / processes) examples (training/distributed.shard)."""
    from trainlab.training.loop import batch_bounds

    payload = load_checkpoint(stopped / "checkpoint.pt")
    position, batches = payload["in_epoch"]["position"], len(batch_bounds(360, BATCH))
    payload["world_size"] = 3
    with pytest.raises(
        CheckpointError,
        match=f"in_epoch.seen={position * BATCH} does not match position={position} batches on 3 processes",
    ):
        validate_payload(payload, "ckpt", epochs=EPOCHS, batch_size=BATCH, batches=batches, train_size=360)
    payload["in_epoch"]["seen"] = position * -(-BATCH // 3)
    validate_payload(payload, "ckpt", epochs=EPOCHS, batch_size=BATCH, batches=batches, train_size=360)
