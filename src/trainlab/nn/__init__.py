"""Models, activations, inits and losses, each created by name from a registry."""

from trainlab.nn.activations import ACTIVATIONS, make_activation
from trainlab.nn.init import BIAS_INITS, INITS, init_model
from trainlab.nn.layers import Maxout
from trainlab.nn.losses import LOSSES, make_loss, nt_xent
from trainlab.nn.models import MODELS, build_model

__all__ = [
    "ACTIVATIONS",
    "BIAS_INITS",
    "INITS",
    "LOSSES",
    "MODELS",
    "Maxout",
    "build_model",
    "init_model",
    "make_activation",
    "make_loss",
    "nt_xent",
]
