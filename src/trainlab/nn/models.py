"""Models by name: perceptron, linear (softmax regression), mlp, cnn. Built from torch.nn layers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from trainlab.errors import ConfigError
from trainlab.nn.cnn import build_cnn
from trainlab.nn.init import init_model
from trainlab.nn.layers import Maxout
from trainlab.nn.mlp import dict_layers, mlp_layers
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
    return build_cnn(ctx.input_shape, ctx.out_features, cfg)


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
