"""Layers torch lacks, written from their math: Maxout.

Maxout (Goodfellow et al., 2013) replaces "Linear then activation" by ``k`` linear pieces and a max::

    z_j = max_{i=1..k} (W_i x + b_i)_j        for each output unit j

so each unit learns a convex piecewise-linear activation of its own. It is one affine map
(``F.linear`` with a ``(out_features * k, in_features)`` weight, initialized like ``nn.Linear``)
producing ``k * out_features`` values, viewed as ``(out_features, k)`` and reduced with ``amax``.
An optional ``norm`` (e.g. BatchNorm1d over the ``k * out_features`` pieces) runs before the max.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class Maxout(nn.Module):
    """``out_features`` units, each the max over ``pieces`` affine maps of the input."""

    def __init__(
        self, in_features: int, out_features: int, pieces: int = 2, bias: bool = True, norm: nn.Module | None = None
    ):
        super().__init__()
        if pieces < 1:
            raise ValueError(f"maxout needs pieces >= 1, got {pieces}")
        self.in_features, self.out_features, self.pieces = in_features, out_features, pieces
        # piece i of unit j is row j * pieces + i, so the view below groups a unit's pieces together
        self.weight = nn.Parameter(torch.empty(out_features * pieces, in_features))
        self.bias = nn.Parameter(torch.empty(out_features * pieces)) if bias else None
        self.norm = norm
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """nn.Linear's default init (the model's ``model.init`` replaces it like any Linear's)."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features else 0.0
            nn.init.uniform_(self.bias, -bound, bound)

    def pieces_of(self, x: torch.Tensor) -> torch.Tensor:
        """Every piece's value, shape ``(batch, out_features, pieces)``."""
        z = F.linear(x, self.weight, self.bias)
        if self.norm is not None:
            z = self.norm(z)
        return z.view(*x.shape[:-1], self.out_features, self.pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """max over the pieces of each unit."""
        return self.pieces_of(x).amax(dim=-1)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, pieces={self.pieces}"
