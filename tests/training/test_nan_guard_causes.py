"""The NaN guard names the real cause first: a loss's extreme parameters, huge starting weights; bad ones refused."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from trainlab.build import assemble, setup
from trainlab.cli import main
from trainlab.config import Config
from trainlab.nn.causes import divergence_causes, extreme_loss_parameters
from trainlab.nn.losses import Loss


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["pretrain.method=simclr(temperature=1e-300)"],
            "pretraining method 'simclr(temperature=1e-300)': temperature=1e-300 is out of range; must be >= 0.0001",
        ),
        (["loss.name=ldam(drw_epoch=0,beta=1)"], "loss ldam: beta=1 must be a number in [0, 1) (1 divides by zero)"),
        (["loss.name=ldam(beta=1.5)"], "loss 'ldam(beta=1.5)': beta=1.5 is out of range; must be <= 1"),
    ],
)
def test_loss_parameters_that_divide_by_zero_or_overflow_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture, args: list[str], message: str
) -> None:
    assert main(["train", *args, "data.name=digits", "threads=1", f"output.dir={tmp_path / 'runs'}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "runs").exists()


def test_extreme_loss_parameters_are_named() -> None:
    assert extreme_loss_parameters("nt_xent(temperature=0.0001)") == ["temperature=0.0001"]
    assert extreme_loss_parameters("nt_xent(temperature=0.5)") == [] and extreme_loss_parameters("ldam") == []
    assert divergence_causes("cross_entropy", 0.5) == []
    assert (
        "the loss's parameters are extreme (temperature=0.0001"
        in divergence_causes("nt_xent(temperature=0.0001)", 1)[0]
    )
    assert "|w| up to 1e+30" in divergence_causes("cross_entropy", 1e30)[0]


def digits() -> Config:
    return Config.from_dict({"threads": 1, "data": {"name": "digits", "val": 0}, "model": {"hidden": [16]}})


def fit_until_stopped(s) -> str:  # type: ignore[no-untyped-def]
    trainer = assemble(s)  # the same callbacks as a run: the NaN guard among them
    trainer.fit()
    assert trainer.status == "diverged", trainer.status
    return trainer.stop_reason


def test_the_guard_names_the_loss_parameters_before_the_rate() -> None:
    s = setup(digits().replace(**{"train.epochs": 1}))
    blow_up = Loss("nt_xent(temperature=1e-05)", lambda out, y: out.sum() / 0.0 * 0.0)  # NaN, as exp(s / 1e-5) gives
    message = fit_until_stopped(replace(s, loss=blow_up))
    fix = message.split("Fix: ")[1]
    assert fix.startswith("the loss's parameters are extreme (temperature=1e-05"), message
    assert fix.index("temperature") < fix.index("lower the learning rate")


def test_the_guard_names_huge_starting_weights_before_the_rate() -> None:
    s = setup(digits().replace(**{"train.epochs": 1}))
    with torch.no_grad():
        for p in s.model.parameters():
            p.fill_(1e30)  # what a pretrained run with 1e30 weights starts from
    message = fit_until_stopped(s)
    assert "the weights started with |w| up to 1e+30" in message.split("Fix: ")[1], message
