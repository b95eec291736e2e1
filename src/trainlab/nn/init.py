"""Weight and bias initialization by name, applied to every Linear and Conv layer.

The standard deviations each init gives (fan_in, fan_out: inputs and outputs per unit, times the
kernel size for convolutions; ``expected_std`` computes them, the tests check them):

- normal(std): std.  uniform(a): a / sqrt(3).  constant, zeros: 0.
- xavier_normal / xavier_uniform (Glorot & Bengio): gain * sqrt(2 / (fan_in + fan_out)).
- kaiming_normal / kaiming_uniform (He et al.): gain / sqrt(fan), fan = fan_in (default) or fan_out,
  with the gain matched to the activation: its ``gain`` fact (``nn/activations.py``, read by
  ``activations.activation_gain``): sqrt(2) for relu (and gelu, silu, elu, softplus, whose
  positive side is ~linear), sqrt(2 / (1 + slope^2)) for leaky_relu/prelu, 5/3 for tanh, 1 for
  sigmoid, selu (LeCun: variance 1/fan_in), identity and maxout.
- orthogonal: a (semi-)orthogonal matrix times gain (std gain / sqrt(fan_in) when fan_in >= fan_out).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from trainlab.errors import ConfigError
from trainlab.nn.activations import activation_gain
from trainlab.nn.layers import Maxout
from trainlab.registry import Registry

INITS = Registry("init")
BIAS_INITS = Registry("bias init")

# Each weight init is fn(weight, act) -> None, act being the activation spec (for gains).


@INITS.register("default", "torch's own default for each layer (kaiming_uniform with a=sqrt(5))")
def default(weight: torch.Tensor, act: str) -> None:
    """Leave the weights as torch initialized them."""


@INITS.register("zeros", "all weights 0: every hidden unit stays identical (symmetry is never broken)")
def zeros(weight: torch.Tensor, act: str) -> None:
    """Zero weights."""
    nn.init.zeros_(weight)


@INITS.register("constant", "all weights = value")
def constant(weight: torch.Tensor, act: str, value: float = 0.1) -> None:
    """Constant weights."""
    nn.init.constant_(weight, float(value))


@INITS.register("normal", "N(0, std^2); std default 0.01", limits={"std": (0, None)})
def normal(weight: torch.Tensor, act: str, std: float = 0.01) -> None:
    """Gaussian weights with a fixed std."""
    nn.init.normal_(weight, 0.0, float(std))


@INITS.register("uniform", "U(-a, a); a default 0.05", limits={"a": (0, None)})
def uniform(weight: torch.Tensor, act: str, a: float = 0.05) -> None:
    """Uniform weights in [-a, a]."""
    nn.init.uniform_(weight, -float(a), float(a))


@INITS.register("xavier_uniform", "Glorot: U(±gain*sqrt(6/(fan_in+fan_out)))")
def xavier_uniform(weight: torch.Tensor, act: str, gain: float = 1.0) -> None:
    """Xavier/Glorot uniform."""
    nn.init.xavier_uniform_(weight, gain=float(gain))


@INITS.register("xavier_normal", "Glorot: N(0, gain^2 * 2/(fan_in+fan_out))")
def xavier_normal(weight: torch.Tensor, act: str, gain: float = 1.0) -> None:
    """Xavier/Glorot normal."""
    nn.init.xavier_normal_(weight, gain=float(gain))


@INITS.register("kaiming_uniform", "He: U(±gain*sqrt(3/fan)), gain matched to the activation")
def kaiming_uniform(weight: torch.Tensor, act: str, mode: str = "fan_in") -> None:
    """Kaiming/He uniform."""
    nl, a = activation_gain(act)
    nn.init.kaiming_uniform_(weight, a=a, mode=_mode(mode), nonlinearity=nl)


@INITS.register("kaiming_normal", "He: N(0, gain^2/fan), gain matched to the activation (sqrt 2 for relu)")
def kaiming_normal(weight: torch.Tensor, act: str, mode: str = "fan_in") -> None:
    """Kaiming/He normal."""
    nl, a = activation_gain(act)
    nn.init.kaiming_normal_(weight, a=a, mode=_mode(mode), nonlinearity=nl)


def _mode(mode: str) -> str:
    if mode not in ("fan_in", "fan_out"):
        raise ConfigError(
            f"kaiming init: mode={mode!r} is not allowed; choose fan_in (forward pass) or fan_out (backward pass)"
        )
    return mode


@INITS.register("orthogonal", "a (semi-)orthogonal matrix scaled by gain")
def orthogonal(weight: torch.Tensor, act: str, gain: float = 1.0) -> None:
    """Orthogonal init."""
    nn.init.orthogonal_(weight, gain=float(gain))


@BIAS_INITS.register("zeros", "biases 0")
def bias_zeros(bias: torch.Tensor) -> None:
    """Zero biases."""
    nn.init.zeros_(bias)


@BIAS_INITS.register("constant", "biases = value (e.g. 0.01 so ReLUs start active)")
def bias_constant(bias: torch.Tensor, value: float = 0.01) -> None:
    """Constant biases."""
    nn.init.constant_(bias, float(value))


@BIAS_INITS.register("default", "torch's default: U(±1/sqrt(fan_in))")
def bias_default(bias: torch.Tensor) -> None:
    """Leave biases as torch initialized them."""


def init_model(model: nn.Module, init: str, bias_init: str, act: str) -> None:
    """Apply the named weight and bias inits to every Linear / Conv / Maxout layer of ``model``."""
    entry, kw = INITS.bind(init)
    bentry, bkw = BIAS_INITS.bind(bias_init)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, Maxout)):
                entry.factory(module.weight, act, **kw)
                if module.bias is not None:
                    bentry.factory(module.bias, **bkw)


def expected_std(init: str, fan_in: int, fan_out: int, act: str = "relu") -> float:
    """The theoretical weight std of an init (for tests and lessons)."""
    _, kw = INITS.bind(init)
    name = INITS.entry(init).name
    nl, a = activation_gain(act)
    if name.startswith("kaiming"):
        fan = fan_out if kw.get("mode", "fan_in") == "fan_out" else fan_in
        return nn.init.calculate_gain(nl, a) / math.sqrt(fan)
    if name.startswith("xavier"):
        return float(kw.get("gain", 1.0)) * math.sqrt(2.0 / (fan_in + fan_out))
    if name == "normal":
        return float(kw.get("std", 0.01))
    if name == "uniform":
        return float(kw.get("a", 0.05)) / math.sqrt(3)
    if name in ("zeros", "constant"):
        return 0.0
    if name == "orthogonal" and fan_in >= fan_out:  # orthonormal rows of length fan_in
        return float(kw.get("gain", 1.0)) / math.sqrt(fan_in)
    raise ValueError(f"no closed-form std for init {init!r}")
