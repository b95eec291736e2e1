"""Exact resume in-process: stop at any step (flag, SIGTERM, double Ctrl-C), resume, compare bit for bit."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import trainlab
import trainlab.build as build
from tests.conftest import make_idx_dataset
from trainlab.cli import main
from trainlab.errors import CheckpointError, ConfigError
from trainlab.runs.checkpoint import load_checkpoint
from trainlab.training.callbacks import Interrupt
from trainlab.training.loop import Callback, Trainer

EPOCHS, BATCH = 3, 32  # idx_dir: 300 examples, 30 for validation -> 270 train = 9 batches/epoch, 27 steps


def cfg(idx_dir: Path, runs: Path, **extra: object) -> dict:
    """Tiny MNIST-format run exercising every stateful part: augmentation and dropout RNG, Adam, early stopping,
    periodic checkpoints."""
    c: dict = {
        "data": {
            "name": "mnist",
            "dir": str(idx_dir),
            "val": 0.1,
            "augment": ["shift(1)"],
        },  # augmentation draws RNG too
        "model": {"hidden": [16], "dropout": 0.3},
        "optim": {"batch_size": BATCH, "lr": 0.01, "schedule": "cosine", "warmup": 0.1},  # per-step schedule
        "train": {"epochs": EPOCHS, "patience": 5, "checkpoint_every": 4},
        "threads": 1,
        "output": {"dir": str(runs), "report": False},  # no plots: not what these tests are about
    }
    for key, value in extra.items():
        section, _, name = key.partition("__")
        c.setdefault(section, {})[name] = value
    return c


class SignalAt(Callback):
    """Test hook: send ``signum`` to this process (``times`` times) after step ``step``."""

    def __init__(self, step: int, signum: int = signal.SIGINT, times: int = 1):
        self.step, self.signum, self.times = step, signum, times

    def on_batch_end(self, t: Trainer) -> None:
        if t.step == self.step:
            for _ in range(self.times):
                os.kill(os.getpid(), self.signum)


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    """The exported weights of a finished run."""
    return load_file(str(run_dir / "model.safetensors"))


def assert_same_run(a: trainlab.Run, b_dir: Path) -> None:
    """Run ``b_dir`` ended bit-identical to ``a``: weights, metrics.csv and test metrics."""
    wa, wb = weights(a.path), weights(b_dir)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    assert (a.path / "metrics.csv").read_text() == (b_dir / "metrics.csv").read_text()
    b = trainlab.load_run(b_dir)
    assert b.summary["status"] == "completed" and b.summary["test_loss"] == a.summary["test_loss"]
    assert b.summary["steps"] == a.summary["steps"]


@pytest.fixture(scope="module")
def idx_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny IDX data set, shared by this module's runs."""
    return make_idx_dataset(tmp_path_factory.mktemp("data") / "tinyidx")


@pytest.fixture(scope="module")
def reference(idx_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> trainlab.Run:
    """The same run, never stopped."""
    return trainlab.train(cfg(idx_dir, tmp_path_factory.mktemp("ref")))


@pytest.mark.parametrize(
    "stop_step", [1, 4, 9, 13, 26]
)  # first step, on a periodic checkpoint, epoch end, mid-epoch, last-but-one
def test_stop_at_any_step_resumes_bit_identical(
    idx_dir: Path, tmp_path: Path, reference: trainlab.Run, stop_step: int
) -> None:
    run = trainlab.train(cfg(idx_dir, tmp_path / "runs"), callbacks=[SignalAt(stop_step)])
    assert run.summary["status"] == "interrupted" and run.summary["steps"] == stop_step
    assert not (run.path / "model.safetensors").exists()
    payload = load_checkpoint(run.path / "checkpoint.pt")
    assert payload["step"] == stop_step
    assert payload["in_epoch"]["position"] == (stop_step - 1) % 9 + 1  # batches of the epoch already done
    resumed = trainlab.resume(run.path)
    assert (
        resumed.path == run.path and resumed.summary["resumes"] == 1 and resumed.summary["resumed_at_step"] == stop_step
    )
    assert_same_run(reference, run.path)


def test_sigterm_via_cli_exits_143_and_resume_matches(
    idx_dir: Path,
    tmp_path: Path,
    reference: trainlab.Run,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    runs = tmp_path / "runs"
    original = build.config_callbacks
    monkeypatch.setattr(build, "config_callbacks", lambda *a, **k: [*original(*a, **k), SignalAt(11, signal.SIGTERM)])
    args = ["train", *overrides(cfg(idx_dir, runs)), "--no-progress"]
    previous = signal.getsignal(signal.SIGTERM)
    assert main(args) == 143
    assert signal.getsignal(signal.SIGTERM) is previous  # handlers restored
    out, err = capsys.readouterr()
    (run_dir,) = runs.iterdir()
    assert "SIGTERM: stopped at epoch 2, step 11; checkpoint saved" in out
    assert f"resume with: trainlab train --resume {run_dir}" in err
    summary = trainlab.load_run(run_dir).summary
    assert summary["status"] == "interrupted" and summary["interrupted_by"] == "SIGTERM"
    monkeypatch.setattr(build, "config_callbacks", original)
    assert main(["train", "--resume", str(run_dir), "--no-progress"]) == 0
    out, _ = capsys.readouterr()
    assert f"resuming {run_dir} at step 11 (epoch 2, batch 3/9)" in out
    assert_same_run(reference, run_dir)


def test_second_ctrl_c_aborts_at_once_keeping_previous_checkpoint(
    idx_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    runs = tmp_path / "runs"
    original = build.config_callbacks
    monkeypatch.setattr(build, "config_callbacks", lambda *a, **k: [*original(*a, **k), SignalAt(10, times=2)])
    assert main(["train", *overrides(cfg(idx_dir, runs)), "--no-progress"]) == 130
    (run_dir,) = runs.iterdir()
    assert "aborted; the last checkpoint is kept - resume with: trainlab train --resume" in capsys.readouterr().err
    assert (
        load_checkpoint(run_dir / "checkpoint.pt")["step"] == 9
    )  # the epoch-end one: step 10 never got its checkpoint
    assert trainlab.load_run(run_dir).summary["status"] == "interrupted"


def test_second_ctrl_c_during_the_checkpoint_write_leaves_the_previous_one(
    idx_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_save = torch.save

    def save_then_ctrl_c(obj: object, fh: object) -> None:
        real_save(obj, fh)  # bytes are in the temp file, not yet renamed
        if obj["step"] == 6:  # type: ignore[index]
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(torch, "save", save_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        trainlab.train(cfg(idx_dir, tmp_path / "runs"), callbacks=[SignalAt(6)])
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert load_checkpoint(run_dir / "checkpoint.pt")["step"] == 4
    assert sorted(p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")) == []


def test_request_without_signals_and_handlers_untouched_off_main_path(idx_dir: Path, tmp_path: Path) -> None:
    class Ask(Callback):
        def on_batch_end(self, t: Trainer) -> None:
            if t.step == 5:
                next(c for c in t.callbacks if isinstance(c, Interrupt)).request(signal.SIGINT)

    before = signal.getsignal(signal.SIGINT)
    run = trainlab.train(cfg(idx_dir, tmp_path / "runs"), callbacks=[Ask()], handle_signals=False)
    assert signal.getsignal(signal.SIGINT) is before
    assert run.summary["status"] == "interrupted" and run.summary["steps"] == 5


def overrides(c: dict) -> list[str]:
    """A nested config dict as CLI key=value overrides."""
    out = []
    for k, v in c.items():
        if isinstance(v, dict):
            out += [f"{k}.{kk}={vv}".replace(" ", "") for kk, vv in v.items()]
        else:
            out.append(f"{k}={v}")
    return out


def test_resume_refusals_are_one_line_errors(idx_dir: Path, tmp_path: Path, reference: trainlab.Run) -> None:
    with pytest.raises(CheckpointError, match="already completed .3 epochs.; nothing to resume"):
        trainlab.resume(reference.path)
    with pytest.raises(CheckpointError, match="no such run directory or checkpoint file"):
        trainlab.resume(tmp_path / "nope")
    run = trainlab.train(cfg(idx_dir, tmp_path / "runs"), callbacks=[SignalAt(5)])
    with pytest.raises(
        ConfigError,
        match="cannot change optim.lr when resuming.*allowed: threads, device, data.dir, train.checkpoint_every",
    ):
        trainlab.resume(run.path, ["optim.lr=0.1"])
    with pytest.raises(ConfigError, match="not both"):
        trainlab.train(cfg(idx_dir, tmp_path / "runs"), resume=run.path)
    # a config edited after the checkpoint was written (another model shape)
    text = (run.path / "config.yaml").read_text()
    (run.path / "config.yaml").write_text(text.replace("- 16", "- 24"))
    with pytest.raises(
        CheckpointError,
        match=r"checkpoint.pt was written by another config than .*config.yaml \(model.hidden: \[16\] vs \[24\]\)",
    ):
        trainlab.resume(run.path)
    (run.path / "config.yaml").write_text(text)
    other = make_idx_dataset(tmp_path / "other", seed=1)  # data.dir may move, but the data must be the same
    with pytest.raises(CheckpointError, match="the training data differ from the data this run was trained on"):
        trainlab.resume(run.path, [f"data.dir={other}"])
    resumed = trainlab.resume(run.path / "checkpoint.pt", ["threads=1"])  # the checkpoint file works too
    assert resumed.summary["status"] == "completed"


def test_a_run_being_trained_by_a_live_process_is_not_resumed_twice(idx_dir: Path, tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    run = trainlab.train(cfg(idx_dir, tmp_path / "runs"), callbacks=[SignalAt(5)])
    assert not (run.path / "run.pid").exists()  # released when the run stopped
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run.path / "run.pid").write_text(f"{socket.gethostname()}:{other.pid}\n")
        with pytest.raises(CheckpointError, match=f"is being trained by process {other.pid}; wait for it or stop it"):
            trainlab.resume(run.path)
    finally:
        other.kill()
        other.wait()
    resumed = trainlab.resume(run.path)  # the holder is gone: a stale run.pid blocks nothing
    assert resumed.summary["status"] == "completed" and not (run.path / "run.pid").exists()


def test_diagnostics_callback_state_survives_resume(idx_dir: Path, tmp_path: Path) -> None:
    c = cfg(idx_dir, tmp_path / "ref", train__epochs=2)
    c["diagnostics"] = {"every": 4}
    ref = trainlab.train(c)
    c["output"]["dir"] = str(tmp_path / "runs")
    run = trainlab.train(c, callbacks=[SignalAt(8)])  # a step the diagnostics had armed for measuring
    trainlab.resume(run.path)
    assert (ref.path / "stats.csv").read_text() == (run.path / "stats.csv").read_text()
    assert_same_run(ref, run.path)
