"""One run session (``trainlab.session.RunSession``): every run kind ends with a true status, its lock released."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import trainlab.classical as classical
import trainlab.session as session
from trainlab.classical import baselines
from trainlab.errors import CheckpointError
from trainlab.runner import train
from trainlab.runs.lock import held_by_me
from trainlab.runs.summary import UNSET, StatusError, Summary
from trainlab.stacking import train_stacked

SRC = Path(__file__).resolve().parents[1] / "src"


def summary(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "summary.json").read_text())


def claim_from_another_process(run_dir: Path) -> subprocess.CompletedProcess[str]:
    """``runs.lock.claim(run_dir)`` in a fresh interpreter (a claim from this process would pass: it is the holder)."""
    code = "import sys; from trainlab.runs.lock import claim; claim(sys.argv[1])"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    cmd = [sys.executable, "-c", code, str(run_dir)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)


def run_dir_named(runs: Path, name: str) -> Path:
    (found,) = runs.glob(f"*-{name}")
    return found


def test_status_goes_from_running_to_one_final_status_once() -> None:
    s = Summary(started="t", header="h")
    assert s.running and s.to_dict() == {"status": "running", "started": "t", "header": "h"}
    s.update(best_val_accuracy=None, test_accuracy=0.5, note="kept")
    s.status = "completed"
    want = {
        "status": "completed",
        "started": "t",
        "header": "h",
        "best_val_accuracy": None,
        "test_accuracy": 0.5,
        "note": "kept",
    }
    assert s.to_dict() == want
    for bad in ("running", "failed", "completed"):
        with pytest.raises(StatusError):
            s.status = bad
    with pytest.raises(StatusError, match="not one of"):
        Summary().status = "done"
    back = Summary.from_dict(s.to_dict())
    assert back.to_dict() == s.to_dict() and back.metrics == {"test_accuracy": 0.5} and back.extra == {"note": "kept"}
    assert back.epochs is UNSET


def test_a_failure_before_training_is_recorded_and_the_lock_released(tmp_path: Path) -> None:
    cfg = {
        "data": {"name": "xor"},
        "model": {"hidden": [4]},
        "train": {"epochs": 1},
        "threads": 1,
        "output": {"dir": str(tmp_path), "name": "x", "report": False},
    }

    def boom(s: Any, trainer: Any) -> None:
        raise RuntimeError("on_setup broke")

    with pytest.raises(RuntimeError):
        train(cfg, on_setup=boom, handle_signals=False, progress=False)
    run_dir = run_dir_named(tmp_path, "x")
    s = summary(run_dir)  # it used to stay "running"
    assert s["status"] == "failed" and s["error"] == "on_setup broke" and s["steps"] == 0
    assert not (run_dir / "run.pid").exists()


def test_a_summary_that_cannot_be_written_at_the_end_says_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = {
        "data": {"name": "xor"},
        "model": {"hidden": [4]},
        "train": {"epochs": 1},
        "threads": 1,
        "output": {"dir": str(tmp_path), "name": "x", "report": False},
    }
    real = session.write_json

    def refuse_the_final_summary(path: Path, content: Any) -> None:
        if content["status"] == "completed":
            raise CheckpointError(f"cannot write in {path.parent}: No space left on device")
        real(path, content)

    monkeypatch.setattr(session, "write_json", refuse_the_final_summary)
    with pytest.raises(CheckpointError):
        train(cfg, handle_signals=False, progress=False)
    s = summary(run_dir_named(tmp_path, "x"))  # not "running", nor a "completed" that was never written
    assert (
        s["status"] == "failed"
        and "No space left" in s["error"]
        and "then failed saving the results" in s["stop_reason"]
    )


def _member(runs: Path, i: int, lr: float) -> dict[str, Any]:
    return {
        "data": {"name": "digits", "val": 0.2},
        "model": {"hidden": [16]},
        "train": {"epochs": 1},
        "optim": {"batch_size": 64, "lr": lr},
        "threads": 1,
        "output": {"dir": str(runs), "name": f"m{i}", "report": False},
    }


def test_a_stop_in_one_members_final_evaluation_leaves_every_member_true_and_resumable(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runs = tmp_path / "runs"
    configs = [_member(runs, i, lr) for i, lr in enumerate((1e-2, 3e-3, 1e-3, 3e-4))]
    real = session.final_summary
    calls: list[int] = []

    def sigint_on_the_third(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 3:  # member 2's final evaluation: Ctrl-C, as the user would press it
            os.kill(os.getpid(), signal.SIGINT)
        return real(*args, **kwargs)

    monkeypatch.setattr(session, "final_summary", sigint_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        train_stacked(configs, max_stack=4)
    monkeypatch.undo()
    dirs = [run_dir_named(runs, f"m{i}") for i in range(4)]
    got = [summary(d) for d in dirs]
    assert [s["status"] for s in got] == ["completed", "completed", "interrupted", "interrupted"]
    assert all(s["stacked"]["runs"] == 4 for s in got)
    assert "SIGINT during the final evaluation" in got[2]["stop_reason"]
    assert "SIGINT before the final evaluation" in got[3]["stop_reason"]
    for s, d in zip(got[2:], dirs[2:], strict=True):
        assert s["interrupted_by"] == "SIGINT" and s["epochs"] == 1 and s["steps"] == got[0]["steps"]
        assert "last checkpoint is kept" in s["stop_reason"]
        assert not (d / "model.safetensors").exists()
    assert not any((d / "run.pid").exists() for d in dirs)
    for d in dirs[2:]:  # each resumes from its last checkpoint: only the final evaluation is left
        resumed = train(resume=d, handle_signals=False, progress=False)
        assert resumed.summary["status"] == "completed" and resumed.summary["steps"] == got[0]["steps"]
        assert (d / "model.safetensors").is_file()
    alone = {**configs[3], "output": {**configs[3]["output"], "name": "single"}}
    single = train(alone, handle_signals=False, progress=False)
    assert summary(dirs[3])["test_accuracy"] == pytest.approx(single.summary["test_accuracy"], abs=1e-9)


def test_a_baseline_holds_its_run_lock_while_it_fits_and_releases_it_after(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runs = tmp_path / "runs"
    seen: dict[str, Any] = {}
    real = classical._fit_predict

    def fit_while_another_process_tries_to_claim(*args: Any, **kwargs: Any) -> Any:
        (run_dir,) = runs.iterdir()
        seen["dir"] = run_dir
        seen["mine"] = held_by_me(run_dir)
        seen["other"] = claim_from_another_process(run_dir)
        return real(*args, **kwargs)

    monkeypatch.setattr(classical, "_fit_predict", fit_while_another_process_tries_to_claim)
    overrides = ["data.name=digits", "threads=1", f"output.dir={runs}", "output.report=false"]
    (run,) = baselines("gaussian_nb", overrides=overrides, isolate=False, progress=False)
    assert seen["mine"] and seen["other"].returncode != 0
    assert f"is being trained by process {os.getpid()}" in seen["other"].stderr
    assert run.path == seen["dir"] and run.summary["status"] == "completed" and run.summary["kind"] == "baseline"
    assert not (run.path / "run.pid").exists()
    after = claim_from_another_process(run.path)
    assert after.returncode == 0, after.stderr  # free once the baseline is done
