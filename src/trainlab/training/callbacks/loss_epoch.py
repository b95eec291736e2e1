"""LossEpoch: tells a loss that changes over training (LDAM's deferred re-weighting) which epoch starts."""

from __future__ import annotations

from trainlab.training.loop import Callback, Trainer


class LossEpoch(Callback):
    """Call ``trainer.loss.start_epoch(epoch)`` at each epoch start (a resumed epoch included)."""

    def on_epoch_start(self, trainer: Trainer) -> None:
        if trainer.loss.start_epoch is not None:
            trainer.loss.start_epoch(trainer.epoch)
