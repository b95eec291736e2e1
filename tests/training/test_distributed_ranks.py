"""Two real gloo processes (``trainlab train --nproc 2``): evaluation shared among the ranks gives the
single-process figures, and the NaN guard, early stopping and Ctrl-C stop both ranks at the same step.

Each test starts torchrun once or twice on digits with one thread per rank; most of their time is
Python and torch starting up in three processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from trainlab.runner import train
from trainlab.runs.rundir import load_run

ARGS = ["data.name=digits", "model.hidden=[16]", "threads=1", "optim.batch_size=100", "output.report=false"]
STEPS = 13  # optimizer steps per epoch: 1293 training examples of digits in batches of 100


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}


def _nproc(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "trainlab", "train", "--nproc", "2", "--no-progress", *args]
    return subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=timeout)


def _only_run(parent: Path) -> Path:
    (run,) = [p for p in parent.iterdir() if p.is_dir()]  # rank 0 alone creates a run directory
    return run


def _summary(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


def _together(summary: dict) -> dict:
    """The one place where both ranks stopped (asserting that it is one place)."""
    ranks = summary["ranks"]
    assert [r["rank"] for r in ranks] == [0, 1]
    where = {(r["status"], r["epochs"], r["steps"]) for r in ranks}
    assert len(where) == 1, ranks
    return ranks[0]


def test_each_rank_evaluates_a_contiguous_part_and_the_parts_cover_the_split_once() -> None:
    from trainlab.training.distributed import World, rows

    assert rows(7, World(0, 3)) == [(0, 2), (2, 4), (4, 7)]
    assert rows(1, World(0, 2)) == [(0, 0), (0, 1)]  # rank 0 computes a stand-in row and sends none


def test_the_nan_guard_stops_both_ranks_at_the_same_step_and_the_command_exits_3(tmp_path: Path) -> None:
    done = _nproc(*ARGS, "train.epochs=3", "optim.name=sgd", "optim.lr=1e6", f"output.dir={tmp_path}")
    assert done.returncode == 3, done.stdout + done.stderr  # as a single run exits (cli/train.py)
    assert "NaN/Inf guard" in done.stdout and "Traceback" not in done.stderr, done.stderr
    s = _summary(_only_run(tmp_path))
    assert s["status"] == "diverged" and s["world_size"] == 2
    at = _together(s)
    assert at["status"] == "diverged" and at["steps"] == s["steps"] < 3 * STEPS


def test_early_stopping_stops_both_ranks_at_the_epoch_one_process_stops_with_its_figures(tmp_path: Path) -> None:
    """Every validation (for the early stopping) and the final test and train figures are computed
    by the two ranks in halves; they equal the single-process run's: accuracies and the confusion
    matrix exactly, losses to float rounding."""
    args = [*ARGS, "train.epochs=20", "train.patience=2", "train.min_delta=0.2", "train.restore_best=false"]
    done = _nproc(*args, f"output.dir={tmp_path / 'two'}")
    assert done.returncode == 0, done.stdout + done.stderr
    two = load_run(_only_run(tmp_path / "two"))
    one = train(None, [*args, f"output.dir={tmp_path / 'one'}"], progress=False)
    assert "early stopping" in one.summary["stop_reason"] and one.summary["epochs"] < 20  # it stopped early
    at = _together(two.summary)
    assert (at["epochs"], at["steps"]) == (one.summary["epochs"], one.summary["steps"])
    assert two.summary["stop_reason"] == one.summary["stop_reason"]
    for m1, m2 in zip(one.history, two.history, strict=True):
        assert m1["val_accuracy"] == m2["val_accuracy"]
        assert m1["val_loss"] == pytest.approx(m2["val_loss"], rel=1e-5)
    for k in (
        "test_accuracy",
        "train_accuracy",
        "confusion_matrix",
        "per_class_accuracy",
        "per_class",
        "test_macro_f1",
    ):
        assert one.summary[k] == two.summary[k], k  # counts and their ratios: exact
    for k in ("test_loss", "train_loss"):
        assert one.summary[k] == pytest.approx(two.summary[k], rel=1e-5), k


def test_ctrl_c_stops_both_ranks_at_the_same_step_and_the_resumed_run_finishes_as_one_process(tmp_path: Path) -> None:
    """SIGINT to ``trainlab train --nproc 2`` (what Ctrl-C in its terminal sends): both ranks stop at
    one step, rank 0 checkpoints, the command says how to resume (exit 130); the resumed run ends
    where an uninterrupted single-process run ends."""
    args = [*ARGS, "train.epochs=25"]
    cmd = [
        sys.executable,
        "-m",
        "trainlab",
        "train",
        "--nproc",
        "2",
        "--no-progress",
        *args,
        f"output.dir={tmp_path / 'two'}",
    ]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    end = time.monotonic() + 240
    while time.monotonic() < end and proc.poll() is None:  # an epoch done: the ranks are training
        csv = list((tmp_path / "two").glob("*/metrics.csv"))
        if csv and len(csv[0].read_text().splitlines()) >= 2:
            break
        time.sleep(0.1)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    run = _only_run(tmp_path / "two")
    assert proc.returncode == 130, out + err
    assert f"resume with: trainlab train --resume {run} --nproc 2" in err, err
    s = _summary(run)
    assert s["status"] == "interrupted" and s["interrupted_by"] == "SIGINT"
    at = _together(s)
    assert at["status"] == "interrupted" and at["steps"] == s["steps"] < 25 * STEPS
    checkpoint = torch.load(run / "checkpoint.pt", weights_only=True)
    assert checkpoint["step"] == s["steps"]  # taken at the step where both stopped
    again = _nproc("--resume", str(run))
    assert again.returncode == 0, again.stdout + again.stderr
    assert _summary(run)["status"] == "completed" and _summary(run)["steps"] == 25 * STEPS
    one = train(None, [*args, f"output.dir={tmp_path / 'one'}"], progress=False)
    from safetensors.torch import load_file

    a, b = load_file(one.path / "model.safetensors"), load_file(run / "model.safetensors")
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-5  # up to the order of float sums


def test_batch_norm_ranks_evaluate_with_the_statistics_rank_0_saves(tmp_path: Path) -> None:
    """Without sync_bn each rank keeps BatchNorm statistics of its own shards; the sharded evaluation
    uses rank 0's (broadcast first), so the run's test figures are those of the saved model."""
    from trainlab.evaluate import evaluate_run

    done = _nproc(*ARGS, "model.norm=batch", "train.epochs=2", f"output.dir={tmp_path}")
    assert done.returncode == 0, done.stdout + done.stderr
    run = _only_run(tmp_path)
    s, again = _summary(run), evaluate_run(run, "test")  # one process, model.safetensors (rank 0's)
    assert again["accuracy"] == s["test_accuracy"]
    assert again["loss"] == pytest.approx(s["test_loss"], rel=1e-6)


def test_sync_bn_is_refused_on_cpu_before_any_process_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from trainlab.cli import main

    assert (
        main(
            ["train", "--nproc", "2", "device=cpu", "train.sync_bn=true", "model.norm=batch", f"output.dir={tmp_path}"]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert (
        "train.sync_bn=true needs CUDA GPUs (device is cpu, 2 processes)" in err and len(err.strip().splitlines()) == 1
    )
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(not torch.cuda.is_available() or torch.cuda.device_count() < 2, reason="needs 2 CUDA GPUs (NCCL)")
def test_two_nccl_ranks_with_sync_bn_match_one_gpu(tmp_path: Path) -> None:
    """NCCL on cuda:0 and cuda:1 (not run on the CPU machine this was written on): with
    ``train.sync_bn`` the BatchNorm running statistics and the weights match one GPU's run."""
    args = [*ARGS, "device=cuda", "model.norm=batch", "train.epochs=2"]
    done = _nproc(*args, "train.sync_bn=true", f"output.dir={tmp_path / 'two'}")
    assert done.returncode == 0, done.stdout + done.stderr
    two = _only_run(tmp_path / "two")
    assert _summary(two)["device"] == "cuda:0" and _together(_summary(two))["status"] == "completed"
    one = train(None, [*args, f"output.dir={tmp_path / 'one'}"], progress=False)
    from safetensors.torch import load_file

    a, b = load_file(one.path / "model.safetensors"), load_file(two / "model.safetensors")
    assert any("running_mean" in k for k in a)
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), rtol=1e-4, atol=1e-5), k
    assert one.summary["test_accuracy"] == pytest.approx(
        _summary(two)["test_accuracy"], abs=2 / one.summary["data"]["test"]
    )
