"""Metrics computed on device tensors: accuracy, confusion matrix, per-class accuracy, precision/recall/F1."""

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


def class_report(cm: torch.Tensor | list[list[int]], classes: list[str]) -> dict[str, object]:
    """Per-class precision, recall, F1 and support, and macro-F1, balanced accuracy and G-mean, from a confusion matrix.

    With ``cm[i, j]`` = examples of true class i predicted as j, for class c::

        TP_c = cm[c, c]    support n_c = sum_j cm[c, j]    predicted m_c = sum_i cm[i, c]
        precision_c = TP_c / m_c      recall_c = TP_c / n_c      F1_c = 2 P_c R_c / (P_c + R_c)

    over the K classes with n_c > 0 (a class absent from the evaluated split has no recall)::

        macro_f1 = (1/K) sum_c F1_c      balanced_accuracy = (1/K) sum_c R_c
        g_mean = (prod_c R_c)^(1/K)      (0 as soon as one class is never recognized)

    A class never predicted has precision 0 and F1 0 (scikit-learn's ``zero_division=0``), so a
    model that ignores a class is not rewarded for it. Plain floats, ready for summary.json.
    """
    m = torch.as_tensor(cm, dtype=torch.float64).cpu()
    tp, support, predicted = m.diagonal(), m.sum(dim=1), m.sum(dim=0)
    precision = torch.where(predicted > 0, tp / predicted.clamp(min=1), torch.zeros_like(tp))
    recall = torch.where(support > 0, tp / support.clamp(min=1), torch.full_like(tp, float("nan")))
    denom = precision + recall
    f1 = torch.where(denom > 0, 2 * precision * recall / denom.clamp(min=1e-300), torch.zeros_like(tp))
    present = support > 0
    k = int(present.sum())
    r = recall[present]
    per_class = {
        str(name): {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(classes)
    }
    return {
        "per_class": per_class,
        "macro_f1": float(f1[present].mean()) if k else float("nan"),
        "balanced_accuracy": float(r.mean()) if k else float("nan"),
        "g_mean": float(r.prod() ** (1.0 / k)) if k else float("nan"),
    }
