"""Weight inits: the sampled stds match their formulas within sampling error; gains follow the activation."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from trainlab.errors import ConfigError
from trainlab.nn.init import INITS, expected_std, init_model

FAN_IN, FAN_OUT = 400, 300  # 120k weights: the sample std is within ~0.5% of the true one


def _std(init: str, act: str = "relu", fan_in: int = FAN_IN, fan_out: int = FAN_OUT) -> float:
    torch.manual_seed(0)
    layer = nn.Linear(fan_in, fan_out)
    init_model(layer, init, "zeros", act)
    return layer.weight.std().item()


@pytest.mark.parametrize(
    ("init", "act", "formula"),
    [
        ("xavier_normal", "tanh", math.sqrt(2 / (FAN_IN + FAN_OUT))),
        ("xavier_uniform", "tanh", math.sqrt(2 / (FAN_IN + FAN_OUT))),
        ("xavier_normal(gain=2)", "tanh", 2 * math.sqrt(2 / (FAN_IN + FAN_OUT))),
        ("kaiming_normal", "relu", math.sqrt(2 / FAN_IN)),
        ("kaiming_uniform", "relu", math.sqrt(2 / FAN_IN)),
        ("kaiming_normal(mode=fan_out)", "relu", math.sqrt(2 / FAN_OUT)),
        ("kaiming_normal", "tanh", (5 / 3) / math.sqrt(FAN_IN)),
        ("kaiming_normal", "leaky_relu(0.2)", math.sqrt(2 / (1 + 0.2**2)) / math.sqrt(FAN_IN)),
        ("kaiming_normal", "selu", 1 / math.sqrt(FAN_IN)),  # LeCun normal
        ("kaiming_normal", "sigmoid", 1 / math.sqrt(FAN_IN)),
        ("kaiming_normal", "maxout(2)", 1 / math.sqrt(FAN_IN)),
        ("normal(std=0.05)", "relu", 0.05),
        ("uniform(a=0.3)", "relu", 0.3 / math.sqrt(3)),
        ("orthogonal", "relu", 1 / math.sqrt(FAN_IN)),
    ],
)
def test_std_matches_formula(init, act, formula):
    assert math.isclose(expected_std(init, FAN_IN, FAN_OUT, act), formula, rel_tol=1e-9)
    # sampling error of a std from n draws is ~ std / sqrt(2n); 5 of those is a safe bound
    assert abs(_std(init, act) - formula) < 5 * formula / math.sqrt(2 * FAN_IN * FAN_OUT) + 1e-4 * formula


def test_zeros_constant_default_and_bias_inits():
    assert _std("zeros") == 0.0
    layer = nn.Linear(10, 5)
    init_model(layer, "constant(value=0.3)", "constant(0.5)", "relu")
    assert torch.all(layer.weight == 0.3) and torch.all(layer.bias == 0.5)
    torch.manual_seed(0)
    a = nn.Linear(10, 5)
    torch.manual_seed(0)
    b = nn.Linear(10, 5)
    init_model(b, "default", "default", "relu")
    assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)


def test_orthogonal_rows_are_orthonormal():
    layer = nn.Linear(50, 20)
    init_model(layer, "orthogonal", "zeros", "relu")
    w = layer.weight.detach()
    assert torch.allclose(w @ w.T, torch.eye(20), atol=1e-5)


def test_conv_layers_are_initialized_with_their_fan():
    conv = nn.Conv2d(8, 16, 3)
    init_model(conv, "kaiming_normal", "zeros", "relu")
    fan_in = 8 * 9
    assert abs(conv.weight.std().item() - math.sqrt(2 / fan_in)) < 0.1 * math.sqrt(2 / fan_in)


def test_bad_mode_is_a_config_error_and_every_init_runs():
    with pytest.raises(ConfigError, match="fan_in"):
        _std("kaiming_normal(mode=sideways)")
    for entry in INITS:
        assert math.isfinite(_std(entry.name, "relu", 20, 10))


def test_maxout_weights_are_initialized_with_fan_in():
    from trainlab.nn.layers import Maxout

    torch.manual_seed(0)
    m = Maxout(400, 100, pieces=3)
    init_model(m, "kaiming_normal", "constant(0.2)", "maxout(3)")
    assert abs(m.weight.std().item() - 1 / math.sqrt(400)) < 0.02 / math.sqrt(400) and torch.all(m.bias == 0.2)
