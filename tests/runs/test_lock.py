"""run.pid from another host: refused with the host named and a safe way out (--force-unlock) (issue 13, D)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import trainlab
from trainlab.cli import main
from trainlab.errors import CheckpointError
from trainlab.runs.lock import LOCK, claim, force_unlock, holder


def test_other_host_lock_is_refused_naming_host_and_way_out(run_copy: Path, capsys: pytest.CaptureFixture) -> None:
    (run_copy / LOCK).write_text("otherhost:1\n")
    summary = (run_copy / "summary.json").read_bytes()
    assert main(["train", "--resume", str(run_copy), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "held by process 1 on host 'otherhost'" in err and "--force-unlock" in err
    assert "stop it (Ctrl-C)" not in err  # not told to stop a process it cannot reach
    assert (run_copy / "summary.json").read_bytes() == summary and (run_copy / LOCK).read_text() == "otherhost:1\n"


def test_force_unlock_takes_over_and_the_run_completes(run_copy: Path, capsys: pytest.CaptureFixture) -> None:
    (run_copy / LOCK).write_text("otherhost:1\n")
    assert main(["train", "--resume", str(run_copy), "--force-unlock", "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert "removed the lock of process 1 on host otherhost" in err
    assert trainlab.load_run(run_copy).summary["status"] == "completed" and not (run_copy / LOCK).exists()


def test_force_unlock_never_breaks_a_live_local_lock(run_copy: Path, capsys: pytest.CaptureFixture) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run_copy / LOCK).write_text(f"{socket.gethostname()}:{sleeper.pid}\n")
        assert main(["train", "--resume", str(run_copy), "--force-unlock"]) == 2
        assert f"process {sleeper.pid} on this host, which is alive" in capsys.readouterr().err
        assert (run_copy / LOCK).exists()
        with pytest.raises(CheckpointError, match=f"being trained by process {sleeper.pid}; wait for it"):
            claim(run_copy)
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.parametrize(
    "content", ["", "garbage", ":5", "host:", "host:-3", "host:99999999999999999999999", "x" * 5000]
)
def test_malformed_lock_files_block_nothing(tmp_path: Path, content: str) -> None:
    (tmp_path / LOCK).write_text(content)
    assert holder(tmp_path) is None
    claim(tmp_path)
    assert (tmp_path / LOCK).read_text() == f"{socket.gethostname()}:{os.getpid()}\n"


def test_force_unlock_of_a_stale_local_lock(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / LOCK).write_text(f"{socket.gethostname()}:{dead.pid}\n")
    assert holder(tmp_path) is None  # gone: blocks nothing even without forcing
    previous = force_unlock(tmp_path)
    assert previous is not None and previous.pid == dead.pid and not (tmp_path / LOCK).exists()
