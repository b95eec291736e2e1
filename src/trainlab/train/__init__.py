"""The training loop, its events and callbacks, optimizers and metrics."""

from trainlab.train.loop import Callback, StopTraining, Trainer

__all__ = ["Callback", "StopTraining", "Trainer"]
