"""Catalogue entries carry their facts: an activation's gain and stat kind, a loss's family and expected
initial loss, whether a model or optimizer stacks; a new entry is added the documented way and used."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import trainlab
from trainlab.errors import ConfigError
from trainlab.nn.activations import ACTIVATIONS, Gain, activation_gain, make_activation
from trainlab.nn.losses import FAMILIES, LOSSES, Loss, LossContext, expected_initial_loss
from trainlab.nn.models import MODELS
from trainlab.nn.stats import kind_of
from trainlab.registry import Registry
from trainlab.training.optim import OPTIMIZERS

# (nonlinearity, param, calculate_gain) that the old side table nn/activations.gain_name gave, computed
# once from that code (commit edfb2cd) before it was deleted; the gain facts must give the same numbers
OLD_GAIN_NAME = {
    "elu": ("relu", 0.0, 1.4142135623730951),
    "gelu": ("relu", 0.0, 1.4142135623730951),
    "identity": ("linear", 0.0, 1),
    "leaky_relu": ("leaky_relu", 0.01, 1.4141428569978354),
    "maxout": ("linear", 0.0, 1),
    "prelu": ("leaky_relu", 0.25, 1.3719886811400708),
    "relu": ("relu", 0.0, 1.4142135623730951),
    "selu": ("linear", 0.0, 1),
    "sigmoid": ("sigmoid", 0.0, 1),
    "silu": ("relu", 0.0, 1.4142135623730951),
    "softplus": ("relu", 0.0, 1.4142135623730951),
    "tanh": ("tanh", 0.0, 1.6666666666666667),
    "leaky_relu(0.1)": ("leaky_relu", 0.1, 1.4071950894605838),
    "leaky_relu(slope=0.2)": ("leaky_relu", 0.2, 1.3867504905630728),
    "prelu(0.1)": ("leaky_relu", 0.1, 1.4071950894605838),
    "prelu(init=0.5)": ("leaky_relu", 0.5, 1.2649110640673518),
    "elu(0.5)": ("relu", 0.0, 1.4142135623730951),
    "softplus(2)": ("relu", 0.0, 1.4142135623730951),
    "maxout(3)": ("linear", 0.0, 1),
    "leaky_relu(1)": ("leaky_relu", 1.0, 1.0),
}

# what the old nn/stats.kind_of's type tables gave for each activation's module (commit edfb2cd)
OLD_KIND_OF = {
    "elu": "relu",
    "gelu": "relu",
    "identity": "identity",
    "leaky_relu": "relu",
    "prelu": "relu",
    "relu": "relu",
    "selu": "relu",
    "sigmoid": "sigmoid",
    "silu": "relu",
    "softplus": "relu",
    "tanh": "tanh",
}


def test_every_activation_declares_its_gain_and_it_equals_the_old_table() -> None:
    assert set(ACTIVATIONS.names()) <= set(OLD_GAIN_NAME), "a new activation: add its gain to this table"
    for spec, (nl, param, value) in OLD_GAIN_NAME.items():
        assert isinstance(ACTIVATIONS.fact(spec, "gain"), Gain)
        assert activation_gain(spec) == (nl, param), spec
        assert nn.init.calculate_gain(*activation_gain(spec)) == value, spec


def test_every_activation_module_gets_the_old_stat_kind() -> None:
    for name, kind in OLD_KIND_OF.items():
        assert kind_of(make_activation(name)) == kind == ACTIVATIONS.fact(name, "stat_kind"), name
    assert ACTIVATIONS.fact("maxout", "module") is None  # a layer the mlp builds, not an activation module
    assert kind_of(nn.Linear(2, 2)) == "weight" and kind_of(nn.Dropout()) == ""


def test_an_entry_without_a_required_fact_is_refused() -> None:
    with pytest.raises(TypeError, match="must declare the fact\\(s\\) gain"):
        ACTIVATIONS.register("no_gain", "forgot its gain", module=nn.ReLU, stat_kind="relu")
    assert "no_gain" not in ACTIVATIONS
    with pytest.raises(TypeError, match="family"):
        LOSSES.add("no_family", lambda ctx: None, "forgot its family")


def test_facts_defaults_and_accessors() -> None:
    assert LOSSES.fact("focal(gamma=1)", "family") == "cross_entropy"
    assert LOSSES.entry("focal(gamma=1)").name == "focal"
    assert all(LOSSES.fact(name, "family") in FAMILIES for name in LOSSES.names())
    assert LOSSES.fact("mae", "initial_loss") is None  # the registry's documented default
    assert {e.name for e in MODELS if MODELS.fact(e.name, "stackable")} == {"mlp", "linear", "perceptron"}
    assert {e.name for e in OPTIMIZERS if OPTIMIZERS.fact(e.name, "stackable")} == {"sgd", "gd", "adam", "adamw"}
    assert MODELS.fact("cnn", "stackable") is False
    assert MODELS.fact("cnn", "colour", "none") == "none"
    with pytest.raises(KeyError, match="colour"):
        MODELS.fact("cnn", "colour")
    with pytest.raises(ConfigError, match="unknown loss 'crossentropy'"):
        LOSSES.fact("crossentropy", "family")


def test_expected_initial_loss_numbers_are_unchanged() -> None:
    ten, two = LossContext("classification", 10), LossContext("classification", 2)
    assert expected_initial_loss("cross_entropy(label_smoothing=0.1)", ten) == math.log(10)
    assert expected_initial_loss("nll", ten) == math.log(10)
    assert expected_initial_loss("bce_with_logits", two) == expected_initial_loss("bce", two) == math.log(2)
    assert expected_initial_loss("mse", ten) == ((1 - 1 / 10) ** 2 + 9 / 100) / 10
    assert expected_initial_loss("focal", ten) == 0.25 * 0.9**2 * math.log(10)
    assert expected_initial_loss("focal(alpha=0.3)", two) == 0.5 * 0.5**2 * math.log(2)
    assert expected_initial_loss("focal(alpha=balanced)", ten) is None
    for name in ("cosine_similarity", "ldam", "logit_adjusted"):
        assert expected_initial_loss(name, ten) is None
    assert expected_initial_loss("cross_entropy", LossContext("regression", 1)) is None


def test_temporary_undoes_registrations() -> None:
    reg = Registry("thing", required=("colour",))
    reg.add("kept", lambda: 1, "stays", colour="red")
    with reg.temporary():
        reg.add("toy", lambda: 2, "goes", colour="blue")
        assert reg.fact("toy", "colour") == "blue"
    assert reg.names() == ["kept"]


# ---- adding an activation and a loss the documented way (docs/architecture.md, "How to add") ----

TOY_SLOPE = 0.5  # the toy activation's default slope: gain sqrt(2 / (1 + 0.5^2)) = 1.265, neither relu's nor 1


class Toy(nn.Module):
    """A leaky ReLU of its own class, so the stats must recognise it by its module fact."""

    def __init__(self, slope: float):
        super().__init__()
        self.slope = slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x, self.slope)


def toy_initial(c: int, params: dict[str, Any]) -> float:
    """A declared expected initial loss that no built-in loss has: ln C + 1/8."""
    return math.log(c) + 0.125


def test_a_new_activation_and_loss_train_with_their_declared_facts(tmp_path: Any) -> None:
    with ACTIVATIONS.temporary(), LOSSES.temporary():

        @ACTIVATIONS.register(
            "toy_act", "a test activation", gain=Gain("leaky_relu", "slope"), module=Toy, stat_kind="relu"
        )
        def toy_act(slope: float = TOY_SLOPE) -> nn.Module:
            """max(slope*x, x)."""
            return Toy(float(slope))

        @LOSSES.register("toy_loss", "a test loss", family="cross_entropy", initial_loss=toy_initial)
        def toy_loss(ctx: LossContext) -> Loss:
            """Cross-entropy under another name."""
            return Loss("toy_loss", F.cross_entropy)

        seen: dict[str, Any] = {}

        def spy(s: Any, trainer: Any) -> None:  # the model right after its init, before any step
            layers = [m for m in s.model.modules() if isinstance(m, nn.Linear)]
            seen["hidden_std"] = layers[1].weight.std().item()
            seen["kinds"] = {kind_of(m) for m in s.model.modules()}

        cfg = {
            "data": {"name": "blobs", "val": 0},
            "threads": 1,
            "seed": 0,
            "model": {"hidden": [256, 256], "act": "toy_act", "init": "kaiming_normal"},
            "loss": {"name": "toy_loss"},
            "train": {"epochs": 2},
            "output": {"dir": str(tmp_path / "runs"), "report": False},
        }
        run = trainlab.train(cfg, on_setup=spy, progress=False, handle_signals=False)
        classes = 3  # blobs' default

    assert run.summary["status"] == "completed"
    gain = math.sqrt(2 / (1 + TOY_SLOPE**2))  # calculate_gain("leaky_relu", 0.5), written out
    assert seen["hidden_std"] == pytest.approx(gain / math.sqrt(256), rel=0.02)  # 65k weights: ~0.3% noise
    assert "relu" in seen["kinds"]  # the Toy modules are watched as the stat kind they declare
    assert run.summary["expected_initial_loss"] == pytest.approx(math.log(classes) + 0.125)
    assert "toy_act" not in ACTIVATIONS and "toy_loss" not in LOSSES  # cleaned up
