"""The doctor's checks on tiny models: each passes on a healthy setup and fails, naming the layer, on a broken one."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from torch import nn

from trainlab.build import make_trainer, setup
from trainlab.config import Config
from trainlab.data.dataset import Dataset, Split
from trainlab.diagnose.checks import (
    check_activations,
    check_gradient_flow,
    check_initial_loss,
    check_inputs,
    check_overfit,
    check_update_ratio,
    run_checks,
    subject_from_setup,
)
from trainlab.nn.causes import initial_loss_causes

DEEP = [64] * 9  # + the output layer: 10 weight layers


def subject(**overrides: object):
    cfg = Config.from_dict({"threads": 1, "data": {"name": "digits", "val": 0}, "model": {"hidden": [32]}})
    return subject_from_setup(setup(cfg.replace(**overrides)), make_trainer)


def test_deep_tanh_small_init_vanishes_and_names_layers() -> None:
    sub = subject(**{"model.hidden": DEEP, "model.act": "tanh", "model.init": "normal(std=0.01)"})
    grads = check_gradient_flow(sub)
    acts = check_activations(sub)
    assert not grads.passed and not acts.passed
    assert {"fc5", "fc9", "out"} <= set(grads.measured["vanishing"])
    assert {"act3", "act9"} <= set(acts.measured["vanishing"]) and "fc1" not in acts.measured["vanishing"]
    assert "vanishing gradients in" in grads.explanation and "vanishing activations in" in acts.explanation


def test_deep_relu_kaiming_passes_every_check(tmp_path) -> None:
    sub = subject(**{"model.hidden": DEEP, "model.act": "relu", "model.init": "kaiming_normal"})
    results = run_checks(sub, plot=tmp_path / "lr.png", lr_steps=30, overfit_steps=200)
    assert [r.name for r in results if not r.passed] == []
    assert (tmp_path / "lr.png").stat().st_size > 1000
    lr = results[-1].measured["suggestion"]
    assert 1e-7 < lr < 10


def test_initial_loss_names_unnormalized_inputs_and_large_init() -> None:
    raw = check_initial_loss(subject(**{"data.preprocess": "none"}))
    assert not raw.passed and "not normalized" in raw.explanation
    big = check_initial_loss(subject(**{"model.init": "normal(std=1.0)"}))
    assert not big.passed and "logits are large" in big.explanation and "init" in big.explanation
    assert check_initial_loss(subject()).passed


def test_initial_loss_names_a_softmax_before_the_loss() -> None:
    x = torch.rand(64, 8)
    out = torch.softmax(torch.randn(64, 10), 1)
    causes = initial_loss_causes(2.35, 2.30, x, out, "cross_entropy")
    assert any("probabilities" in c and "final layer" in c for c in causes)
    relu_out = torch.relu(torch.randn(64, 10)) * 5
    assert any("after the final layer" in c for c in initial_loss_causes(4.0, 2.3, x, relu_out, "cross_entropy"))


def test_overfit_tiny_subset() -> None:
    ok = check_overfit(subject(**{"optim.lr": 0.01}), steps=200)
    assert ok.passed and ok.measured["accuracy"] == 1.0 and ok.measured["steps"] <= 200
    stuck = check_overfit(subject(**{"optim.lr": 1e-7}), steps=50)
    assert not stuck.passed and "after 50 steps" in stuck.summary


def test_inputs_report_nan_and_constant_features() -> None:
    x = torch.rand(50, 6)
    x[:, 2] = 0.5  # a constant feature
    y = torch.randint(0, 2, (50,))
    data = Dataset("t", Split(x, y), None, Split(x, y), ["a", "b"], "classification", (6,))
    res = check_inputs(data)
    assert res.passed and res.measured["constant"] == 1
    x2 = x.clone()
    x2[3, 1] = float("nan")
    bad = check_inputs(Dataset("t", Split(x2, y), None, Split(x2, y), ["a", "b"], "classification", (6,)))
    assert not bad.passed and bad.measured["nan"] == 1 and "NaN" in bad.explanation
    big = check_inputs(Dataset("t", Split(x * 255, y), None, Split(x, y), ["a", "b"], "classification", (6,)))
    assert not big.passed and "not normalized" in big.explanation


def test_dead_relus_and_saturated_tanh_are_named() -> None:
    dead = check_activations(subject(**{"model.bias_init": "constant(value=-10)"}))
    assert not dead.passed and dead.measured["dead"] == ["act1"] and dead.measured["layers"]["act1"]["dead"] > 0.9
    sat = check_activations(subject(**{"model.act": "tanh", "model.init": "normal(std=1.0)"}))
    assert not sat.passed and sat.measured["saturated"] == ["act1"]
    assert check_activations(subject()).passed


@pytest.mark.parametrize(("lr", "verdict"), [(1e-3, "ok"), (1e-8, "small"), (30.0, "large")])
def test_update_ratio_band(lr: float, verdict: str) -> None:
    res = check_update_ratio(subject(**{"optim.lr": lr, "optim.name": "sgd"} if lr > 1 else {"optim.lr": lr}), steps=4)
    assert res.passed == (verdict == "ok"), res.summary
    if verdict != "ok":
        assert f"updates too {verdict}" in res.explanation and "optim.lr" in res.explanation


def test_checks_leave_the_model_untouched() -> None:
    sub = subject()
    before = {k: v.clone() for k, v in sub.model.state_dict().items()}
    check_overfit(sub, steps=10)
    check_update_ratio(sub, steps=2)
    assert all(torch.equal(v, sub.model.state_dict()[k]) for k, v in before.items())


def test_gradient_flow_names_an_exploding_layer() -> None:
    model = nn.Sequential(
        OrderedDict(flatten=nn.Flatten(), fc1=nn.Linear(64, 16), act1=nn.ReLU(), out=nn.Linear(16, 10))
    )
    sub = subject()
    with torch.no_grad():
        model.fc1.weight.mul_(1e-9)  # tiny weights, normal gradients: |grad|/|W| explodes
    sub.model = model
    res = check_gradient_flow(sub)
    assert not res.passed and res.measured["exploding"] == ["fc1"]
