"""The inline spec syntax and registry binding."""

from __future__ import annotations

import pytest

from trainlab.errors import ConfigError
from trainlab.nn.activations import ACTIVATIONS
from trainlab.registry import Spec, parse_spec
from trainlab.training.optim import OPTIMIZERS


def test_parse_spec_forms() -> None:
    assert parse_spec("relu") == Spec("relu")
    assert parse_spec("leaky_relu(0.1)") == Spec("leaky_relu", (0.1,))
    assert parse_spec("sgd(momentum=0.9,nesterov=true)") == Spec("sgd", (), {"momentum": 0.9, "nesterov": True})
    assert parse_spec("normal(std=1e-2)").kwargs == {"std": 0.01}
    assert parse_spec("x(a=[1,2],b=y)").kwargs == {"a": [1, 2], "b": "y"}
    assert parse_spec({"sgd": {"momentum": 0.5}}) == Spec("sgd", (), {"momentum": 0.5})
    assert str(parse_spec("sgd(momentum=0.9,nesterov=true)")) == "sgd(momentum=0.9,nesterov=true)"


def test_bind_checks_names_and_parameters() -> None:
    with pytest.raises(ConfigError, match="unknown activation 'rellu' \\(did you mean 'relu'\\?\\)"):
        ACTIVATIONS.create("rellu")
    with pytest.raises(ConfigError, match="has no parameter 'momentom'.*did you mean 'momentum'"):
        OPTIMIZERS.bind("sgd(momentom=0.9)")
    with pytest.raises(ConfigError, match="takes at most 1 inline parameter"):
        ACTIVATIONS.create("leaky_relu(0.1,0.2)")
    with pytest.raises(ConfigError, match="positional value"):
        parse_spec("sgd(momentum=0.9,0.1)")
    assert ACTIVATIONS.create("leaky_relu(0.2)").negative_slope == 0.2
    assert all(line.split()[0] for line in ACTIVATIONS.help_lines())
