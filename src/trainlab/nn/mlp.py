"""The layers of a multilayer perceptron (also the fully connected head of a cnn), named for state_dict keys."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from torch import nn

from trainlab.nn.activations import make_activation, maxout_pieces
from trainlab.nn.layers import Maxout
from trainlab.nn.norms import make_norm


def dict_layers(layers: list[tuple[str, nn.Module]]) -> Any:
    """An OrderedDict of named layers, so state_dict keys read fc1.weight, out.bias, ..."""
    return OrderedDict(layers)


def _norm(spec: str, features: int) -> nn.Module | None:
    return make_norm(spec, features, dims=1)


def mlp_layers(
    in_features: int,
    hidden: list[int],
    out_features: int,
    act: str,
    dropout: float,
    norm: str = "none",
    norm_position: str = "before",
) -> list[tuple[str, nn.Module]]:
    """Named layers of an MLP: per hidden layer Linear, norm and activation (norm ``before`` or
    ``after`` the activation), then dropout; finally the output Linear. ``act=maxout(k)`` makes each
    hidden layer a Maxout layer (k linear pieces and a max) instead of Linear + activation."""
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
