"""Convolutional networks from a list of blocks (``model.blocks``), 1-D or 2-D by the input's shape.

A block is conv → norm → activation → pool → dropout (``model.norm_position=after`` puts the norm
after the activation). It is written either as a YAML mapping or as
a compact spec string; both mean the same thing::

    {conv: 32, kernel: 3, padding: 1, pool: max(2)}
    conv(32, kernel=3, padding=1, pool=max(2))        # k=, s=, p= are short for kernel, stride, padding

Input (C, H, W) builds Conv2d / BatchNorm2d / MaxPool2d layers; input (C, L) builds their 1-D
counterparts, so the same config style drives images and sequences (MNIST-1D). Output sizes follow
the textbook formula, per spatial dimension (dilation 1)::

    conv:  out = floor((in + 2·padding − kernel) / stride) + 1
    pool:  out = floor((in − size) / stride) + 1          (stride defaults to size)

and are checked before any layer is made: a stack that shrinks the input to nothing fails with a
ConfigError listing the shape after each block.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from trainlab.errors import ConfigError, brief, close_match
from trainlab.nn.activations import ACTIVATIONS, make_activation
from trainlab.nn.mlp import mlp_layers
from trainlab.nn.norms import NORMS, make_norm
from trainlab.registry import parse_spec

BLOCK_KEYS = ("conv", "kernel", "stride", "padding", "norm", "act", "pool", "dropout")
ALIASES = {"k": "kernel", "s": "stride", "p": "padding", "channels": "conv"}
POOLS = ("max", "avg", "none")
EXAMPLE = "model.blocks=[conv(32,k=3,p=1,pool=max(2)),conv(64,k=3,p=1,pool=max(2))]"


@dataclass(frozen=True)
class Pool:
    """A pooling layer: ``max`` or ``avg`` over ``size`` with ``stride`` (default: ``size``)."""

    kind: str
    size: int
    stride: int

    def __str__(self) -> str:
        return f"{self.kind}({self.size})" if self.stride == self.size else f"{self.kind}({self.size},{self.stride})"


@dataclass(frozen=True)
class Block:
    """One conv block, fully resolved (norm and act inherit ``model.norm`` / ``model.act``)."""

    conv: int
    kernel: int = 3
    stride: int = 1
    padding: int = 0
    norm: str = "none"
    act: str = "relu"
    pool: Pool | None = None
    dropout: float = 0.0

    def __str__(self) -> str:
        parts = [str(self.conv), f"k={self.kernel}"]
        parts += [f"s={self.stride}"] if self.stride != 1 else []
        parts += [f"p={self.padding}"] if self.padding else []
        parts += [f"pool={self.pool}"] if self.pool else []
        return f"conv({','.join(parts)})"


def _int(where: str, key: str, value: Any, low: int) -> int:
    number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not number or int(value) != value or value < low:
        raise ConfigError(f"{where}: {key}={brief(value)} must be an integer >= {low}")
    return int(value)


def parse_pool(where: str, value: Any) -> Pool | None:
    """``max(2)``, ``avg(3, 2)``, ``max(size=2,stride=1)`` or ``none`` → a Pool (or None)."""
    if value is None or value is False:
        return None
    spec = parse_spec(value)
    if spec.name not in POOLS:
        raise ConfigError(
            f"{where}: pool={brief(value)} is not a pooling{close_match(spec.name, POOLS)}; choose max(size, stride), "
            "avg(size, stride) or none"
        )
    if spec.name == "none":
        return None
    unknown = [k for k in spec.kwargs if k not in ("size", "stride")]
    if unknown or len(spec.args) > 2:
        raise ConfigError(
            f"{where}: pool={brief(value)}: pooling takes size and stride, e.g. max(2) or max(size=3,stride=2)"
        )
    params = dict(zip(("size", "stride"), spec.args)) | spec.kwargs
    size = _int(where, "pool size", params.get("size", 2), 1)
    stride = _int(where, "pool stride", params.get("stride", size), 1)
    return Pool(spec.name, size, stride)


def parse_block(item: Any, index: int, default_act: str = "relu", default_norm: str = "none") -> Block:
    """Read one entry of ``model.blocks`` (a mapping or a ``conv(...)`` string) into a Block."""
    where = f"model.blocks[{index}]"
    if isinstance(item, dict):
        raw = dict(item)
    elif isinstance(item, str):
        spec = parse_spec(item)
        if spec.name != "conv":
            raise ConfigError(f"{where}={brief(item)}: a block starts with conv, e.g. conv(32,k=3,p=1,pool=max(2))")
        if len(spec.args) > 1:
            raise ConfigError(
                f"{where}={brief(item)}: only the channel count is positional; write the rest as key=value (k=3,p=1)"
            )
        raw = ({"conv": spec.args[0]} if spec.args else {}) | spec.kwargs
    else:
        raise ConfigError(
            f"{where}={brief(item)} must be a mapping like {{conv: 32, kernel: 3}} or a string like conv(32,k=3)"
        )
    block: dict[str, Any] = {}
    for key, value in raw.items():
        name = ALIASES.get(str(key), str(key))
        if name not in BLOCK_KEYS:
            raise ConfigError(
                f"{where}: unknown block key {brief(key)}{close_match(str(key), BLOCK_KEYS)}; valid keys: "
                f"{', '.join(BLOCK_KEYS)} (k, s, p for short)"
            )
        block[name] = value
    if "conv" not in block:
        raise ConfigError(f"{where}: missing the channel count, e.g. {{conv: 32}} or conv(32)")
    dropout = block.get("dropout", 0.0)
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ConfigError(f"{where}: dropout={brief(dropout)} must be a probability in [0, 1)")
    return Block(
        conv=_int(where, "conv", block["conv"], 1),
        kernel=_int(where, "kernel", block.get("kernel", 3), 1),
        stride=_int(where, "stride", block.get("stride", 1), 1),
        padding=_int(where, "padding", block.get("padding", 0), 0),
        norm=_spec_text(block.get("norm", default_norm)),
        act=_spec_text(block.get("act", default_act)),
        pool=parse_pool(where, block.get("pool")),
        dropout=float(dropout),
    )


def _spec_text(value: Any) -> str:
    """A norm/act given as a string or in YAML mapping form ``{group: {groups: 4}}`` → ``group(groups=4)``."""
    return str(parse_spec(value)) if isinstance(value, dict) else str(value)


def conv_out(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Output length of a convolution or pooling along one dimension: ⌊(n + 2p − k) / s⌋ + 1."""
    return (size + 2 * padding - kernel) // stride + 1


def _fmt(channels: int, spatial: tuple[int, ...]) -> str:
    return "x".join(map(str, (channels, *spatial)))


def block_shapes(blocks: list[Block], input_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """The (C, *spatial) shape after each block; a ConfigError naming each shape if one reaches 0."""
    channels, spatial = input_shape[0], tuple(input_shape[1:])
    shapes: list[tuple[int, ...]] = []
    trail = [f"input {_fmt(channels, spatial)}"]
    for i, b in enumerate(blocks, start=1):
        channels, spatial = b.conv, tuple(conv_out(n, b.kernel, b.stride, b.padding) for n in spatial)
        if b.pool is not None and min(spatial) >= 1:
            spatial = tuple(conv_out(n, b.pool.size, b.pool.stride) for n in spatial)
        trail.append(f"block{i} {b} {_fmt(channels, spatial)}")
        if min(spatial) < 1:
            raise ConfigError(
                f"model.blocks shrink the {_fmt(input_shape[0], tuple(input_shape[1:]))} input to nothing at block{i}: "
                f"{' -> '.join(trail)}; use more padding, smaller kernels or strides, or fewer pools"
            )
        shapes.append((channels, *spatial))
    return shapes


def _channel_norm(norm: nn.Module | None, dims: int) -> nn.Module | None:
    """The norm registry builds per-channel norms for images; sequences (N, C, L) need the 1-D classes.

    (The registry's ``dims=1`` means flat mlp features, where layer norm is over the last axis,
    which for a sequence would be its length, not its channels.)
    """
    if dims == 2 or norm is None:
        return norm
    if isinstance(norm, nn.BatchNorm2d):
        return nn.BatchNorm1d(norm.num_features, momentum=norm.momentum)
    if isinstance(norm, nn.InstanceNorm2d):
        return nn.InstanceNorm1d(norm.num_features, affine=norm.affine)
    return norm  # GroupNorm (group, and layer = one group) takes (N, C, *) as it is


def block_layers(b: Block, in_channels: int, dims: int, norm_position: str = "before") -> nn.Sequential:
    """The torch layers of one block: conv, norm and act (norm ``before`` or ``after`` it), pool, dropout."""
    conv_cls = nn.Conv2d if dims == 2 else nn.Conv1d
    norm = _channel_norm(make_norm(b.norm, b.conv, dims=2), dims)
    # a norm right after the conv subtracts its mean, so a conv bias there would be wasted
    bias = norm is None or norm_position == "after"
    layers: list[tuple[str, nn.Module]] = [
        ("conv", conv_cls(in_channels, b.conv, b.kernel, b.stride, b.padding, bias=bias))
    ]
    if norm is not None and norm_position == "before":
        layers.append(("norm", norm))
    layers.append(("act", make_activation(b.act)))
    if norm is not None and norm_position == "after":
        layers.append(("norm", norm))
    if b.pool is not None:
        pool_cls = {
            ("max", 2): nn.MaxPool2d,
            ("max", 1): nn.MaxPool1d,
            ("avg", 2): nn.AvgPool2d,
            ("avg", 1): nn.AvgPool1d,
        }[(b.pool.kind, dims)]
        layers.append(("pool", pool_cls(b.pool.size, b.pool.stride)))
    if b.dropout > 0:
        layers.append(("drop", nn.Dropout(b.dropout)))
    return nn.Sequential(OrderedDict(layers))


def build_cnn(input_shape: tuple[int, ...], out_features: int, cfg: Any) -> nn.Module:
    """Conv blocks (``cfg.blocks``), then the fully connected head (``cfg.hidden``, then the output layer)."""
    if len(input_shape) not in (2, 3):
        raise ConfigError(
            f"model 'cnn' needs image (C, H, W) or sequence (C, L) inputs, but this data set's input shape is "
            f"{tuple(input_shape)}; use model.name=mlp for flat features"
        )
    if not cfg.blocks:
        raise ConfigError(f"model 'cnn' needs model.blocks, e.g. {EXAMPLE} (see configs/cnn-fashion.yaml)")
    dims = len(input_shape) - 1
    position = getattr(cfg, "norm_position", "before")
    blocks = [parse_block(item, i, cfg.act, cfg.norm) for i, item in enumerate(cfg.blocks)]
    shapes = block_shapes(blocks, tuple(input_shape))
    layers: list[tuple[str, nn.Module]] = []
    channels = input_shape[0]
    for i, (b, shape) in enumerate(zip(blocks, shapes), start=1):
        layers.append((f"block{i}", block_layers(b, channels, dims, position)))
        channels = shape[0]
    flat = 1
    for d in shapes[-1]:
        flat *= d
    # the head norm is 1-D (features), so model.norm=instance belongs to the blocks only
    head_norm = "none" if cfg.spec("norm").name == "instance" else cfg.norm
    layers += mlp_layers(flat, list(cfg.hidden), out_features, cfg.act, cfg.dropout, head_norm, norm_position=position)
    return nn.Sequential(OrderedDict(layers))


def prefer_channels_last(model: nn.Module) -> nn.Module:
    """Store a 2-D cnn's conv weights (and so its activations) channels-last (NHWC); others unchanged.

    On CPU, oneDNN's NHWC convolutions measured about 30% faster per training step for
    configs/cnn-fashion.yaml (docs/models.md). Call it after weight init: some inits (orthogonal)
    reshape weights with ``view``, which a channels-last tensor does not allow.
    """
    if any(isinstance(m, nn.Conv2d) for m in model.modules()):
        return model.to(memory_format=torch.channels_last)
    return model


def check_blocks(model_cfg: Any) -> None:
    """Check ``model.blocks`` without the data: block syntax, and each block's norm and act names."""

    if model_cfg.spec("name").name != "cnn":
        return
    if not model_cfg.blocks:
        raise ConfigError(f"model 'cnn' needs model.blocks, e.g. {EXAMPLE} (see configs/cnn-fashion.yaml)")
    for i, item in enumerate(model_cfg.blocks):
        b = parse_block(item, i, model_cfg.act, model_cfg.norm)
        try:
            NORMS.bind(b.norm)
            ACTIVATIONS.bind(b.act)
        except ConfigError as exc:
            raise ConfigError(f"model.blocks[{i}]: {exc}") from None
