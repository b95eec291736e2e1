"""The NaN/Inf guard: stops at the first bad step, names the layer, keeps the last good checkpoint, exit code 3."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

import trainlab
from tests.conftest import quick, requires_fashion
from trainlab.build import setup
from trainlab.cli import main
from trainlab.config import Config
from trainlab.runs.checkpoint import load_checkpoint
from trainlab.training.callbacks import InitialLoss
from trainlab.training.callbacks.nan_guard import NanGuard
from trainlab.training.loop import Callback, Trainer


class Scale(nn.Module):
    """Multiplies by a buffer: set it to inf to make this layer's output non-finite on purpose."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("factor", torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor


class _NanBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        return x.clone()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        return grad * float("nan")


class NanBackward(nn.Module):
    """Identity forward, NaN gradient backward: a NaN born in the backward pass at a known place."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _NanBackward.apply(x)


class Injector(Callback):
    """At the end of step ``at``, run ``fn(trainer)``."""

    def __init__(self, at: int, fn) -> None:
        self.at, self.fn = at, fn

    def on_batch_end(self, trainer: Trainer) -> None:
        if trainer.step == self.at:
            self.fn(trainer)


def trainer_for(model: nn.Module, *callbacks: Callback, epochs: int = 1) -> Trainer:
    s = setup(Config.from_dict({"threads": 1, "data": {"name": "digits", "val": 0}}))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    return Trainer(model, s.data, s.loss, opt, epochs, 64, callbacks=[InitialLoss(2.3026), NanGuard(), *callbacks])


def test_constructed_nan_is_found_at_its_layer_and_step() -> None:
    model = nn.Sequential(OrderedDict(flatten=nn.Flatten(), fc1=nn.Linear(64, 32), act1=nn.ReLU(), boom=Scale(), fc2=nn.Linear(32, 10)))
    t = trainer_for(model, Injector(5, lambda tr: tr.model.boom.factor.fill_(float("inf"))))
    t.fit()
    assert t.status == "diverged" and t.step == 5  # step 6 never updated the weights
    info = t.facts.nan_guard
    assert info["step"] == 6 and info["layer"] == "boom" and info["kind"] == "activation"
    assert "step 6" in t.stop_reason and "layer boom (Scale)" in t.stop_reason and "lr 0.01" in t.stop_reason
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_deferred_mode_records_the_first_bad_step_without_per_step_syncs() -> None:
    """The accelerator path (flag kept on the device, read every 4 steps), exercised on the CPU."""
    model = nn.Sequential(OrderedDict(flatten=nn.Flatten(), fc1=nn.Linear(64, 32), act1=nn.ReLU(), boom=Scale(), fc2=nn.Linear(32, 10)))
    s = setup(Config.from_dict({"threads": 1, "data": {"name": "digits", "val": 0}}))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    inject = Injector(5, lambda tr: tr.model.boom.factor.fill_(float("inf")))
    t = Trainer(model, s.data, s.loss, opt, 1, 64, callbacks=[InitialLoss(2.3026), NanGuard(check_every=4), inject])
    t.fit()
    assert t.status == "diverged" and t.facts.nan_guard["step"] == 6 and t.step == 8
    assert "found at step 8" in t.stop_reason and "layer boom" in t.stop_reason
    assert all(torch.isfinite(p).all() for p in model.parameters())  # the bad steps' gradients were zeroed


def test_nan_only_in_the_backward_names_the_gradient_layer() -> None:
    model = nn.Sequential(OrderedDict(flatten=nn.Flatten(), fc1=nn.Linear(64, 32), act1=nn.ReLU(), bad=NanBackward(), out=nn.Linear(32, 10)))
    t = trainer_for(model)
    t.fit()
    assert t.status == "diverged" and t.facts.nan_guard["step"] == 1
    assert t.facts.nan_guard["kind"] == "gradient" and t.facts.nan_guard["layer"] == "fc1"
    assert "first non-finite gradient (backward order) is in fc1.weight" in t.stop_reason


def test_nan_in_the_data_is_blamed_on_the_input() -> None:
    model = nn.Sequential(OrderedDict(flatten=nn.Flatten(), fc1=nn.Linear(64, 10)))
    t = trainer_for(model)
    t.data.train.x[:] = float("nan")
    t.fit()
    assert t.status == "diverged" and t.facts.nan_guard["kind"] == "input" and "check the data" in t.stop_reason


def test_last_good_checkpoint_is_kept_and_cli_exits_3(runs_dir: Path, capsys) -> None:
    def poison(trainer: Trainer) -> None:
        with torch.no_grad():
            trainer.model.fc1.weight[0, 0] = float("inf")

    run = trainlab.train(quick(runs_dir, threads=1, output__report=False), callbacks=[Injector(30, poison)])  # 21 steps per epoch
    assert run.summary["status"] == "diverged" and run.summary["nan_guard"]["layer"] == "fc1"
    ckpt = load_checkpoint(run.path / "checkpoint.pt")
    assert ckpt["epoch"] == 1 and all(torch.isfinite(v).all() for v in ckpt["model"].values())
    code = main(["train", "--no-progress", *(f"{k}={v}" for k, v in {"data.name": "digits", "threads": 1, "optim.lr": 1e4, "optim.name": "sgd", "train.epochs": 1, "output.dir": runs_dir}.items())])
    out = capsys.readouterr().out
    assert code == 3 and "stopped by the NaN/Inf guard" in out and "Fix: lower the learning rate" in out


def test_lr_too_low_warns_after_the_first_epoch(runs_dir: Path) -> None:
    seen: list[str] = []

    class Grab(Callback):
        def on_fit_end(self, trainer: Trainer) -> None:
            seen.extend(trainer.facts.warnings)

    run = trainlab.train(quick(runs_dir, threads=1, optim__lr=1e-7, train__epochs=1), callbacks=[Grab()])
    assert run.summary["status"] == "completed" and run.summary["warnings"] == seen
    assert any("barely moved over the first epoch" in w and "too low" in w for w in seen)
    seen.clear()
    trainlab.train(quick(runs_dir, threads=1, train__epochs=1, optim__lr=0.01), callbacks=[Grab()])
    assert not any("too low" in w or "too high" in w for w in seen)


def test_guard_can_be_turned_off(runs_dir: Path) -> None:
    run = trainlab.train(quick(runs_dir, threads=1, optim__lr=1e4, optim__name="sgd", train__epochs=1, train__nan_guard=False))
    assert run.summary["status"] == "completed"


@requires_fashion
def test_reference_recipe_at_lr_10_stops_in_the_first_epoch(runs_dir: Path, capsys) -> None:
    code = main(["train", "--no-progress", "--config", "configs/seed-mlp.yaml", "optim.lr=10", "data.limit=3000", "threads=1", f"output.dir={runs_dir}"])
    out = capsys.readouterr().out
    assert code == 3
    assert "stopped by the NaN/Inf guard" in out and "(epoch 1," in out and "optim.lr=10 -> 1" in out
