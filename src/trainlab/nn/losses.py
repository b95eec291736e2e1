"""Losses by name. Every loss takes the model's raw outputs (logits or values) and the targets.

Losses that need probabilities apply the link themselves (``bce`` applies a sigmoid, ``nll`` a
log-softmax), so the same model serves every loss and the numerically safer fused forms
(``cross_entropy``, ``bce_with_logits``) can be compared with the textbook ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from trainlab.errors import ConfigError
from trainlab.registry import Registry, parse_spec

LOSSES = Registry("loss")


@dataclass
class LossContext:
    """What a loss may need to know about the task."""

    task: str = "classification"
    num_classes: int = 10
    class_counts: torch.Tensor | None = None


@dataclass
class Loss:
    """A loss function plus what it implies for the model's output layer."""

    name: str
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    binary: bool = False  # one output unit (sigmoid family) instead of one per class
    regression: bool = False

    def __call__(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.fn(out, y)


def _binary_check(ctx: LossContext, name: str) -> None:
    if ctx.task != "classification" or ctx.num_classes != 2:
        what = "a regression task" if ctx.task != "classification" else f"{ctx.num_classes} classes"
        raise ConfigError(f"loss {name!r} needs a 2-class data set, this one has {what}; use cross_entropy")


@LOSSES.register("cross_entropy", "softmax + negative log-likelihood on logits (label_smoothing)")
def cross_entropy(ctx: LossContext, label_smoothing: float = 0.0) -> Loss:
    """Multi-class cross-entropy."""
    ls = float(label_smoothing)
    return Loss("cross_entropy", lambda out, y: F.cross_entropy(out, y, label_smoothing=ls))


@LOSSES.register("nll", "negative log-likelihood after log_softmax (equals cross_entropy)")
def nll(ctx: LossContext) -> Loss:
    """NLL on log-softmax outputs."""
    return Loss("nll", lambda out, y: F.nll_loss(F.log_softmax(out, dim=1), y))


@LOSSES.register("bce_with_logits", "sigmoid + binary cross-entropy fused (stable); 2-class data")
def bce_with_logits(ctx: LossContext) -> Loss:
    """Binary cross-entropy on a single logit."""
    _binary_check(ctx, "bce_with_logits")
    return Loss("bce_with_logits", lambda out, y: F.binary_cross_entropy_with_logits(out.squeeze(-1), y.float()), binary=True)


@LOSSES.register("bce", "binary cross-entropy after an explicit sigmoid (the textbook form); 2-class data")
def bce(ctx: LossContext) -> Loss:
    """Binary cross-entropy on sigmoid probabilities."""
    _binary_check(ctx, "bce")
    return Loss("bce", lambda out, y: F.binary_cross_entropy(torch.sigmoid(out.squeeze(-1)), y.float()), binary=True)


def _as_target(out: torch.Tensor, y: torch.Tensor, ctx: LossContext) -> torch.Tensor:
    """Regression targets as they are; class labels as one-hot (MSE on classes, the classic mistake)."""
    if ctx.task == "classification":
        return F.one_hot(y, out.shape[1]).to(out.dtype)
    return y.reshape(out.shape).to(out.dtype)


@LOSSES.register("mse", "mean squared error (regression; on classes: softmax vs one-hot)")
def mse(ctx: LossContext) -> Loss:
    """Mean squared error."""
    if ctx.task == "classification":
        return Loss("mse", lambda out, y: F.mse_loss(F.softmax(out, 1), _as_target(out, y, ctx)))
    return Loss("mse", lambda out, y: F.mse_loss(out, _as_target(out, y, ctx)), regression=True)


def make_loss(spec: str, ctx: LossContext) -> Loss:
    """Build the loss named by ``spec`` for the task described by ``ctx``."""
    return LOSSES.create(spec, ctx=ctx)


def default_loss(model_name: str, task: str) -> str:
    """The loss ``loss.name=auto`` resolves to."""
    if task == "regression":
        return "mse"
    return "bce_with_logits" if parse_spec(model_name).name == "perceptron" else "cross_entropy"


def expected_initial_loss(loss: str, ctx: LossContext) -> float | None:
    """The loss a well-initialized model should start near (ln C for cross-entropy), or None."""
    import math

    name = parse_spec(loss).name
    if ctx.task != "classification":
        return None
    if name in ("cross_entropy", "nll", "focal", "weighted_cross_entropy"):
        # uniform prediction: -sum p_c log(1/C) = ln C whatever the class balance
        return math.log(ctx.num_classes)
    if name in ("bce", "bce_with_logits"):
        return math.log(2)
    if name == "mse":  # uniform softmax against one-hot targets
        c = ctx.num_classes
        return ((1 - 1 / c) ** 2 + (c - 1) / c**2) / c
    return None
