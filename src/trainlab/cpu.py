"""How many CPU threads a new run uses, and how its idle OpenMP threads wait, decided before torch loads.

The thread count changes how float reductions are split, so it changes a run's numbers: it depends
only on the machine — the cores this process may use (affinity, cgroup quota) — never on what else
runs, so the same command with the same seed gives the same weights idle or beside busy processes.
What may adapt to the load is how idle threads wait, which changes no number: measured on a 2-core
machine (BENCHMARKS.md, "Threads"), two threads that spin while they wait (OpenMP's active waiting)
train the reference MLP fastest on a free machine, while beside a busy core spinning threads steal
the time their partner needs (up to 17x slower) and sleeping ones (passive waiting) stay as fast as
one thread. So threads spin only when a short sample of ``/proc/stat`` saw nothing else running.

OpenMP reads ``OMP_WAIT_POLICY`` once, when torch loads it: ``prepare()`` sets it in the
environment first (never over a value the user set). When torch was imported before trainlab
decided, only the thread count can still change. Stdlib only: it runs before torch is imported.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

# a core counts as busy from this share of its time in use by other processes
BUSY_SHARE = 0.5
# how long the load is sampled: /proc/stat counts in 10 ms ticks, so 5 ticks per core
SAMPLE_SECONDS = 0.05
# the most bytes read from one /proc or /sys file (they are a few hundred bytes; bounded anyway)
_READ_MAX = 1 << 16

Reader = Callable[[str], str | None]


@dataclass(frozen=True)
class Choice:
    """The decision: threads, the OpenMP wait policy, and what it was made from."""

    threads: int
    wait_policy: str  # ACTIVE (spin) or PASSIVE (sleep): what OMP_WAIT_POLICY is (or was) set to
    usable: int  # cores this process may use (affinity, cgroup quota)
    busy: float  # cores' worth of time other processes at normal priority used during the sample
    niced: float  # the same for processes at a positive nice (background work)
    reason: str  # one line for the run header and the docs


def read_file(path: str) -> str | None:
    """A small system file's text, or None when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read(_READ_MAX).decode("ascii", "replace")
    except OSError:
        return None


def affinity() -> set[int]:
    """The CPUs this process may run on."""
    try:
        return set(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows: no affinity API
        return set(range(os.cpu_count() or 1))


def cgroup_quota(read: Reader = read_file) -> float | None:
    """The CPU quota of this process's cgroup in cores (v2 ``cpu.max`` or v1 ``cfs_quota_us``), None if unlimited."""
    v2 = read("/sys/fs/cgroup/cpu.max")
    if v2:
        parts = v2.split()
        if len(parts) == 2 and parts[0] != "max":
            return _ratio(parts[0], parts[1])
        return None
    quota, period = read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), read("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
    if quota and period and quota.strip() != "-1":
        return _ratio(quota, period)
    return None


def _ratio(quota: str, period: str) -> float | None:
    try:
        q, p = int(quota.strip()), int(period.strip())
    except ValueError:
        return None
    return q / p if q > 0 and p > 0 else None


def usable_cores(cpus: set[int], quota: float | None) -> int:
    """Cores this process can keep busy: its affinity, capped by a cgroup quota (a 1.5-core quota is 1)."""
    n = max(1, len(cpus))
    return max(1, min(n, math.floor(quota))) if quota is not None else n


def cpu_times(stat: str | None, cpus: set[int]) -> dict[int, tuple[int, int, int]]:
    """(busy, niced, total) ticks of each CPU in ``cpus`` from ``/proc/stat``'s text: busy is user,
    system, irq, softirq and steal time; niced the time of processes at a positive ``nice``
    (background work); idle and iowait count as idle."""
    out: dict[int, tuple[int, int, int]] = {}
    for line in (stat or "").splitlines():
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or name == "cpu" or not name[3:].isdigit() or int(name[3:]) not in cpus:
            continue
        try:
            ticks = [int(v) for v in rest.split()[:8]]
        except ValueError:
            continue
        if len(ticks) >= 5:
            total = sum(ticks)
            out[int(name[3:])] = (total - ticks[1] - ticks[3] - ticks[4], ticks[1], total)
    return out


def busy_cores(
    before: dict[int, tuple[int, int, int]],
    after: dict[int, tuple[int, int, int]],
    own_seconds: float = 0.0,
    tick: float = 0.01,
    own_niced: bool = False,
) -> tuple[float, float]:
    """Cores' worth of (busy, niced) time used between two samples, less this process's own CPU
    time (taken from the niced share when this process is niced itself)."""
    busy, niced, total = 0.0, 0.0, 0
    for cpu, (b1, n1, t1) in after.items():
        if cpu in before:
            b0, n0, t0 = before[cpu]
            if t1 > t0:
                busy += (b1 - b0) / (t1 - t0)
                niced += (n1 - n0) / (t1 - t0)
                total += t1 - t0
    if not total:
        return 0.0, 0.0
    span = total / max(len(after), 1) * tick  # seconds the sample covered
    own = own_seconds / span if span > 0 else 0.0
    if own_niced:
        return busy, max(0.0, niced - own)
    return max(0.0, busy - own), niced


def decide(
    usable: int,
    busy: float,
    niced: float = 0.0,
    user_policy: str | None = None,
    local_world: int = 1,
    env_threads: int | None = None,
) -> Choice:
    """The thread count and wait policy for a new run: the count from the machine, the waiting from its load.

    Threads: every usable core (a data-parallel run's processes each get their share;
    ``OMP_NUM_THREADS`` comes first) — never fewer because other processes are busy, since the
    count changes the run's numbers. Waiting: idle threads spin (``ACTIVE``) only when nothing at all
    was running during the sample (each busy share rounded at ``BUSY_SHARE``, niced work included:
    spinning beside any other work was measured 17-30x slower); else they sleep (``PASSIVE``).
    Data-parallel ranks and ``OMP_NUM_THREADS`` sleep (no load was sampled for them); a policy the
    user set is kept.
    """
    anything = math.floor(busy + niced + (1 - BUSY_SHARE))
    if local_world > 1:
        threads, policy = max(1, usable // local_world), "PASSIVE"
        reason = f"{usable} usable cores shared by {local_world} processes of this machine"
    elif env_threads is not None:
        threads, policy = env_threads, "PASSIVE"  # no sample was taken: sleeping is the safe side
        reason = f"OMP_NUM_THREADS={env_threads}"
    else:
        threads = usable
        policy = "ACTIVE" if anything == 0 and threads > 1 else "PASSIVE"
        reason = (
            f"{usable} usable cores; {busy:.1f} busy with other work, "
            f"{niced:.1f} with niced work (sets the waiting only)"
        )
    if user_policy:
        policy = user_policy.upper()
    return Choice(threads, policy, usable, round(busy, 2), round(niced, 2), reason)


def measure(
    read: Reader = read_file,
    sample: float = SAMPLE_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    cpus: set[int] | None = None,
    own_niced: bool = False,
) -> tuple[int, float, float]:
    """Usable cores and how many of them other processes keep busy, at normal priority and niced
    (sampled over ``sample`` seconds)."""
    cpus = affinity() if cpus is None else cpus
    usable = usable_cores(cpus, cgroup_quota(read))
    if usable < 2 or sample <= 0:
        return usable, 0.0, 0.0  # one core: nothing to decide, no time spent sampling
    own0, before = time.process_time(), cpu_times(read("/proc/stat"), cpus)
    if not before:  # no /proc (macOS, Windows): assume the machine is free
        return usable, 0.0, 0.0
    sleep(sample)
    own1, after = time.process_time(), cpu_times(read("/proc/stat"), cpus)
    busy, niced = busy_cores(before, after, own1 - own0, 1 / _ticks_per_second(), own_niced)
    return usable, busy, niced


def own_niceness() -> int:
    """This process's ``nice`` value (0 where it cannot be read)."""
    try:
        return os.getpriority(os.PRIO_PROCESS, 0)
    except (AttributeError, OSError):
        return 0


def _ticks_per_second() -> int:
    try:
        return int(os.sysconf("SC_CLK_TCK"))
    except (AttributeError, ValueError, OSError):
        return 100


_USER_POLICY = os.environ.get("OMP_WAIT_POLICY") or None  # as the user started us, before trainlab set it
_choice: Choice | None = None


def protect() -> None:
    """At ``import trainlab``: sleep-waiting until ``prepare`` decides, so that torch imported next by the
    user's own code does not spin beside a busy core (a value the user set is kept)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def prepare() -> Choice:
    """Decide once per process, before torch loads when it can: set ``OMP_WAIT_POLICY`` (unless the
    user set it) and remember the thread count that ``threads=0`` stands for."""
    global _choice
    if _choice is not None:
        return _choice
    env = os.environ.get("OMP_NUM_THREADS", "")
    world = os.environ.get("LOCAL_WORLD_SIZE", "")  # set by torchrun for each rank
    local_world = max(1, int(world)) if world.isdigit() else 1
    env_threads = int(env) if env.isdigit() and int(env) > 0 else None
    loaded = "torch" in sys.modules
    # a data-parallel run's ranks start together and load each other's cores: no sample
    niced_self = own_niceness() > 0
    usable, busy, niced = measure(sample=0 if local_world > 1 or env_threads else SAMPLE_SECONDS, own_niced=niced_self)
    choice = decide(usable, busy, niced, _USER_POLICY, local_world, env_threads)
    if loaded:  # OpenMP has read its policy already: report the one it read
        choice = Choice(
            choice.threads,
            (os.environ.get("OMP_WAIT_POLICY") or "default").upper(),
            usable,
            choice.busy,
            choice.niced,
            choice.reason + "; torch was loaded first",
        )
    elif not _USER_POLICY:
        os.environ["OMP_WAIT_POLICY"] = choice.wait_policy
    _choice = choice
    return choice


def default_threads(local_world: int = 1) -> int:
    """The thread count ``threads=0`` gives a new run (``prepare``'s decision; a share of the usable
    cores for each of ``local_world`` data-parallel processes)."""
    choice = prepare()
    return max(1, choice.usable // local_world) if local_world > 1 else choice.threads


__all__ = [
    "Choice",
    "busy_cores",
    "cgroup_quota",
    "cpu_times",
    "decide",
    "default_threads",
    "measure",
    "own_niceness",
    "prepare",
    "protect",
    "usable_cores",
]
