"""Normalization layers by name: none, batch, layer, instance, group."""

from __future__ import annotations

from torch import nn

from trainlab.errors import ConfigError
from trainlab.registry import Registry

NORMS = Registry("norm")


@NORMS.register("none", "no normalization")
def none(features: int, dims: int) -> nn.Module | None:
    """No layer."""
    return None


@NORMS.register("batch", "batch norm: batch statistics in train(), running statistics in eval()")
def batch(features: int, dims: int, momentum: float = 0.1) -> nn.Module:
    """BatchNorm1d / BatchNorm2d."""
    cls = nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d
    return cls(features, momentum=float(momentum))


@NORMS.register("layer", "layer norm over each example's features")
def layer(features: int, dims: int) -> nn.Module:
    """LayerNorm (over channels for images, via GroupNorm with one group)."""
    return nn.GroupNorm(1, features) if dims == 2 else nn.LayerNorm(features)


@NORMS.register("group", "group norm: channels split into groups (default 8)")
def group(features: int, dims: int, groups: int = 8) -> nn.Module:
    """GroupNorm."""
    if features % int(groups):
        raise ConfigError(f"norm group(groups={groups}): groups must divide the {features} channels")
    return nn.GroupNorm(int(groups), features)


@NORMS.register("instance", "instance norm: per example and channel (images)")
def instance(features: int, dims: int) -> nn.Module:
    """InstanceNorm (affine)."""
    if dims == 1:
        raise ConfigError("norm 'instance' needs spatial inputs (a cnn); for an mlp use batch or layer")
    return nn.InstanceNorm2d(features, affine=True)


def make_norm(spec: str, features: int, dims: int = 1) -> nn.Module | None:
    """Build the norm named by ``spec`` for ``features`` features/channels (``dims`` 1 or 2)."""
    return NORMS.create(spec, features=features, dims=dims)
