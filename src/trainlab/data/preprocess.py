"""Preprocessing fitted on the training split only, then applied unchanged to val and test.

A transform is fitted once (``fit_preprocess``), applied to every split, and its statistics saved
with the run (``state_dict``), so evaluation later applies exactly the same transform.
"""

from __future__ import annotations

from typing import Any

import torch

from trainlab.registry import Registry

PREPROCESS = Registry("preprocessing")


class Transform:
    """A fitted preprocessing step: ``__call__`` applies it; ``state_dict`` holds its statistics."""

    def __init__(self, spec: str, stats: dict[str, torch.Tensor] | None = None):
        self.spec = spec
        self.stats = stats or {}

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def state_dict(self) -> dict[str, Any]:
        """The spec and fitted statistics, for saving with the run."""
        return {"spec": self.spec, **{k: v.cpu() for k, v in self.stats.items()}}


class Scale(Transform):
    """(x - min) / (max - min) with min and max taken over the whole training set."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        lo, hi = self.stats["min"], self.stats["max"]
        return (x - lo) / torch.clamp(hi - lo, min=1e-12)


class Standardize(Transform):
    """(x - mean) / std with statistics from the training set (global or per feature)."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.stats["mean"]) / self.stats["std"]


@PREPROCESS.register("none", "leave inputs as stored (e.g. 0-255 pixels)")
def _none(x: torch.Tensor) -> Transform:
    return Transform("none")


@PREPROCESS.register("scale", "min-max scale to [0, 1] using the training set's range (pixels: /255)")
def _scale(x: torch.Tensor) -> Transform:
    return Scale("scale", {"min": x.min(), "max": x.max()})


@PREPROCESS.register("standardize", "subtract the training mean, divide by its std (per_feature=true: per input)")
def _standardize(x: torch.Tensor, per_feature: bool = False) -> Transform:
    if per_feature:
        mean, std = x.mean(0, keepdim=True)[0], x.std(0, keepdim=True)[0]
        std = torch.where(std > 1e-8, std, torch.ones_like(std))  # constant pixels stay finite
    else:
        mean, std = x.mean(), x.std().clamp(min=1e-8)
    spec = "standardize(per_feature=true)" if per_feature else "standardize"
    return Standardize(spec, {"mean": mean, "std": std})


def fit_preprocess(spec: str, x_train: torch.Tensor) -> Transform:
    """Fit the preprocessing named by ``spec`` on the training inputs."""
    return PREPROCESS.create(spec, x=x_train)
