"""Maxout and the activation catalogue: every activation builds and has its defining behaviour."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainlab.config import Config
from trainlab.errors import ConfigError
from trainlab.nn.activations import ACTIVATIONS, make_activation, maxout_pieces
from trainlab.nn.layers import Maxout
from trainlab.nn.models import build_model, describe


def test_maxout_is_the_max_of_its_pieces():
    torch.manual_seed(0)
    m = Maxout(6, 4, pieces=3)
    x = torch.randn(10, 6)
    w, b = m.weight.view(4, 3, 6), m.bias.view(4, 3)
    pieces = torch.einsum("jkd,nd->njk", w, x) + b  # piece k of unit j: W_jk x + b_jk
    assert torch.allclose(m.pieces_of(x), pieces, atol=1e-6)
    assert torch.allclose(m(x), pieces.max(dim=2).values, atol=1e-6)


def test_maxout_with_one_piece_is_linear_and_pieces_validated():
    m = Maxout(3, 2, pieces=1)
    x = torch.randn(5, 3)
    assert torch.allclose(m(x), x @ m.weight.T + m.bias)
    with pytest.raises(ConfigError, match="k must be an integer"):
        maxout_pieces("maxout(k=0)")


def test_mlp_with_maxout_builds_maxout_layers_and_trains():
    cfg = Config.from_dict({"model": {"hidden": [8, 6], "act": "maxout(3)"}}).model
    model = build_model(cfg, (1, 4, 4), 3)
    layers = [m for m in model if isinstance(m, Maxout)]
    assert [(m.out_features, m.pieces) for m in layers] == [(8, 3), (6, 3)]
    assert describe(model) == "16-8-6-3"
    x, y = torch.randn(32, 1, 4, 4), torch.randint(0, 3, (32,))
    opt = torch.optim.Adam(model.parameters(), 0.01)
    first = nn.functional.cross_entropy(model(x), y).item()
    for _ in range(20):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    assert nn.functional.cross_entropy(model(x), y).item() < first


def test_maxout_is_refused_outside_the_mlp():
    with pytest.raises(ConfigError, match="model 'mlp'"):
        make_activation("maxout(2)")


REFERENCES = {
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "leaky_relu(0.1)": lambda x: torch.where(x > 0, x, 0.1 * x),
    "prelu": lambda x: torch.where(x > 0, x, 0.25 * x),
    "elu": lambda x: torch.where(x > 0, x, torch.exp(x) - 1),
    "gelu": lambda x: x * 0.5 * (1 + torch.erf(x / 2**0.5)),
    "selu": lambda x: 1.0507009873554805 * torch.where(x > 0, x, 1.6732632423543772 * (torch.exp(x) - 1)),
    "silu": lambda x: x * torch.sigmoid(x),
    "softplus": lambda x: torch.log1p(torch.exp(x)),
    "identity": lambda x: x,
}


@pytest.mark.parametrize("spec", list(REFERENCES))
def test_activation_matches_its_formula(spec):
    x = torch.linspace(-4, 4, 81)
    with torch.no_grad():
        assert torch.allclose(make_activation(spec)(x), REFERENCES[spec](x), atol=1e-5)


def test_every_activation_is_covered():
    names = {s.split("(")[0] for s in REFERENCES} | {"maxout"}
    assert names == set(ACTIVATIONS.names())
