"""Models on tiny data: shapes, inits, dropout behaviour in train vs eval."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainlab.config import ModelConfig
from trainlab.errors import ConfigError
from trainlab.nn.init import expected_std
from trainlab.nn.models import build_model, count_params, describe


def test_reference_mlp_shape_and_init() -> None:
    torch.manual_seed(0)
    m = build_model(ModelConfig(), (1, 28, 28), 10)
    assert describe(m) == "784-256-10" and count_params(m) == 784 * 256 + 256 + 256 * 10 + 10
    assert m(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    assert torch.count_nonzero(m.fc1.bias) == 0 and torch.count_nonzero(m.out.bias) == 0
    std = float(m.fc1.weight.detach().std())
    assert std == pytest.approx(expected_std("kaiming_normal", 784, 256), rel=0.03)  # sqrt(2/784)


def test_mlp_depth_width_activation() -> None:
    m = build_model(ModelConfig(hidden=[16, 8, 4], act="tanh"), (5,), 3)
    assert describe(m) == "5-16-8-4-3"
    assert sum(isinstance(x, nn.Tanh) for x in m.modules()) == 3


def test_perceptron_and_linear() -> None:
    p = build_model(ModelConfig(name="perceptron"), (2,), 1)
    assert p(torch.zeros(4, 2)).shape == (4, 1) and count_params(p) == 3
    with pytest.raises(ConfigError, match="perceptron"):
        build_model(ModelConfig(name="perceptron"), (2,), 3)
    lin = build_model(ModelConfig(name="linear"), (1, 8, 8), 10)
    assert describe(lin) == "64-10"


def test_dropout_active_in_train_only() -> None:
    torch.manual_seed(0)
    m = build_model(ModelConfig(hidden=[64], dropout=0.5), (10,), 2)
    x = torch.randn(8, 10)
    m.train()
    assert not torch.equal(m(x), m(x))  # a new mask each call
    m.eval()
    assert torch.equal(m(x), m(x))
    hidden = nn.Sequential(m.flatten, m.fc1, m.act1, m.drop1)
    m.train()
    h = hidden(x)
    assert 0.3 < float((h == 0).float().mean()) < 0.8  # about half zeroed (plus ReLU zeros)


def test_zero_init_makes_hidden_units_identical() -> None:
    m = build_model(ModelConfig(hidden=[6], init="zeros"), (4,), 3)
    h = nn.Sequential(m.flatten, m.fc1)(torch.randn(5, 4))
    assert torch.all(h == h[:, :1])
