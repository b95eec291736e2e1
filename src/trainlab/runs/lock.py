"""One trainer per run directory: ``run.pid`` names the process writing it (``host:pid``) while it trains.

A second process resuming the same run would interleave checkpoints with the first, so ``claim``
refuses while the recorded process may still be training:

- on this host, while that process is alive (a SIGKILLed run leaves a stale file whose process is
  gone; that blocks nothing);
- on another host (a shared or network file system), always: this host cannot see that process.
  When the user knows it is gone (the other machine rebooted, its job was killed), ``force_unlock``
  (``trainlab train --resume RUN --force-unlock``) removes the file. It never removes the lock of a
  live process on this host.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

try:
    import fcntl  # optional: POSIX; elsewhere claims are not serialized between processes
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

from trainlab.atomic import write_text
from trainlab.errors import CheckpointError

LOCK = "run.pid"


@dataclass(frozen=True)
class Holder:
    """The process named by a run's ``run.pid``: its host and pid, and whether that host is this one."""

    host: str
    pid: int
    local: bool

    def message(self, run_dir: str | Path) -> str:
        """Why ``run_dir`` cannot be claimed now, and the way out."""
        if self.local:
            return f"{run_dir} is being trained by process {self.pid}; wait for it or stop it (Ctrl-C) before resuming"
        return (
            f"{run_dir} is held by process {self.pid} on host {self.host!r} (its {LOCK}); this host cannot see whether"
            f" that process still runs - if it does not (that machine rebooted, its job was killed),"
            f" resume with --force-unlock"
        )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except (OverflowError, ValueError):  # not a pid this system can have
        return False
    return True


def _read(run_dir: str | Path) -> Holder | None:
    """The host and pid recorded in ``run.pid``, or None when there is none or it is not ``host:pid``."""
    try:
        host, sep, pid = (Path(run_dir) / LOCK).read_text(errors="replace")[:1000].strip().rpartition(":")
        pid_n = int(pid)
    except (OSError, ValueError):
        return None
    if not sep or not host or not 0 < pid_n < 2**31:
        return None  # not written by trainlab: nothing can be holding the run through it
    return Holder(host, pid_n, host == socket.gethostname())


def holder(run_dir: str | Path) -> Holder | None:
    """The process that may be training ``run_dir``: a live one on this host, or any on another host; else None."""
    h = _read(run_dir)
    if h is None:
        return None
    if h.local:
        return h if h.pid != os.getpid() and _alive(h.pid) else None
    return h


@contextmanager
def _exclusive(run_dir: str | Path) -> Iterator[None]:
    """Serialize claims of one run between processes of this host (``flock`` on the run directory
    itself, so no lock file is left in it), so two resumes started together cannot both see "free"
    and both write run.pid."""
    try:
        fd = os.open(run_dir, os.O_RDONLY)
    except OSError:  # not there or not readable: the write below will say so
        yield
        return
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the flock


def claim(run_dir: str | Path) -> None:
    """Record this process as the run's trainer, or raise if another process may be training it."""
    with _exclusive(run_dir):
        h = holder(run_dir)
        if h is not None:
            raise CheckpointError(h.message(run_dir))
        write_text(Path(run_dir) / LOCK, f"{socket.gethostname()}:{os.getpid()}\n")


def held_by_me(run_dir: str | Path) -> bool:
    """True when ``run.pid`` names this very process."""
    h = _read(run_dir)
    return h is not None and h.local and h.pid == os.getpid()


def force_unlock(run_dir: str | Path) -> Holder | None:
    """Remove ``run.pid`` the user vouches is stale; returns whom it named. A live process on this
    host keeps its lock (a CheckpointError says so): forcing is for what this host cannot check."""
    h = holder(run_dir)
    if h is not None and h.local:
        raise CheckpointError(
            f"{run_dir} is being trained by process {h.pid} on this host, which is alive; --force-unlock only removes "
            "locks of processes that are gone or on other hosts"
        )
    previous = _read(run_dir)
    try:
        (Path(run_dir) / LOCK).unlink(missing_ok=True)
    except OSError as exc:
        raise CheckpointError(f"cannot remove {Path(run_dir) / LOCK}: {exc.strerror or exc}") from None
    return previous


def release(run_dir: str | Path) -> None:
    """Remove ``run.pid`` if this process wrote it."""
    path = Path(run_dir) / LOCK
    try:
        if path.read_text().strip() == f"{socket.gethostname()}:{os.getpid()}":
            path.unlink()
    except OSError:
        pass
