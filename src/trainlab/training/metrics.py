"""Metrics computed on device tensors: accuracy, confusion matrix, per-class accuracy."""

from __future__ import annotations

import torch


def predictions(out: torch.Tensor) -> torch.Tensor:
    """Class predictions from model outputs: argmax, or logit > 0 for a single output unit."""
    if out.ndim == 2 and out.shape[1] == 1:
        return (out[:, 0] > 0).long()
    return out.argmax(dim=1)


def correct_count(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Number of correct predictions, as a device tensor (no host sync)."""
    return (predictions(out) == y).sum()


def confusion_matrix(pred: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """C x C counts; row = true class, column = predicted class."""
    idx = y.long() * num_classes + pred.long()
    return torch.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def per_class_accuracy(cm: torch.Tensor) -> torch.Tensor:
    """Recall of each class from a confusion matrix (NaN for a class with no examples)."""
    totals = cm.sum(dim=1).double()
    return cm.diagonal().double() / totals
