"""The training loop, its events and callbacks, optimizers and metrics."""

from trainlab.training.loop import Callback, StopTraining, Trainer

__all__ = ["Callback", "StopTraining", "Trainer"]
