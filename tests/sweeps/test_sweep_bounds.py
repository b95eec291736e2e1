"""Sweep options that were silently replaced or unbounded: the stack choice kept on resume, the
heartbeat and grace bounded, ``--workers`` lowered to the trials waiting and the usable cores."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from trainlab.cli import main
from trainlab.sweeps import pool, sweep

from .test_lose_nothing import SPACE


def test_a_sweep_created_with_no_stack_never_stacks_after_resume_or_join(tmp_path: Path) -> None:
    first = sweep(None, SPACE, sampler="random", trials=2, stack=False, root=tmp_path, name="n", report=False)
    assert first.spec.stack is False
    grown = sweep(resume="n", trials=5, root=tmp_path, report=False)  # stack left at its default True
    assert grown.plan == "trials train one by one: stacking off (--no-stack)"
    assert [t.user_attrs.get("alone") for t in grown.trials] == ["stacking off (--no-stack)"] * 5
    assert all("stacked" not in t.user_attrs for t in grown.trials)
    joined = sweep(join="n", root=tmp_path, report=False)
    assert joined.plan == "trials train one by one: stacking off (--no-stack)"
    # a sweep created stacking may still be run one by one by a worker that asks
    sweep(None, SPACE, sampler="random", trials=2, root=tmp_path, name="s", report=False)
    assert sweep(resume="s", trials=3, stack=False, root=tmp_path, report=False).plan.endswith("(--no-stack)")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--heartbeat", "-5"], "heartbeat=-5.0 must be a number of seconds > 0"),
        (["--heartbeat", "inf"], "heartbeat=inf must be a number of seconds > 0 and <= 86400"),
        (["--heartbeat", "nan"], "heartbeat=nan must be"),
        (["--grace", "1e300"], "grace=1e+300 must be a number of seconds > 0 and <= 86400"),
        (["--grace", "-1"], "grace=-1.0 must be"),
    ],
)
def test_heartbeat_and_grace_out_of_range_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    assert main(["sweep", *SPACE, "--trials", "1", "--dir", str(tmp_path), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not list(tmp_path.iterdir())  # refused before any sweep was created


def _trials(*states: str) -> list[SimpleNamespace]:
    return [SimpleNamespace(state=SimpleNamespace(name=s)) for s in states]


def test_local_workers_are_bounded_by_trials_waiting_and_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pool, "usable_cores", lambda cpus, quota: 4)
    assert pool.local_workers(1, _trials("WAITING")) == (1, None)
    assert pool.local_workers(3, _trials(*["WAITING"] * 5)) == (3, None)
    assert pool.local_workers(64, _trials("WAITING", "WAITING", "COMPLETE")) == (
        2,
        "--workers 64: starting 2 (2 trial(s) waiting, 4 usable core(s))",
    )
    assert pool.local_workers(8, _trials(*["WAITING"] * 100)) == (4, "--workers 8: starting 4 (4 usable core(s))")
    assert pool.local_workers(8, _trials("RUNNING")) == (
        1,
        "--workers 8: starting 1 (0 trial(s) waiting, 4 usable core(s))",
    )


def test_workers_64_on_a_2_trial_sweep_starts_at_most_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["sweep", *SPACE, "--sampler", "random", "--trials", "2", "--workers", "64", "--dir", str(tmp_path)]) == 0
    )
    captured = capsys.readouterr()
    assert "--workers 64: starting " in captured.err and captured.err.count("\n") == 1
    started = int(captured.err.split("starting ")[1].split()[0])
    assert 1 <= started <= 2 and f"{started} worker(s)" in captured.out
    assert "2 trials (2 complete)" in captured.out
