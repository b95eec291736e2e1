"""Activation functions by name, as torch.nn modules.

Outputs need no activation here: the model's last layer gives raw scores (logits or values) and each
loss applies its own link (softmax, log-softmax, sigmoid; see ``nn/losses.py``), so one model serves
every loss. ``maxout`` is the exception among hidden activations: it is a layer with weights
(``nn/layers.py``), which the mlp builds in place of Linear + activation.

Every activation declares three facts when registered (``ACTIVATIONS`` refuses an entry without them):

- ``gain``: a ``Gain``, how the kaiming inits scale the weights before it (``nn/init.py``):
  ``torch.nn.init.calculate_gain(nonlinearity, param)``, ``param`` being one of the activation's
  inline parameters (leaky_relu's slope) or none. There is no default on purpose: a new
  ReLU-like activation that silently got gain 1 would start with activations shrinking layer by layer.
- ``module``: the torch module class the factory returns (None if it builds none, as maxout), by
  which ``nn/stats.py`` recognises the activation layers of a model.
- ``stat_kind``: what "saturated" means for its outputs in the per-layer statistics: ``tanh``
  (|a| > 0.99), ``sigmoid`` (a < 0.01 or a > 0.99), ``relu`` (never; dead units counted) or ``identity``.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from trainlab.errors import ConfigError, brief
from trainlab.registry import Registry, parse_spec

ACTIVATIONS = Registry("activation", required=("gain", "module", "stat_kind"), listed=("gain",))
STAT_KINDS = ("tanh", "sigmoid", "relu", "identity")


@dataclass(frozen=True)
class Gain:
    """An activation's init gain: ``torch.nn.init.calculate_gain(nonlinearity, param)``."""

    nonlinearity: str  # calculate_gain's name: relu, leaky_relu, tanh, sigmoid, linear, ...
    param: str | None = None  # the activation's inline parameter passed as calculate_gain's param

    def __str__(self) -> str:
        return f"{self.nonlinearity}({self.param})" if self.param else self.nonlinearity


# the positive side of gelu, silu, elu and softplus is about linear: they get ReLU's sqrt(2)
RELU_GAIN = Gain("relu")
# selu wants LeCun's variance 1/fan_in (torch's docs: use 'linear', not 'selu', for SNNs); identity
# and maxout (a max of linear pieces, no fixed slope) get the linear gain 1 too
LINEAR_GAIN = Gain("linear")


@ACTIVATIONS.register(
    "relu",
    "max(0, x)",
    gain=RELU_GAIN,
    module=nn.ReLU,
    stat_kind="relu",
)
def relu() -> nn.Module:
    """Rectified linear unit."""
    return nn.ReLU()


@ACTIVATIONS.register(
    "sigmoid",
    "1 / (1 + e^-x); saturates, outputs not zero-centred",
    gain=Gain("sigmoid"),
    module=nn.Sigmoid,
    stat_kind="sigmoid",
)
def sigmoid() -> nn.Module:
    """Logistic sigmoid."""
    return nn.Sigmoid()


@ACTIVATIONS.register(
    "tanh",
    "hyperbolic tangent; zero-centred, saturates",
    gain=Gain("tanh"),
    module=nn.Tanh,
    stat_kind="tanh",
)
def tanh() -> nn.Module:
    """Hyperbolic tangent."""
    return nn.Tanh()


@ACTIVATIONS.register(
    "leaky_relu",
    "max(slope*x, x); slope default 0.01",
    gain=Gain("leaky_relu", "slope"),
    module=nn.LeakyReLU,
    stat_kind="relu",
)
def leaky_relu(slope: float = 0.01) -> nn.Module:
    """Leaky ReLU."""
    return nn.LeakyReLU(float(slope))


@ACTIVATIONS.register(
    "prelu",
    "leaky ReLU with a learned slope (init default 0.25)",
    gain=Gain("leaky_relu", "init"),
    module=nn.PReLU,
    stat_kind="relu",
)
def prelu(init: float = 0.25) -> nn.Module:
    """Parametric ReLU (one learned slope per layer)."""
    return nn.PReLU(init=float(init))


@ACTIVATIONS.register(
    "elu",
    "x if x > 0 else alpha*(e^x - 1); alpha default 1",
    gain=RELU_GAIN,
    module=nn.ELU,
    stat_kind="relu",
)
def elu(alpha: float = 1.0) -> nn.Module:
    """Exponential linear unit."""
    return nn.ELU(float(alpha))


@ACTIVATIONS.register(
    "gelu",
    "x * Phi(x), the Gaussian error linear unit",
    gain=RELU_GAIN,
    module=nn.GELU,
    stat_kind="relu",
)
def gelu() -> nn.Module:
    """GELU."""
    return nn.GELU()


@ACTIVATIONS.register(
    "selu",
    "scaled ELU, self-normalizing with lecun init",
    gain=LINEAR_GAIN,
    module=nn.SELU,
    stat_kind="relu",
)
def selu() -> nn.Module:
    """SELU."""
    return nn.SELU()


@ACTIVATIONS.register(
    "silu",
    "x * sigmoid(x) (swish)",
    gain=RELU_GAIN,
    module=nn.SiLU,
    stat_kind="relu",
)
def silu() -> nn.Module:
    """SiLU / swish."""
    return nn.SiLU()


@ACTIVATIONS.register(
    "softplus",
    "log(1 + e^x), a smooth ReLU",
    gain=RELU_GAIN,
    module=nn.Softplus,
    stat_kind="relu",
)
def softplus(beta: float = 1.0) -> nn.Module:
    """Softplus."""
    return nn.Softplus(beta=float(beta))


@ACTIVATIONS.register(
    "identity",
    "f(x) = x: stacked linear layers collapse to one linear map",
    gain=LINEAR_GAIN,
    module=nn.Identity,
    stat_kind="identity",
)
def identity() -> nn.Module:
    """No nonlinearity."""
    return nn.Identity()


@ACTIVATIONS.register(
    "maxout",
    "max over k linear pieces per unit (a layer: mlp only); k default 2",
    gain=LINEAR_GAIN,
    module=None,
    stat_kind="identity",
)
def maxout(k: int = 2) -> nn.Module:
    """Maxout is a layer with its own weights, so it cannot follow an arbitrary layer."""
    raise ConfigError(
        f"activation 'maxout({k})' is a layer with k linear pieces, built by model 'mlp'; this model cannot use it"
    )


def maxout_pieces(spec: str) -> int | None:
    """k when ``spec`` names maxout (checked: an integer >= 1), else None."""
    s = parse_spec(spec)
    if s.name != "maxout":
        return None
    _, kw = ACTIVATIONS.bind(s)
    k = kw.get("k", 2)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(
            f"activation {brief(spec)}: k must be an integer >= 1 (the number of linear pieces), got {brief(k)}"
        )
    return k


def make_activation(spec: str) -> nn.Module:
    """Build the activation named by ``spec`` (e.g. ``leaky_relu(0.1)``)."""
    return ACTIVATIONS.create(spec)


def activation_gain(spec: str) -> tuple[str, float]:
    """(nonlinearity, param) for ``nn.init.calculate_gain``: the activation's ``gain`` fact, its parameter bound."""
    entry, kw = ACTIVATIONS.bind(spec)
    g: Gain = entry.facts["gain"]
    if g.param is None:
        return g.nonlinearity, 0.0
    return g.nonlinearity, float(kw.get(g.param, entry.defaults()[g.param]))
