"""Runs started from the lab: their epochs arrive over server-sent events; stop, resume; a SIGKILLed server."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.lab.conftest import QUICK, events, free_port, start_run


def test_a_digits_run_from_the_form_streams_its_epochs_and_equals_the_cli(server, tmp_path: Path) -> None:
    overrides = [*QUICK, "train.epochs=3", "optim.batch_size=64"]
    run = start_run(server.http, overrides)
    seen = events(server.http, run)
    kinds = [e["kind"] for e in seen]
    epochs = [e for e in seen if e["kind"] == "epoch"]
    assert [e["metrics"]["epoch"] for e in epochs] == [1, 2, 3]
    assert "batch" in kinds and kinds[0] in ("start", "status")  # points within an epoch too
    start = next(e for e in seen if e["kind"] == "start")
    assert abs(start["initial_loss"] - 2.3) < 0.5 and start["expected_initial_loss"] > 2.3
    assert seen[-1] == {**seen[-1], "kind": "status", "status": "completed"}
    # the same run made by `trainlab train ...`: the same summary numbers and the same weights
    cli_dir = tmp_path / "cli"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    subprocess.run(
        [sys.executable, "-m", "trainlab", "train", "--no-progress", *overrides, f"output.dir={cli_dir}"],
        check=True,
        env=env,
        capture_output=True,
        timeout=300,
    )
    ours = json.loads((server.app.app.state.lab.runs_dir / run / "summary.json").read_text())
    theirs = json.loads(next(cli_dir.iterdir()).joinpath("summary.json").read_text())
    for key in ("test_accuracy", "test_loss", "train_loss", "epochs", "steps"):
        assert ours[key] == theirs[key], key
    assert (server.app.app.state.lab.runs_dir / run / "model.safetensors").read_bytes() == next(
        cli_dir.iterdir()
    ).joinpath("model.safetensors").read_bytes()
    page = server.http.get(f"/runs/{run}").text
    command = re.search(r"<pre>(trainlab train [^<]*)</pre>", page).group(1)
    assert sorted(command.split()[2:]) == sorted([*overrides, f"output.dir={server.app.app.state.lab.runs_dir}"])
    assert run in server.http.get("/").text


def test_stop_then_resume_completes(server) -> None:
    run = start_run(server.http, [*QUICK, "train.epochs=40", "optim.batch_size=16"])
    first = events(server.http, run, until=lambda ev: any(e["kind"] == "epoch" for e in ev))
    assert any(e["kind"] == "epoch" for e in first)
    assert server.http.post(f"/runs/{run}/stop", follow_redirects=False).status_code == 303
    rest = events(server.http, run)
    assert rest[-1]["status"] == "interrupted" and rest[-1]["resumable"]
    summary = json.loads((server.app.app.state.lab.runs_dir / run / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["epochs"] < 40
    assert 'id="resume-form" hidden' not in server.http.get(f"/runs/{run}").text
    assert server.http.post(f"/runs/{run}/resume", follow_redirects=False).status_code == 303
    done = events(server.http, run)
    assert done[-1]["status"] == "completed"
    summary = json.loads((server.app.app.state.lab.runs_dir / run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs"] == 40 and summary["resumes"] == 1


def _epoch_after_resume(seen: list[dict]) -> bool:
    """Whether the events hold a resumed start (epoch > 0) followed by an epoch of the resumed run."""
    starts = [i for i, e in enumerate(seen) if e["kind"] == "start" and e["epoch"] > 0]
    return bool(starts) and any(e["kind"] == "epoch" for e in seen[starts[-1] :])


def _lab(runs: Path, port: int) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "trainlab", "lab", "--dir", str(runs), "--port", str(port), "--workers", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    for line in proc.stdout:
        m = re.search(r"(http://\S+/\?token=(\S+))", line)
        if m:
            return proc, m.group(2)
    raise AssertionError("the lab printed no URL")


def test_a_sigkilled_server_leaves_the_run_resumable(tmp_path: Path) -> None:
    import httpx2 as httpx

    runs = tmp_path / "runs"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc, token = _lab(runs, port)
    try:
        http = httpx.Client(base_url=base, headers={"origin": base}, cookies={"trainlab_lab_token": token}, timeout=60)
        time.sleep(0.5)
        run = start_run(http, [*QUICK, "train.epochs=400", "optim.batch_size=16"])
        events(http, run, until=lambda ev: any(e["kind"] == "epoch" for e in ev))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    host, pid = (runs / run / "run.pid").read_text().strip().rsplit(":", 1)
    os.kill(int(pid), 0)  # the run outlived its server: it trains on in its own session
    os.kill(int(pid), signal.SIGKILL)  # now it dies too, mid-epoch, as on a power loss
    time.sleep(0.3)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc, token = _lab(runs, port)
    try:
        http = httpx.Client(base_url=base, headers={"origin": base}, cookies={"trainlab_lab_token": token}, timeout=60)
        time.sleep(0.5)
        page = http.get(f"/runs/{run}").text
        assert 'data-status="interrupted"' in page and 'id="resume-form" hidden' not in page
        assert "interrupted (resumable)" in http.get("/").text
        # resume it, then stop it safely (400 epochs would take too long): it resumed from the checkpoint
        assert http.post(f"/runs/{run}/resume", follow_redirects=False).status_code == 303
        resumed = events(http, run, until=lambda ev: _epoch_after_resume(ev))
        assert _epoch_after_resume(resumed)
        http.post(f"/runs/{run}/stop")
        end = events(http, run)
        assert end[-1]["status"] == "interrupted"
        summary = json.loads((runs / run / "summary.json").read_text())
        assert summary["resumes"] == 1 and summary["resumed_at_step"] > 0
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(20)
