"""A trained model's final figures: test/train metrics, confusion matrix, per-class accuracy, precision, recall, F1."""

from __future__ import annotations

from typing import Any

from trainlab.training.loop import Trainer, evaluate_outputs
from trainlab.training.metrics import (
    class_report,
    confusion_matrix,
    per_class_accuracy,
    predictions,
)


def final_metrics(trainer: Trainer) -> dict[str, Any]:
    """Test (and final train) metrics, confusion matrix, per-class accuracy, precision, recall and F1.

    Data-parallel, every rank must call it: the test and train outputs are computed in parts across
    the ranks and all-gathered (``Trainer.split_outputs``), so every rank gets the same figures."""
    data = trainer.data
    out: dict[str, Any] = {}
    if trainer.unsupervised:  # pretraining: the objective only; representation probes are the runner's
        for split in ("test", "train"):
            out[f"{split}_loss"] = trainer.objective(getattr(data, split))
        return out
    test_out = trainer.split_outputs(data.test.x)
    for k, v in evaluate_outputs(test_out, data.test.y, trainer.loss, trainer.classification).items():
        out[f"test_{k}"] = v
    for k, v in trainer.evaluate(data.train).items():
        out[f"train_{k}"] = v
    if trainer.classification:
        cm = confusion_matrix(predictions(test_out), data.test.y, data.num_classes).cpu()
        out["confusion_matrix"] = cm.tolist()
        out["per_class_accuracy"] = dict(zip(data.classes, per_class_accuracy(cm).tolist()))
        report = class_report(cm, data.classes)  # the imbalance-aware figures (docs/imbalance.md)
        for k in ("balanced_accuracy", "macro_f1", "g_mean"):
            out[f"test_{k}"] = report[k]
        out["per_class"] = report["per_class"]
    return out
