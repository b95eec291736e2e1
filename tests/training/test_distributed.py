"""Data-parallel training: the shards and their loss scales, the torchrun environment, and two gloo
processes whose run matches the single-process run with the same global batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from trainlab.errors import TrainlabError
from trainlab.runner import train
from trainlab.runs.rundir import load_run
from trainlab.training.distributed import SINGLE, World, shard, world_from_env

ARGS = [
    "data.name=digits",
    "model.hidden=[16]",
    "train.epochs=2",
    "threads=1",
    "optim.batch_size=100",
    "output.report=false",
]


def test_each_rank_takes_its_shard_and_the_scales_make_the_whole_batch_mean() -> None:
    idx = torch.arange(7)  # a last batch that does not divide by the world
    parts = [shard(World(r, 3))(idx) for r in range(3)]
    assert sorted(torch.cat([p for p, _ in parts]).tolist()) == list(range(7))  # each example once
    # DDP averages the ranks' gradients: mean over ranks of scale * shard mean == whole-batch mean
    x = torch.randn(7)
    assert sum(s * x[p].mean() for p, s in parts) / 3 == pytest.approx(x.mean().item(), abs=1e-6)
    p, s = shard(World(2, 3))(torch.arange(2))  # a rank without examples: one stand-in example, scale 0
    assert len(p) == 1 and s == 0.0


def test_the_world_comes_from_torchruns_environment() -> None:
    assert world_from_env({}) == SINGLE
    w = world_from_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"})
    assert (w.rank, w.size, w.local_rank, w.local_size, w.main, w.active) == (1, 2, 1, 2, False, True)
    with pytest.raises(TrainlabError, match="RANK=3 WORLD_SIZE=2"):
        world_from_env({"RANK": "3", "WORLD_SIZE": "2"})


def _cli(tmp: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [sys.executable, "-m", "trainlab", "train", "--nproc", "2", *ARGS, f"output.dir={tmp}", "--no-progress", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


def test_two_gloo_processes_match_one_process_through_a_killed_rank_and_a_resume(tmp_path: Path) -> None:
    """Two ranks train with the global batch; one is SIGKILLed; the job ends with one clear line and a
    checkpoint; resumed on two ranks, the run ends where the uninterrupted single-process run ends."""
    long = ["train.epochs=30"]
    proc = _cli(tmp_path / "two", *long)
    metrics = None
    end = time.monotonic() + 240
    while time.monotonic() < end and proc.poll() is None:  # wait until a few epochs are checkpointed
        runs = list((tmp_path / "two").glob("*/metrics.csv"))
        if runs and len(runs[0].read_text().splitlines()) >= 4:
            metrics = runs[0]
            break
        time.sleep(0.2)
    assert metrics is not None, proc.communicate()[0]
    (torchrun,) = _children(proc.pid)
    ranks = _children(torchrun)
    assert len(ranks) == 2
    os.kill(max(ranks), signal.SIGKILL)  # one rank dies mid-run
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0
    # rank 0 says it (a collective lost its peer) or, when torchrun stopped rank 0 first, the launcher does
    assert "process of this 2-process run died" in out and f"--resume {metrics.parent} --nproc 2" in out, out
    assert (metrics.parent / "checkpoint.pt").is_file()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    again = subprocess.run(
        [sys.executable, "-m", "trainlab", "train", "--nproc", "2", "--resume", str(metrics.parent), "--no-progress"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    one = train(None, [*ARGS, *long, f"output.dir={tmp_path / 'one'}"])
    from safetensors.torch import load_file

    a, b = load_file(one.path / "model.safetensors"), load_file(metrics.parent / "model.safetensors")
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-5  # up to the order of float sums
    assert again.stdout.count("test accuracy") == 1  # rank 0 alone prints
    assert [p.name for p in (tmp_path / "two").iterdir()] == [metrics.parent.name]  # and alone writes
    two = load_run(metrics.parent)
    assert two.summary["world_size"] == 2 and two.summary["status"] == "completed"
    for m1, m2 in zip(one.history, two.history, strict=True):  # train metrics reduced, val metrics alike
        for k in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
            assert m1[k] == pytest.approx(m2[k], rel=1e-5, abs=1e-6), k


def test_a_stop_raised_by_a_handler_is_agreed_at_the_end_of_the_event(tmp_path: Path) -> None:
    """The data-parallel engine in a one-process gloo group: the stop waits for the exchange, later handlers of
    that event are skipped (as without DDP), and the run ends with the stopping handler's status."""
    import torch.distributed as dist

    from trainlab.build import build
    from trainlab.config import as_config
    from trainlab.training.engines import DataParallel
    from trainlab.training.loop import Callback, StopTraining

    class StopAt2(Callback):
        def on_batch_end(self, trainer) -> None:
            if trainer.step == 2:
                raise StopTraining("enough", status="stopped")

    class Count(Callback):
        steps: list[int] = []

        def on_batch_end(self, trainer) -> None:
            self.steps.append(trainer.step)

    dist.init_process_group("gloo", store=dist.FileStore(str(tmp_path / "store"), 1), rank=0, world_size=1)
    try:
        _, trainer = build(as_config(None, ARGS), callbacks=[StopAt2(), Count()])
        trainer.engine = DataParallel(World(0, 1), trainer.model, trainer.device)
        trainer.fit()
    finally:
        dist.destroy_process_group()
    assert (trainer.status, trainer.stop_reason, trainer.step) == ("stopped", "enough", 2)
    assert Count.steps == [1]


def test_nproc_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from trainlab.cli import main

    assert main(["train", "--nproc", "0", "data.name=digits", f"output.dir={tmp_path}"]) == 2
    assert "--nproc 0 must be at least 1" in capsys.readouterr().err
    assert (
        main(["train", "--nproc", "2", "optim.lr=-1", f"output.dir={tmp_path}"]) == 2
    )  # checked before torchrun starts
    assert "optim.lr" in capsys.readouterr().err and not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["model.act=relu6"], "unknown activation 'relu6'"),
        (["data.name=mnistt"], "mnistt"),
        (["loss.name=cross_entropyy"], "cross_entropyy"),
        (["model.pretrained=nowhere"], "model.pretrained='nowhere'"),
        (["optim.name=adam(betas=1)"], "betas"),
        (["--resume", "no-such-run"], "no-such-run"),
    ],
)
def test_nproc_checks_what_a_single_process_checks_before_torchrun(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], said: str
) -> None:
    # issue 29: each of these failed in every rank, then torchrun's ChildFailedError traceback, exit 1
    from trainlab.cli import main

    assert main(["train", "--nproc", "2", "data.name=digits", f"output.dir={tmp_path}", *args]) == 2
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not list(tmp_path.iterdir())


def test_nproc_is_bounded_by_the_machine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from trainlab.cli import main
    from trainlab.cli.train import nproc_limit

    monkeypatch.delenv("TRAINLAB_NPROC_MAX", raising=False)
    limit = nproc_limit()
    assert main(["train", "--nproc", str(limit + 62), "data.name=digits", f"output.dir={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert f"--nproc {limit + 62}: this machine runs at most {limit}" in err and "TRAINLAB_NPROC_MAX" in err
    monkeypatch.setenv("TRAINLAB_NPROC_MAX", "3")
    assert nproc_limit() == 3


def test_the_launcher_and_its_ranks_name_the_same_exit_file_variable() -> None:
    from trainlab.cli.train import EXIT_FILE
    from trainlab.training.distributed import LAUNCHER_ENV

    assert EXIT_FILE == LAUNCHER_ENV
