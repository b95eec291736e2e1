"""Activation functions by name, as torch.nn modules.

Outputs need no activation here: the model's last layer gives raw scores (logits or values) and each
loss applies its own link (softmax, log-softmax, sigmoid; see ``nn/losses.py``), so one model serves
every loss. ``maxout`` is the exception among hidden activations: it is a layer with weights
(``nn/layers.py``), which the mlp builds in place of Linear + activation.
"""

from __future__ import annotations

from torch import nn

from trainlab.errors import ConfigError, brief
from trainlab.registry import Registry, parse_spec

ACTIVATIONS = Registry("activation")


@ACTIVATIONS.register("relu", "max(0, x)")
def relu() -> nn.Module:
    """Rectified linear unit."""
    return nn.ReLU()


@ACTIVATIONS.register("sigmoid", "1 / (1 + e^-x); saturates, outputs not zero-centred")
def sigmoid() -> nn.Module:
    """Logistic sigmoid."""
    return nn.Sigmoid()


@ACTIVATIONS.register("tanh", "hyperbolic tangent; zero-centred, saturates")
def tanh() -> nn.Module:
    """Hyperbolic tangent."""
    return nn.Tanh()


@ACTIVATIONS.register("leaky_relu", "max(slope*x, x); slope default 0.01")
def leaky_relu(slope: float = 0.01) -> nn.Module:
    """Leaky ReLU."""
    return nn.LeakyReLU(float(slope))


@ACTIVATIONS.register("prelu", "leaky ReLU with a learned slope (init default 0.25)")
def prelu(init: float = 0.25) -> nn.Module:
    """Parametric ReLU (one learned slope per layer)."""
    return nn.PReLU(init=float(init))


@ACTIVATIONS.register("elu", "x if x > 0 else alpha*(e^x - 1); alpha default 1")
def elu(alpha: float = 1.0) -> nn.Module:
    """Exponential linear unit."""
    return nn.ELU(float(alpha))


@ACTIVATIONS.register("gelu", "x * Phi(x), the Gaussian error linear unit")
def gelu() -> nn.Module:
    """GELU."""
    return nn.GELU()


@ACTIVATIONS.register("selu", "scaled ELU, self-normalizing with lecun init")
def selu() -> nn.Module:
    """SELU."""
    return nn.SELU()


@ACTIVATIONS.register("silu", "x * sigmoid(x) (swish)")
def silu() -> nn.Module:
    """SiLU / swish."""
    return nn.SiLU()


@ACTIVATIONS.register("softplus", "log(1 + e^x), a smooth ReLU")
def softplus(beta: float = 1.0) -> nn.Module:
    """Softplus."""
    return nn.Softplus(beta=float(beta))


@ACTIVATIONS.register("identity", "f(x) = x: stacked linear layers collapse to one linear map")
def identity() -> nn.Module:
    """No nonlinearity."""
    return nn.Identity()


@ACTIVATIONS.register("maxout", "max over k linear pieces per unit (a layer: mlp only); k default 2")
def maxout(k: int = 2) -> nn.Module:
    """Maxout is a layer with its own weights, so it cannot follow an arbitrary layer."""
    raise ConfigError(f"activation 'maxout({k})' is a layer with k linear pieces, built by model 'mlp'; this model cannot use it")


def maxout_pieces(spec: str) -> int | None:
    """k when ``spec`` names maxout (checked: an integer >= 1), else None."""
    s = parse_spec(spec)
    if s.name != "maxout":
        return None
    _, kw = ACTIVATIONS.bind(s)
    k = kw.get("k", 2)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"activation {brief(spec)}: k must be an integer >= 1 (the number of linear pieces), got {brief(k)}")
    return k


def make_activation(spec: str) -> nn.Module:
    """Build the activation named by ``spec`` (e.g. ``leaky_relu(0.1)``)."""
    return ACTIVATIONS.create(spec)


def gain_name(spec: str) -> tuple[str, float]:
    """(nonlinearity, param) for ``nn.init.calculate_gain``, matched to the activation."""
    s = parse_spec(spec)
    if s.name in ("relu", "gelu", "silu", "softplus", "elu"):
        return "relu", 0.0
    if s.name in ("leaky_relu", "prelu"):
        slope = (list(s.args) + [s.kwargs.get("slope", s.kwargs.get("init"))])[0]
        default = 0.01 if s.name == "leaky_relu" else 0.25
        return "leaky_relu", float(slope if slope is not None else default)
    if s.name in ("tanh", "sigmoid"):
        return s.name, 0.0
    # selu wants LeCun's variance 1/fan_in (torch's docs: use 'linear', not 'selu', for SNNs);
    # identity and maxout (a max of linear pieces, no fixed slope) get the linear gain 1 too
    return "linear", 0.0
