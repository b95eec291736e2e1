"""Runs as subprocesses in a bounded pool, and what the lab reads back from run folders.

A :class:`Job` is one ``python -m trainlab.lab.worker`` process (a new run, a resume or a
playground run). At most ``size`` run at once; the rest wait in order. Each starts in its own
session with its output in ``DIR/.lab/jobs/ID.log``, so it outlives the server (a server killed,
even with SIGKILL, leaves its runs training) and closing a browser stops nothing. Stop sends
SIGINT, trainlab's safe stop: the step finishes, a checkpoint is written, the status is
``interrupted``, and Resume continues it.

The state of a run folder comes from its own files, whoever made it (the lab or the CLI):
``summary.json``'s status, and for a ``running`` one whether ``run.pid``'s process still lives
(``runs/lock.holder``): a run whose process is gone was killed and is shown ``interrupted``,
resumable from its last checkpoint.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainlab.bounded import read_json
from trainlab.cpu import affinity, cgroup_quota, usable_cores
from trainlab.lab.worker import LIVE
from trainlab.runs.lock import holder
from trainlab.runs.rundir import read_metrics_csv

LAB = ".lab"  # the lab's own folder inside --dir (job logs and hand-offs); never a run
MAX_LINE = 1 << 20  # bytes: a longer line in live.jsonl is skipped, not parsed


def pool_size() -> int:
    """How many runs train at once by default: half the usable cores, at least one."""
    return max(1, usable_cores(affinity(), cgroup_quota()) // 2)


@dataclass
class Job:
    """One worker process, queued or started."""

    id: str
    args: list[str]  # the worker's arguments (overrides, --resume, --grid)
    command: str  # the equivalent trainlab command, shown on the pages
    run: str = ""  # the run folder's name, once known
    state: str = "queued"  # queued, running, done, cancelled
    proc: subprocess.Popen | None = None
    returncode: int | None = None
    started: float = 0.0
    log: Path | None = None
    announce: Path | None = None

    def public(self) -> dict[str, Any]:
        """What /api/jobs/ID answers."""
        return {
            "id": self.id,
            "state": self.state,
            "run": self.run,
            "returncode": self.returncode,
            "command": self.command,
        }


class Pool:
    """A bounded pool of worker processes; ``tick`` (called often by the server) starts and reaps them."""

    def __init__(self, runs_dir: Path, size: int | None = None, python: str = sys.executable) -> None:
        self.runs_dir = runs_dir
        self.size = size or pool_size()
        self.python = python
        self.jobs: dict[str, Job] = {}
        self.queue: deque[Job] = deque()
        self._ids = itertools.count(1)
        self.lab_dir = runs_dir / LAB / "jobs"
        self.lab_dir.mkdir(parents=True, exist_ok=True)
        self._prefix = f"{int(time.time())}-{os.getpid()}"

    def submit(self, args: list[str], command: str, run: str = "") -> Job:
        """Queue a worker with ``args``; it starts at the next ``tick`` with a free place."""
        job = Job(f"{self._prefix}-{next(self._ids)}", list(args), command, run=run)
        self.jobs[job.id] = job
        self.queue.append(job)
        self.tick()
        return job

    def running(self) -> list[Job]:
        """The jobs whose processes are started and not yet reaped."""
        return [j for j in self.jobs.values() if j.state == "running"]

    def tick(self) -> None:
        """Reap finished processes, learn run folders from hand-offs, start queued jobs while places are free."""
        for job in self.running():
            if not job.run:
                self._learn_run(job)
            if job.proc is not None and job.proc.poll() is not None:
                job.returncode = job.proc.returncode
                if not job.run:
                    self._learn_run(job)
                job.state = "done"
        while self.queue and len(self.running()) < self.size:
            self._start(self.queue.popleft())

    def _learn_run(self, job: Job) -> None:
        if job.announce is None or not job.announce.is_file():
            return
        try:
            job.run = Path(json.loads(job.announce.read_text()[:10000])["run"]).name
        except (OSError, ValueError, KeyError, TypeError):
            return

    def _start(self, job: Job) -> None:
        job.log = self.lab_dir / f"{job.id}.log"
        job.announce = self.lab_dir / f"{job.id}.json"
        cmd = [self.python, "-m", "trainlab.lab.worker", "--announce", str(job.announce), *job.args]
        with open(job.log, "wb") as log:
            # its own session: a Ctrl-C of the server's terminal, or the server's death, does not reach it;
            # output to a file, not a pipe, so nothing blocks or breaks when the server is gone
            job.proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        job.state, job.started = "running", time.time()

    def job_of(self, run: str) -> Job | None:
        """The latest queued or running job of the run folder ``run``."""
        for job in reversed(list(self.jobs.values())):
            if job.run == run and job.state in ("queued", "running"):
                return job
        return None

    def command_of(self, run: str) -> str:
        """The ``trainlab train ...`` command of the job that made run folder ``run`` ('' when not this server)."""
        for job in self.jobs.values():
            if job.run == run and "--resume" not in job.args:
                return job.command
        return ""

    def stop(self, run_dir: Path) -> bool:
        """Safe-stop the run in ``run_dir`` (SIGINT), or cancel its queued resume; False when nothing trains it."""
        job = self.job_of(run_dir.name)
        if job is not None and job.state == "queued":
            self.queue.remove(job)
            job.state = "cancelled"
            return True
        if job is not None and job.proc is not None and job.proc.poll() is None:
            job.proc.send_signal(signal.SIGINT)
            return True
        h = holder(run_dir)  # a run started before this server (or by the CLI) on this host
        if h is not None and h.local and _is_trainlab(h.pid):
            os.kill(h.pid, signal.SIGINT)
            return True
        return False

    def close(self) -> None:
        """Forget the queue (queued runs never started); running runs go on in their own sessions."""
        for job in self.queue:
            job.state = "cancelled"
        self.queue.clear()

    def error_of(self, job: Job) -> str:
        """The last lines of a finished job's log (what went wrong, when it failed)."""
        if job.log is None or not job.log.is_file():
            return ""
        with open(job.log, "rb") as f:
            f.seek(max(0, job.log.stat().st_size - 4000))
            return f.read().decode("utf-8", "replace")


def _is_trainlab(pid: int) -> bool:
    """Whether process ``pid`` runs trainlab (a stale run.pid may name an unrelated process by now)."""
    try:
        return b"trainlab" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return not Path("/proc").is_dir()  # no /proc (macOS): trust run.pid, as the CLI's lock does


def read_summary(run_dir: Path) -> dict[str, Any]:
    """A run's summary.json as a dict ({} when missing or unreadable)."""
    try:
        s = read_json(run_dir / "summary.json")
    except Exception:  # a damaged summary is shown as unknown, never a crash of the page
        return {}
    return s if isinstance(s, dict) else {}


def run_status(run_dir: Path, summary: dict[str, Any] | None = None) -> str:
    """running, queued (lab only), a final status, or ``interrupted`` for a run whose process died."""
    s = read_summary(run_dir) if summary is None else summary
    status = str(s.get("status", "unknown"))
    if status == "running" and holder(run_dir) is None:
        return "interrupted"  # killed (SIGKILL, power loss): its last checkpoint is intact
    return status


def resumable(run_dir: Path, status: str) -> bool:
    """Whether the Resume button applies: interrupted (or killed) with a checkpoint."""
    return status == "interrupted" and (run_dir / "checkpoint.pt").is_file()


def read_events(run_dir: Path, offset: int = 0, limit: int = 4 << 20) -> tuple[list[dict[str, Any]], int]:
    """The complete events of ``live.jsonl`` from byte ``offset`` (at most ``limit`` bytes), and the next offset."""
    path = run_dir / LIVE
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            chunk = f.read(limit)
    except OSError:
        return [], offset
    end = chunk.rfind(b"\n")
    if end < 0:
        return [], offset  # no complete line yet: the writer is mid-line
    events = []
    for line in chunk[: end + 1].splitlines():
        if not line.strip() or len(line) > MAX_LINE:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events, offset + end + 1


def history_events(run_dir: Path) -> list[dict[str, Any]]:
    """A run without ``live.jsonl`` (made by the CLI): its epochs from metrics.csv as epoch events."""
    try:
        rows = read_metrics_csv(run_dir / "metrics.csv")
    except Exception:  # an unreadable metrics.csv shows no curves, the page still opens
        return []
    return [{"kind": "epoch", "t": 0, "metrics": row} for row in rows]
