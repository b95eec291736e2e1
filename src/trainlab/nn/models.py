"""Models by name: perceptron, linear (softmax regression), mlp, cnn. Built from torch.nn layers."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from trainlab.bounded import memory_available
from trainlab.errors import ConfigError
from trainlab.nn.cnn import build_cnn
from trainlab.nn.init import init_model
from trainlab.nn.layers import Maxout
from trainlab.nn.mlp import dict_layers, mlp_layers
from trainlab.registry import Registry

# stackable: several runs of it may train as one stacked model (Linear layers and element-wise
# activations only; training/stacked.py); a model that does not say so does not stack
MODELS = Registry("model", defaults={"stackable": False}, listed=("stackable",))


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


@MODELS.register(
    "perceptron",
    "one linear unit + sigmoid, trained with BCE (2-class data such as xor)",
    stackable=True,
)
def perceptron(ctx: ModelContext, cfg: Any) -> nn.Module:
    """Rosenblatt's single unit: a logit w·x + b, squashed by the loss's sigmoid."""
    if ctx.out_features != 1:
        raise ConfigError(
            "model 'perceptron' has one output unit: use it on a 2-class data set with loss bce or bce_with_logits"
        )
    return nn.Sequential(dict_layers([("flatten", nn.Flatten()), ("out", nn.Linear(ctx.in_features, 1))]))


@MODELS.register(
    "linear",
    "softmax regression: one linear layer from inputs to class scores",
    stackable=True,
)
def linear(ctx: ModelContext, cfg: Any) -> nn.Module:
    """Multinomial logistic regression (or linear regression for regression tasks)."""
    return nn.Sequential(
        dict_layers([("flatten", nn.Flatten()), ("out", nn.Linear(ctx.in_features, ctx.out_features))])
    )


@MODELS.register(
    "mlp",
    "multilayer perceptron: model.hidden widths, model.act, model.dropout, model.norm",
    stackable=True,
)
def mlp(ctx: ModelContext, cfg: Any) -> nn.Module:
    """Fully connected network of any depth and width."""
    position = getattr(cfg, "norm_position", "before")
    return nn.Sequential(
        dict_layers(
            mlp_layers(ctx.in_features, list(cfg.hidden), ctx.out_features, cfg.act, cfg.dropout, cfg.norm, position)
        )
    )


@MODELS.register(
    "cnn",
    "convolutional network: model.blocks (conv, kernel, stride, padding, norm, act, pool, dropout), then "
    "model.hidden; 1-D for sequences",
)
def cnn(ctx: ModelContext, cfg: Any) -> nn.Module:
    """Conv blocks then a fully connected head; Conv1d for (C, L) inputs, Conv2d for (C, H, W) (see nn/cnn.py)."""
    return build_cnn(ctx.input_shape, ctx.out_features, cfg)


# values an optimizer keeps per parameter when the caller does not say (Adam's two moments): the
# optimizer's own count is its catalogue fact ``states`` (training/optim.py), which build passes in
DEFAULT_OPTIMIZER_STATES = 2


def build_model(
    model_cfg: Any,
    input_shape: tuple[int, ...],
    out_features: int,
    optimizer_states: int = DEFAULT_OPTIMIZER_STATES,
    device: Any = None,
    checked: bool = False,
) -> nn.Module:
    """Build and initialize the model the config names, after checking that it fits in memory.

    ``optimizer_states``: how many copies of the weights the optimizer's state holds (its catalogue
    fact ``states``; Adam's two when not given); ``device`` is where it will train (its free memory
    is the bound; the CPU's when None); ``checked``: the caller checked the run's whole memory plan
    (``nn/memory.check_plan``, which includes this check) and the model is not planned again.
    """
    if not checked:
        check_model_memory(model_cfg, input_shape, out_features, optimizer_states, device)
    ctx = ModelContext(tuple(input_shape), out_features)
    model = MODELS.create(model_cfg.spec("name"), ctx=ctx, cfg=model_cfg)
    init_model(model, model_cfg.init, model_cfg.bias_init, model_cfg.act)
    return model


FLOAT_BYTES = 4  # float32 weights, gradients and optimizer state


def plan_model(model_cfg: Any, input_shape: tuple[int, ...], out_features: int) -> nn.Module:
    """The model the config describes, built on torch's ``meta`` device: shapes and parameter counts
    without allocating a byte of weights (a 10-billion-parameter config costs nothing to plan)."""
    ctx = ModelContext(tuple(input_shape), out_features)
    with torch.device("meta"):
        return MODELS.create(model_cfg.spec("name"), ctx=ctx, cfg=model_cfg)


def model_memory(
    model_cfg: Any, input_shape: tuple[int, ...], out_features: int, optimizer_states: int = DEFAULT_OPTIMIZER_STATES
) -> tuple[int, int]:
    """(parameters, bytes) of the model a config describes, counted without allocating: float32
    weights, their gradients, the optimizer's state (``optimizer_states`` copies) and one more copy
    for saving them (model.safetensors is serialized in memory first)."""
    model = plan_model(model_cfg, input_shape, out_features)
    params = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for b in model.buffers())  # batch norm's running statistics
    return params, (params * (3 + optimizer_states) + buffers) * FLOAT_BYTES


def memory_limit(device: Any = None) -> int | None:
    """The bytes a model may take: ``$TRAINLAB_MAX_MODEL_BYTES`` if set, else the free memory of
    ``device`` (a CUDA device's free memory, else the RAM available), None if unknown."""
    env = os.environ.get("TRAINLAB_MAX_MODEL_BYTES", "").strip()
    if env:
        try:
            return int(float(env))
        except ValueError:
            raise ConfigError(f"TRAINLAB_MAX_MODEL_BYTES={env!r} is not a number of bytes, e.g. 8e9") from None
    if device is not None and torch.device(device).type == "cuda":
        try:
            return int(torch.cuda.mem_get_info(torch.device(device))[0])
        except (RuntimeError, AssertionError):
            return None
    return memory_available()


def check_model_memory(
    model_cfg: Any,
    input_shape: tuple[int, ...],
    out_features: int,
    optimizer_states: int = DEFAULT_OPTIMIZER_STATES,
    device: Any = None,
) -> int:
    """The model's parameter count, or a ConfigError naming it and the memory it needs when that is
    more than ``memory_limit(device)``: refused before a single weight is allocated."""
    params, need = model_memory(model_cfg, input_shape, out_features, optimizer_states)
    limit = memory_limit(device)
    if limit is not None and need > limit:
        arch = f"{model_cfg.spec('name').name} {describe(plan_model(model_cfg, input_shape, out_features))}".strip()
        states = optimizer_states
        where = "on the GPU" if device is not None and torch.device(device).type == "cuda" else "available"
        raise ConfigError(
            f"model {arch} has {params:,} parameters: {gigabytes(params * FLOAT_BYTES)} of float32 weights, "
            f"{gigabytes(need)} with"
            f" gradients, {states} optimizer state cop{'y' if states == 1 else 'ies'} and a copy for saving;"
            f" only {gigabytes(limit)} of memory is {where}"
            f" - use smaller layers (model.hidden, model.blocks) or set TRAINLAB_MAX_MODEL_BYTES to raise the bound"
        )
    return params


def gigabytes(n: int) -> str:
    """Bytes written for a message: '4.2 GB', or '12.5 MB' below 0.1 GB."""
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


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
