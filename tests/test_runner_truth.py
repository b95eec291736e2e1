"""What a run's summary.json and the exit code say is true, whatever stops it after training (issue 13, D)."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

import trainlab
import trainlab.session as session
from tests.conftest import StopAt
from trainlab.atomic import atomic_write
from trainlab.cli import main
from trainlab.errors import CheckpointError

ARGS = [
    "data.name=xor(size=40,test=20)",
    "model.hidden=[4]",
    "train.epochs=2",
    "optim.batch_size=16",
    "threads=1",
    "--no-progress",
]
SRC = Path(__file__).resolve().parents[1] / "src"


def train_args(runs: Path, *extra: str) -> list[str]:
    return ["train", *ARGS, f"output.dir={runs}", *extra]


def only_run(runs: Path) -> Path:
    (run_dir,) = runs.iterdir()
    return run_dir


def summary(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "summary.json").read_text())


def signal_inside(fn: Any, signum: int) -> Any:
    """``fn`` that first receives ``signum`` (as if the user pressed Ctrl-C while it ran)."""

    def wrapped(*a: Any, **k: Any) -> Any:
        os.kill(os.getpid(), signum)
        return fn(*a, **k)

    return wrapped


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_stop_during_final_evaluation_is_interrupted_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, signum: int, code: int
) -> None:
    runs = tmp_path / "runs"
    monkeypatch.setattr(session, "final_summary", signal_inside(session.final_summary, signum))
    assert main(train_args(runs, "output.report=false")) == code
    run_dir = only_run(runs)
    s = summary(run_dir)
    assert s["status"] == "interrupted" and s["interrupted_by"] == signal.Signals(signum).name
    assert "during the final evaluation" in s["stop_reason"] and s["epochs"] == 2 and s["fit_seconds"] > 0
    assert "resume with: trainlab train --resume" in capsys.readouterr().err
    assert not (run_dir / "model.safetensors").exists() and not (run_dir / "run.pid").exists()
    monkeypatch.undo()
    assert main(["train", "--resume", str(run_dir), "--no-progress"]) == 0
    s = summary(run_dir)
    assert s["status"] == "completed" and s["steps"] == 6
    assert s["fit_seconds"] >= 0.001  # the checkpoint kept the training time (it said 0.0 s before)


def test_ctrl_c_while_drawing_the_report_keeps_the_run_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    runs = tmp_path / "runs"
    monkeypatch.setattr(session, "report_at_end", signal_inside(session.report_at_end, signal.SIGINT))
    assert main(train_args(runs, "output.report=true")) == 130
    run_dir = only_run(runs)
    err = capsys.readouterr().err
    assert "SIGINT while drawing the report; the run is complete - draw its page with: trainlab report" in err
    assert "resume with" not in err and "aborted" not in err
    s = summary(run_dir)
    assert (
        s["status"] == "completed"
        and s["report_interrupted_by"] == "SIGINT"
        and (run_dir / "model.safetensors").is_file()
    )
    assert main(["train", "--resume", str(run_dir)]) == 2  # nothing to resume: it is complete, as it says
    assert "already completed" in capsys.readouterr().err
    monkeypatch.undo()
    assert main(["report", str(run_dir)]) == 0 and (run_dir / "report.html").is_file()


def _enospc(*_: Any, **__: Any) -> Any:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_saving_the_weights_leaves_a_truthful_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    runs = tmp_path / "runs"
    real = session.export_weights

    def full_disk(path: Path, model: Any) -> None:
        monkeypatch.setattr(tempfile, "mkstemp", _enospc)  # from here on no new file can be made: summary.json too
        real(path, model)

    monkeypatch.setattr(session, "export_weights", full_disk)
    assert main(train_args(runs, "output.report=false")) == 2
    run_dir = only_run(runs)
    err = capsys.readouterr().err
    assert (
        err == f"error: cannot write in {run_dir}: No space left on device\n"
    )  # no "previous file" that never existed
    monkeypatch.undo()
    s = summary(run_dir)  # rewritten in place: not "running"
    assert (
        s["status"] == "failed"
        and "No space left on device" in s["error"]
        and "last checkpoint is kept" in s["stop_reason"]
    )
    assert main(["train", "--resume", str(run_dir), "--no-progress"]) == 0  # space freed: the run finishes
    assert summary(run_dir)["status"] == "completed" and (run_dir / "model.safetensors").is_file()


def test_no_space_at_all_leaves_no_empty_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    runs = tmp_path / "runs"
    monkeypatch.setattr(tempfile, "mkstemp", _enospc)
    assert main(train_args(runs)) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "previous file" not in err
    assert not runs.exists() or list(runs.iterdir()) == []
    with pytest.raises(CheckpointError, match=r"No space left on device$"):
        atomic_write(tmp_path / "new.bin", lambda fh: fh.write(b"x"))


@pytest.fixture
def stopped(tmp_path: Path) -> Path:
    cfg = {
        "data": {"name": "xor"},
        "model": {"hidden": [8]},
        "optim": {"batch_size": 32},
        "train": {"epochs": 3},
        "threads": 1,
        "output": {"dir": str(tmp_path / "runs"), "report": False},
    }
    return trainlab.train(cfg, callbacks=[StopAt(5)], handle_signals=False).path


def test_a_refused_resume_leaves_the_winners_files_alone(stopped: Path, capsys: pytest.CaptureFixture) -> None:
    """Another process trains the run (its run.pid, its summary.json saying running): the refused
    resume changes no file; it used to write "failed" into that summary."""
    import socket

    winner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (stopped / "run.pid").write_text(f"{socket.gethostname()}:{winner.pid}\n")
        (stopped / "summary.json").write_text('{"status": "running", "note": "the winner trains"}\n')
        before = {p.name: p.read_bytes() for p in stopped.iterdir()}
        assert main(["train", "--resume", str(stopped), "--no-progress"]) == 2
        assert f"is being trained by process {winner.pid}" in capsys.readouterr().err
        assert {p.name: p.read_bytes() for p in stopped.iterdir()} == before
    finally:
        winner.kill()
        winner.wait()


def test_two_resumes_at_once_one_trains_the_other_is_refused(stopped: Path) -> None:
    """The race: both start together; the run is claimed (under flock) before it is read, so the
    second is refused while the first trains, or as completed if it comes after."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    cmd = [sys.executable, "-m", "trainlab", "train", "--resume", str(stopped), "--no-progress"]
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    codes = sorted(rc for rc, _ in results)
    assert codes == [0, 2], results  # refused while the first trains (or, if it started late, as completed)
    loser = [err for rc, err in results if rc == 2]
    assert all("is being trained by process" in e or "already completed" in e for e in loser), loser
    s = summary(stopped)
    assert s["status"] == "completed" and "error" not in s  # no "failed" written over the winner's summary
