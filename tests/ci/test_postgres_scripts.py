"""make test stops the PostgreSQL server it started, however the tests end (issue 13, D)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

CI = Path(__file__).resolve().parents[2] / ".ci"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("apt-get") is None, reason="the server is started only as root on Debian"
)

STUB = """#!/usr/bin/env bash
# stands in for .ci/postgres.sh: records start/stop instead of running a server
if [ "${1:-}" = stop ]; then echo stop >> "$LOG"; exit 0; fi
echo start >> "$LOG"
echo "export TRAINLAB_TEST_PG=postgresql://stub"
[ -n "${ALREADY_RUNNING:-}" ] || echo "export TRAINLAB_PG_STARTED=1"
"""


@pytest.fixture
def ci(tmp_path: Path) -> Path:
    d = tmp_path / ".ci"
    d.mkdir()
    shutil.copy(CI / "with-postgres.sh", d)
    (d / "postgres.sh").write_text(STUB)
    (d / "postgres.sh").chmod(0o755)
    return d


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TRAINLAB_TEST_PG", "TRAINLAB_PG_STARTED")}
    return {**env, "LOG": str(tmp_path / "log"), **extra}


def test_server_stopped_after_failing_tests_and_exit_code_kept(ci: Path, tmp_path: Path) -> None:
    out = subprocess.run(
        [str(ci / "with-postgres.sh"), "sh", "-c", 'echo "$TRAINLAB_TEST_PG"; exit 3'],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 3 and out.stdout.strip() == "postgresql://stub"
    assert (tmp_path / "log").read_text().split() == ["start", "stop"]


def _wait_for_command(session: int, cmdline: bytes, timeout: float = 20.0) -> None:
    """Wait until a process of ``session`` runs ``cmdline`` (NUL-separated, as /proc/PID/cmdline)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[3]) == session and (stat.parent / "cmdline").read_bytes().rstrip(b"\0") == cmdline:
                    return
            except (OSError, IndexError, ValueError):  # the process ended while being read
                continue
        time.sleep(0.05)
    raise AssertionError(f"no process of session {session} ran {cmdline!r} within {timeout} s")


def test_server_stopped_after_ctrl_c(ci: Path, tmp_path: Path) -> None:
    # SIGINT as a terminal leaves it: a suite started in the background without job control (`cmd &`)
    # inherits it ignored, and bash cannot trap a signal ignored on entry (the test then timed out)
    proc = subprocess.Popen(
        [str(ci / "with-postgres.sh"), "sleep", "30"],
        env=_env(tmp_path),
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    _wait_for_command(proc.pid, b"sleep\x0030")  # the command runs (a fixed delay raced a loaded machine's start-up)
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
    assert proc.wait(timeout=30) == 130
    assert (tmp_path / "log").read_text().split() == ["start", "stop"]


def test_a_server_it_did_not_start_is_left_running(ci: Path, tmp_path: Path) -> None:
    assert (
        subprocess.run(
            [str(ci / "with-postgres.sh"), "true"], env=_env(tmp_path, ALREADY_RUNNING="1"), timeout=30
        ).returncode
        == 0
    )
    assert (tmp_path / "log").read_text().split() == ["start"]
    (tmp_path / "log").unlink()
    env = _env(tmp_path, TRAINLAB_TEST_PG="postgresql://elsewhere")
    assert subprocess.run([str(ci / "with-postgres.sh"), "true"], env=env, timeout=30).returncode == 0
    assert not (tmp_path / "log").exists()  # a named server is not touched at all


def test_makefile_runs_the_tests_through_it() -> None:
    makefile = (CI.parent / "Makefile").read_text()
    assert "@.ci/with-postgres.sh $(PY) -m pytest" in makefile
