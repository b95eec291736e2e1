"""The final figures of a trained model: test and train metrics, confusion matrix, per-class accuracy."""

from __future__ import annotations

from typing import Any

from trainlab.training.loop import Trainer, evaluate_outputs
from trainlab.training.metrics import confusion_matrix, per_class_accuracy, predictions


def final_metrics(trainer: Trainer) -> dict[str, Any]:
    """Test (and final train) metrics, confusion matrix and per-class accuracy."""
    data = trainer.data
    out: dict[str, Any] = {}
    test_out = trainer.outputs(data.test.x)
    for k, v in evaluate_outputs(test_out, data.test.y, trainer.loss, trainer.classification).items():
        out[f"test_{k}"] = v
    for k, v in trainer.evaluate(data.train).items():
        out[f"train_{k}"] = v
    if trainer.classification:
        cm = confusion_matrix(predictions(test_out), data.test.y, data.num_classes).cpu()
        out["confusion_matrix"] = cm.tolist()
        out["per_class_accuracy"] = dict(zip(data.classes, per_class_accuracy(cm).tolist()))
    return out
