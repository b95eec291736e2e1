"""Models by name: perceptron, linear (softmax regression), mlp, cnn. Built from torch.nn layers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from trainlab.errors import ConfigError
from trainlab.nn.activations import make_activation
from trainlab.nn.init import init_model
from trainlab.registry import Registry, parse_spec

MODELS = Registry("model")


@dataclass
class ModelContext:
    """Shapes the data imposes on a model."""

    input_shape: tuple[int, ...]
    out_features: int

    @property
    def in_features(self) -> int:
        """Flattened input size."""
        n = 1
        for d in self.input_shape:
            n *= d
        return n


def _norm(spec: str, features: int) -> nn.Module | None:
    from trainlab.nn.norms import make_norm  # norms live in their own module

    return make_norm(spec, features, dims=1)


def mlp_layers(
    in_features: int, hidden: list[int], out_features: int, act: str, dropout: float, norm: str = "none", norm_position: str = "before"
) -> list[tuple[str, nn.Module]]:
    """Named layers of an MLP: per hidden layer Linear, norm and activation (norm ``before`` or
    ``after`` the activation), then dropout; finally the output Linear. ``act=maxout(k)`` makes each
    hidden layer a Maxout layer (k linear pieces and a max) instead of Linear + activation."""
    from trainlab.nn.activations import maxout_pieces
    from trainlab.nn.layers import Maxout

    k = maxout_pieces(act)
    layers: list[tuple[str, nn.Module]] = [("flatten", nn.Flatten())]
    width = in_features
    for i, h in enumerate(hidden, start=1):
        if k is not None:
            # a norm "before" maxout normalizes the k*h pieces, so it lives inside the layer
            pre = _norm(norm, h * k) if norm_position == "before" else None
            layers.append((f"maxout{i}", Maxout(width, h, k, norm=pre)))
            post = _norm(norm, h) if norm_position == "after" else None
            if post is not None:
                layers.append((f"norm{i}", post))
        else:
            layers.append((f"fc{i}", nn.Linear(width, h)))
            n = _norm(norm, h)
            if n is not None and norm_position == "before":
                layers.append((f"norm{i}", n))
            layers.append((f"act{i}", make_activation(act)))
            if n is not None and norm_position == "after":
                layers.append((f"norm{i}", n))
        if dropout > 0:
            layers.append((f"drop{i}", nn.Dropout(dropout)))
        width = h
    layers.append(("out", nn.Linear(width, out_features)))
    return layers


@MODELS.register("perceptron", "one linear unit + sigmoid, trained with BCE (2-class data such as xor)")
def perceptron(ctx: ModelContext, cfg: Any) -> nn.Module:
    """Rosenblatt's single unit: a logit w·x + b, squashed by the loss's sigmoid."""
    if ctx.out_features != 1:
        raise ConfigError("model 'perceptron' has one output unit: use it on a 2-class data set with loss bce or bce_with_logits")
    return nn.Sequential(dict_layers([("flatten", nn.Flatten()), ("out", nn.Linear(ctx.in_features, 1))]))


@MODELS.register("linear", "softmax regression: one linear layer from inputs to class scores")
def linear(ctx: ModelContext, cfg: Any) -> nn.Module:
    """Multinomial logistic regression (or linear regression for regression tasks)."""
    return nn.Sequential(dict_layers([("flatten", nn.Flatten()), ("out", nn.Linear(ctx.in_features, ctx.out_features))]))


@MODELS.register("mlp", "multilayer perceptron: model.hidden widths, model.act, model.dropout, model.norm")
def mlp(ctx: ModelContext, cfg: Any) -> nn.Module:
    """Fully connected network of any depth and width."""
    position = getattr(cfg, "norm_position", "before")
    return nn.Sequential(dict_layers(mlp_layers(ctx.in_features, list(cfg.hidden), ctx.out_features, cfg.act, cfg.dropout, cfg.norm, position)))


@MODELS.register("cnn", "convolutional network: model.blocks (conv, kernel, stride, padding, norm, act, pool, dropout), then model.hidden; 1-D for sequences")
def cnn(ctx: ModelContext, cfg: Any) -> nn.Module:
    """Conv blocks then a fully connected head; Conv1d for (C, L) inputs, Conv2d for (C, H, W) (see nn/cnn.py)."""
    from trainlab.nn.cnn import build_cnn

    return build_cnn(ctx.input_shape, ctx.out_features, cfg)


def dict_layers(layers: list[tuple[str, nn.Module]]) -> Any:
    """An OrderedDict of named layers, so state_dict keys read fc1.weight, out.bias, ..."""
    from collections import OrderedDict

    return OrderedDict(layers)


def build_model(model_cfg: Any, input_shape: tuple[int, ...], out_features: int) -> nn.Module:
    """Build and initialize the model the config names."""
    ctx = ModelContext(tuple(input_shape), out_features)
    spec = parse_spec(model_cfg.name)
    model = MODELS.create(spec, ctx=ctx, cfg=model_cfg)
    init_model(model, model_cfg.init, model_cfg.bias_init, model_cfg.act)
    return model


def count_params(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def describe(model: nn.Module) -> str:
    """Short architecture string, e.g. '784-256-10', or 'conv 32-64, fc 3136-128-10' for a cnn."""
    from trainlab.nn.layers import Maxout

    widths, channels = [], []
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d)):
            channels.append(m.out_channels)
        if isinstance(m, (nn.Linear, Maxout)):
            if not widths:
                widths.append(m.in_features)
            widths.append(m.out_features)
    fc = "-".join(map(str, widths))
    return f"conv {'-'.join(map(str, channels))}, fc {fc}" if channels else fc
