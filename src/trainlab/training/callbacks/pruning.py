"""Pruning: report each epoch's validation metric to a search trial and stop the run if told to.

Works with any object that has Optuna's trial interface, ``report(value, step)`` and
``should_prune()``; the loop itself knows nothing of Optuna. A run whose loss or monitored metric is
no longer finite (NaN/Inf: it diverged) is stopped too, pruner or not, so sweeps throw such runs away
early instead of training them to the end.
"""

from __future__ import annotations

import math
from typing import Any

from trainlab.training.loop import Callback, StopTraining, Trainer


class Pruning(Callback):
    """Report ``monitor`` at step ``offset + epoch``; stop with status ``pruned`` or ``diverged``."""

    def __init__(self, trial: Any = None, monitor: str = "val_accuracy", offset: int = 0, prune: bool = True):
        self.trial = trial
        self.monitor = monitor
        self.offset = offset
        self.prune = prune and trial is not None

    def on_epoch_end(self, trainer: Trainer) -> None:
        m = trainer.metrics
        bad = [k for k in ("train_loss", self.monitor) if k in m and not math.isfinite(m[k])]
        if bad:
            raise StopTraining(f"diverged: {bad[-1]}={m[bad[-1]]} at epoch {trainer.epoch}", status="diverged")
        if not self.prune or self.monitor not in m:
            return
        self.trial.report(m[self.monitor], self.offset + trainer.epoch)
        if self.trial.should_prune():
            raise StopTraining(
                f"pruned at epoch {trainer.epoch}: {self.monitor}={m[self.monitor]:.4f}", status="pruned"
            )
