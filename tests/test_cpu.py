"""The thread decision: usable cores from affinity and cgroup quota, busy cores from /proc/stat, the
choice; a new run's config records the count it got, and resume keeps it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import trainlab
from tests.conftest import StopAt, quick
from trainlab import cpu


def reader(files: dict[str, str]) -> cpu.Reader:
    """A fake file system: path -> text, everything else unreadable."""
    return files.get


STAT0 = "cpu  10 0 10 100 0 0 0 0 0 0\ncpu0 5 0 5 50 0 0 0 0 0 0\ncpu1 5 0 5 50 0 0 0 0 0 0\nintr 1\n"
# 5 ticks later per cpu: cpu0 all busy (a spinning process), cpu1 all idle
STAT1 = "cpu  15 0 10 105 0 0 0 0 0 0\ncpu0 10 0 5 50 0 0 0 0 0 0\ncpu1 5 0 5 55 0 0 0 0 0 0\nintr 1\n"
# the same 5 ticks on cpu0 spent by a niced process (the second column)
STAT1_NICED = "cpu  10 5 10 105 0 0 0 0 0 0\ncpu0 5 5 5 50 0 0 0 0 0 0\ncpu1 5 0 5 55 0 0 0 0 0 0\nintr 1\n"


def test_cgroup_quota_v2_v1_and_unlimited() -> None:
    assert cpu.cgroup_quota(reader({"/sys/fs/cgroup/cpu.max": "150000 100000\n"})) == 1.5
    assert cpu.cgroup_quota(reader({"/sys/fs/cgroup/cpu.max": "max 100000\n"})) is None
    v1 = {"/sys/fs/cgroup/cpu/cpu.cfs_quota_us": "200000\n", "/sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n"}
    assert cpu.cgroup_quota(reader(v1)) == 2.0
    assert cpu.cgroup_quota(reader({**v1, "/sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1\n"})) is None
    assert cpu.cgroup_quota(reader({"/sys/fs/cgroup/cpu.max": "junk 0\n"})) is None
    assert cpu.cgroup_quota(reader({})) is None


def test_usable_cores_is_affinity_capped_by_quota() -> None:
    assert cpu.usable_cores({0, 1, 2, 3}, None) == 4
    assert cpu.usable_cores({0, 1, 2, 3}, 1.5) == 1  # 2 threads would be throttled half the time
    assert cpu.usable_cores({0, 1}, 8.0) == 2
    assert cpu.usable_cores({0, 1}, 0.2) == 1


def test_busy_cores_from_two_samples_of_proc_stat() -> None:
    before, after = cpu.cpu_times(STAT0, {0, 1}), cpu.cpu_times(STAT1, {0, 1})
    assert before == {0: (10, 0, 60), 1: (10, 0, 60)}
    assert cpu.busy_cores(before, after) == pytest.approx((1.0, 0.0))
    # niced work is counted apart
    assert cpu.busy_cores(before, cpu.cpu_times(STAT1_NICED, {0, 1})) == pytest.approx((0.0, 1.0))
    # only the CPUs this process may use count
    assert cpu.busy_cores(cpu.cpu_times(STAT0, {1}), cpu.cpu_times(STAT1, {1})) == (0.0, 0.0)
    # this process's own CPU time during the sample (0.05 s over a 0.05 s sample) is not "other work"
    assert cpu.busy_cores(before, after, own_seconds=0.05) == pytest.approx((0.0, 0.0))
    assert cpu.busy_cores(
        before, cpu.cpu_times(STAT1_NICED, {0, 1}), own_seconds=0.05, own_niced=True
    ) == pytest.approx((0.0, 0.0))
    assert cpu.cpu_times("garbage\ncpu0 x y\n", {0}) == {}


def test_measure_with_injected_readers() -> None:
    files = iter([STAT0, STAT1])
    fs = {"/sys/fs/cgroup/cpu.max": "max 100000"}
    usable, busy, niced = cpu.measure(
        lambda p: fs.get(p) if p != "/proc/stat" else next(files), sample=0.05, sleep=lambda s: None, cpus={0, 1}
    )
    assert usable == 2 and busy == pytest.approx(1.0, abs=0.5) and niced == 0.0  # less this process's own CPU time
    # one usable core: nothing to sample
    assert cpu.measure(reader({"/sys/fs/cgroup/cpu.max": "100000 100000"}), cpus={0, 1}) == (1, 0.0, 0.0)
    # no /proc/stat: taken as free
    assert cpu.measure(reader({}), sleep=lambda s: None, cpus={0, 1}) == (2, 0.0, 0.0)


def test_decide_idle_busy_and_explicit() -> None:
    idle = cpu.decide(usable=2, busy=0.2)
    assert (idle.threads, idle.wait_policy) == (2, "ACTIVE")  # every core free: spin
    # the load never changes the count (it would change the numbers), only the waiting
    one_busy = cpu.decide(usable=2, busy=1.0)
    assert (one_busy.threads, one_busy.wait_policy) == (2, "PASSIVE")
    assert cpu.decide(usable=2, busy=3.0).threads == 2
    eight = cpu.decide(usable=8, busy=2.6)
    assert (eight.threads, eight.wait_policy) == (8, "PASSIVE")
    # niced background work stops the spinning too
    niced = cpu.decide(usable=2, busy=0.0, niced=2.0)
    assert (niced.threads, niced.wait_policy) == (2, "PASSIVE")
    assert cpu.decide(usable=1, busy=0.0).threads == 1
    assert cpu.decide(usable=1, busy=0.0).wait_policy == "PASSIVE"  # one thread: nothing to spin for
    assert cpu.decide(usable=2, busy=0.0, user_policy="passive").wait_policy == "PASSIVE"  # the user's wins
    ranks = cpu.decide(usable=8, busy=0.0, local_world=4)
    assert (ranks.threads, ranks.wait_policy) == (2, "PASSIVE")
    env = cpu.decide(usable=8, busy=0.0, env_threads=3)
    assert (env.threads, env.wait_policy) == (3, "PASSIVE")


def test_the_count_depends_on_the_machine_only() -> None:
    loads = [(b / 4, n / 4) for b in range(0, 17) for n in range(0, 9)]
    for usable in (1, 2, 3, 8, 64):
        assert {cpu.decide(usable=usable, busy=b, niced=n).threads for b, n in loads} == {usable}


def test_prepare_sets_the_policy_only_before_torch_and_not_over_the_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu, "_choice", None)
    monkeypatch.setattr(cpu, "measure", lambda sample=0.0, own_niced=False: (2, 0.0, 0.0))
    monkeypatch.setattr(cpu, "_USER_POLICY", None)
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    choice = cpu.prepare()  # torch is loaded in this test process: the policy it read stays
    assert choice.threads == 2 and choice.wait_policy == "PASSIVE" and "torch was loaded first" in choice.reason
    assert cpu.prepare() is choice  # decided once per process
    assert cpu.default_threads() == 2 and cpu.default_threads(local_world=2) == 1


def fixed(monkeypatch: pytest.MonkeyPatch, threads: int) -> None:
    """Make this process's decision ``threads`` (as a machine with that many free cores would)."""
    monkeypatch.setattr(cpu, "_choice", cpu.Choice(threads, "PASSIVE", threads, 0.0, 0.0, "test"))


def test_new_run_records_its_threads_and_resume_keeps_them(runs_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fixed(monkeypatch, 2)
    cfg = quick(runs_dir, train__epochs=2, output__report=False)  # threads: 0, the default
    run = trainlab.train(cfg, callbacks=[StopAt(3)], handle_signals=False)
    saved = yaml.safe_load((run.path / "config.yaml").read_text())
    assert saved["threads"] == 2 and run.summary["status"] == "interrupted"
    fixed(monkeypatch, 1)  # the machine got busier: a new run adapts, the resumed one does not
    assert trainlab.train(cfg).summary["threads"] == 1
    resumed = trainlab.train(resume=run.path, handle_signals=False)
    assert resumed.summary["status"] == "completed" and resumed.summary["threads"] == 2
    assert yaml.safe_load((run.path / "config.yaml").read_text())["threads"] == 2


def test_explicit_threads_are_never_overridden(runs_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fixed(monkeypatch, 2)
    run = trainlab.train(quick(runs_dir, threads=1, train__epochs=1, output__report=False))
    assert run.summary["threads"] == 1 and yaml.safe_load((run.path / "config.yaml").read_text())["threads"] == 1


def test_the_cli_decides_before_torch_loads(tmp_path: Path) -> None:
    # a fresh interpreter: in this test process torch is loaded already
    code = (
        "import sys, trainlab.cpu as c, trainlab.cli as cli\n"
        "decide = c.prepare\n"
        "def spy():\n"
        "    print('torch loaded at the decision:', 'torch' in sys.modules)\n"
        "    return decide()\n"
        "c.prepare = spy\n"
        "sys.exit(cli.main(['train', 'data.name=xor(size=40,test=20)', 'model.hidden=[4]', 'train.epochs=1', "
        f"'output.report=false', 'output.dir={tmp_path}', '--no-progress']))\n"
    )
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src}
    env.pop("OMP_WAIT_POLICY", None)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-1500:]
    assert "torch loaded at the decision: False" in done.stdout
    (summary,) = tmp_path.glob("*/summary.json")
    saved = json.loads(summary.read_text())
    assert saved["omp_wait_policy"] in ("ACTIVE", "PASSIVE") and saved["threads"] >= 1


def _train_digits(out: Path, busy: bool) -> tuple[bytes, dict]:
    """``trainlab train`` on digits in a fresh process (threads=0, decided there), beside a spinning
    process when ``busy``; its weights' bytes and summary."""
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src}
    for key in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS"):
        env.pop(key, None)
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        args = [
            "data.name=digits",
            "model.hidden=[64]",
            "optim.batch_size=64",
            "train.epochs=2",
            "seed=3",
            "output.report=false",
            f"output.dir={out}",
            "--no-progress",
        ]
        done = subprocess.run(
            [sys.executable, "-m", "trainlab", "train", *args], capture_output=True, text=True, env=env, timeout=300
        )
    finally:
        if spin is not None:
            spin.kill()
            spin.wait()
    assert done.returncode == 0, done.stderr[-1500:]
    (run,) = out.glob("*/summary.json")
    return (run.parent / "model.safetensors").read_bytes(), json.loads(run.read_text())


def test_same_command_same_weights_idle_or_beside_a_busy_process(tmp_path: Path) -> None:
    idle_w, idle = _train_digits(tmp_path / "idle", busy=False)
    busy_w, busy = _train_digits(tmp_path / "busy", busy=True)
    assert idle["threads"] == busy["threads"]  # decided from the machine: affinity and quota
    assert idle_w == busy_w  # bit-identical weights: the thread count did not follow the load
    assert busy["omp_wait_policy"] == "PASSIVE"  # the waiting did: a spinning process was there
