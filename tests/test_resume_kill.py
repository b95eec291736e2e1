"""Acceptance: real processes stopped by SIGKILL at random steps, or by SIGINT mid-epoch, resume bit-identical.

The child runs the production CLI (``trainlab.cli.main``); the only test hook is one extra callback,
added by the driver below, that signals its own process after a chosen step.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

import trainlab
from tests.conftest import make_idx_dataset
from tests.test_resume import assert_same_run, cfg, overrides
from trainlab.cli import main
from trainlab.runs.checkpoint import load_checkpoint

DRIVER = """
import os, signal, sys
import trainlab.api as api
import trainlab.build as build
from trainlab.training.loop import Callback

step, signum, order = (int(v) for v in os.environ["STOP_AT"].split(","))

class SignalSelf(Callback):
    def on_batch_end(self, t):
        if t.step == step:
            os.kill(os.getpid(), signum)

hook = SignalSelf()
hook.order = order  # before or after the Checkpoint callback (order 30)
original = build.config_callbacks
build.config_callbacks = lambda *a, **k: [*original(*a, **k), hook]
from trainlab.cli import main
sys.exit(main(sys.argv[1:]))
"""

TOTAL_STEPS = 27  # 3 epochs x 9 batches


@pytest.fixture(scope="module")
def idx_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny IDX data set shared by this module's runs."""
    return make_idx_dataset(tmp_path_factory.mktemp("data") / "tinyidx")


def child(tmp_path: Path, args: list[str], step: int, signum: int, order: int = 500) -> subprocess.CompletedProcess:
    """Run ``trainlab ARGS`` in a fresh interpreter that sends itself ``signum`` after ``step``."""
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    env = {
        **os.environ,
        "STOP_AT": f"{step},{signum},{order}",
        "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src"),
    }
    return subprocess.run(
        [sys.executable, str(driver), *args], capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path
    )


def test_sigkill_at_random_steps_then_resume_is_bit_identical(idx_dir: Path, tmp_path: Path) -> None:
    seed = int(os.environ.get("TRAINLAB_TEST_SEED", random.randrange(10**6)))
    rng = random.Random(seed)
    reference = trainlab.train(cfg(idx_dir, tmp_path / "ref"))
    runs = tmp_path / "runs"
    # three kills at increasing random steps, each after the first periodic checkpoint (step 4),
    # landing just before or just after that step's own checkpoint would be written
    kills = sorted(rng.sample(range(5, TOTAL_STEPS), 3))
    args = ["train", *overrides(cfg(idx_dir, runs)), "--no-progress"]
    for i, step in enumerate(kills):
        proc = child(tmp_path, args, step, 9, order=rng.choice((25, 35)))
        assert proc.returncode == -9, f"seed {seed}: {proc.stderr[-2000:]}"
        (run_dir,) = runs.iterdir()
        saved = load_checkpoint(run_dir / "checkpoint.pt")["step"]  # always loadable
        assert saved <= step, f"seed {seed}"
        args = ["train", "--resume", str(run_dir), "--no-progress"]
        if i == 0:
            assert trainlab.load_run(run_dir).summary["status"] == "running"  # SIGKILL leaves no chance to say more
    assert main(args) == 0, f"seed {seed}"  # the last leg in this process: same CLI, saves a start-up
    assert_same_run(reference, run_dir)


def test_sigint_mid_epoch_exit_code_message_and_exact_resume(
    idx_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    reference = trainlab.train(cfg(idx_dir, tmp_path / "ref"))
    runs = tmp_path / "runs"
    proc = child(tmp_path, ["train", *overrides(cfg(idx_dir, runs)), "--no-progress"], 14, 2)
    (run_dir,) = runs.iterdir()
    assert proc.returncode == 130, proc.stderr
    assert "SIGINT: stopped at epoch 2, step 14; checkpoint saved" in proc.stdout
    assert proc.stderr.strip().splitlines()[-1] == f"resume with: trainlab train --resume {run_dir}"
    assert "Traceback" not in proc.stderr
    payload = load_checkpoint(run_dir / "checkpoint.pt")
    assert payload["step"] == 14 and payload["in_epoch"]["position"] == 5
    assert trainlab.load_run(run_dir).summary["status"] == "interrupted"
    assert main(["train", "--resume", str(run_dir), "--no-progress"]) == 0
    assert "resuming" in capsys.readouterr().out
    assert_same_run(reference, run_dir)
