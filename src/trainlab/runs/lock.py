"""One trainer per run directory: ``run.pid`` names the process writing it while it trains.

A second process resuming the same run would interleave checkpoints with the first; ``claim``
refuses while the recorded process is alive on this host. A SIGKILLed run leaves a stale file whose
process is gone, which does not block anything.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from trainlab.atomic import write_text
from trainlab.errors import CheckpointError

LOCK = "run.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def holder(run_dir: str | Path) -> int | None:
    """The pid of a live process on this host that holds ``run_dir``, else None."""
    try:
        host, _, pid = (Path(run_dir) / LOCK).read_text().strip().rpartition(":")
        pid_n = int(pid)
    except (OSError, ValueError):
        return None
    if host != socket.gethostname() or pid_n == os.getpid():
        return None
    return pid_n if _alive(pid_n) else None


def claim(run_dir: str | Path) -> None:
    """Record this process as the run's trainer, or raise if another live process is training it."""
    pid = holder(run_dir)
    if pid is not None:
        raise CheckpointError(f"{run_dir} is being trained by process {pid}; wait for it or stop it (Ctrl-C) before resuming")
    write_text(Path(run_dir) / LOCK, f"{socket.gethostname()}:{os.getpid()}\n")


def release(run_dir: str | Path) -> None:
    """Remove ``run.pid`` if this process wrote it."""
    path = Path(run_dir) / LOCK
    try:
        if path.read_text().strip() == f"{socket.gethostname()}:{os.getpid()}":
            path.unlink()
    except OSError:
        pass
