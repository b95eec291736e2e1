"""Initial loss: measured at step 0 and set beside its expected value (ln C for cross-entropy)."""

from __future__ import annotations

import math

import torch

from trainlab.train.loop import Callback, Trainer


class InitialLoss(Callback):
    """Record the loss before any step on up to ``sample`` training examples, and its expected value."""

    order = -10

    def __init__(self, expected: float | None, sample: int = 2048, tolerance: float = 0.5):
        self.expected = expected
        self.sample = sample
        self.tolerance = tolerance  # relative deviation that earns a warning

    def on_fit_start(self, trainer: Trainer) -> None:
        if trainer.step > 0:  # resumed run: step 0 is long past
            return
        x, y = trainer.data.train.x[: self.sample], trainer.data.train.y[: self.sample]
        with torch.inference_mode():
            value = trainer.loss(trainer.outputs(x), y).item()
        trainer.info["initial_loss"] = value
        trainer.info["expected_initial_loss"] = self.expected
        if self.expected and math.isfinite(value) and abs(value - self.expected) > self.tolerance * self.expected:
            trainer.info.setdefault("warnings", []).append(
                f"initial loss {value:.3f} is far from the expected {self.expected:.3f}: check the init scale"
                " (model.init), input scaling (data.preprocess) or the output layer / loss pairing"
            )
