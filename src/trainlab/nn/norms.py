"""Normalization layers by name: none, batch, layer, instance, group.

In an mlp the norm sits after each hidden Linear, ``before`` the activation (Ioffe & Szegedy's
placement, the default) or ``after`` it (``model.norm_position``). Batch norm normalizes with the
batch's statistics in ``train()`` and with its running averages in ``eval()``; the others use each
example's own statistics, so they behave the same in both modes.
"""

from __future__ import annotations

from torch import nn

from trainlab.errors import ConfigError, brief
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
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ConfigError(f"norm group(groups={brief(groups)}): groups must be a positive integer")
    if features % groups:
        raise ConfigError(
            f"norm group(groups={groups}): groups must divide the {features} channels/features; divisors: "
            f"{_divisors(features)}"
        )
    return nn.GroupNorm(int(groups), features)


@NORMS.register("instance", "instance norm: per example and channel (images)")
def instance(features: int, dims: int) -> nn.Module:
    """InstanceNorm (affine)."""
    if dims == 1:
        raise ConfigError("norm 'instance' needs spatial inputs (a cnn); for an mlp use batch or layer")
    return nn.InstanceNorm2d(features, affine=True)


def _divisors(n: int) -> str:
    return ", ".join(str(d) for d in range(1, n + 1) if n % d == 0)


def check_norm(spec: str, widths: list[int], dims: int = 1) -> None:
    """Raise a ConfigError now if ``spec`` cannot normalize layers of these widths (e.g. groups not dividing)."""
    for w in widths:
        make_norm(spec, w, dims)


def make_norm(spec: str, features: int, dims: int = 1) -> nn.Module | None:
    """Build the norm named by ``spec`` for ``features`` features/channels (``dims`` 1 or 2)."""
    return NORMS.create(spec, features=features, dims=dims)
