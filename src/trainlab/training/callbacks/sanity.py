"""Initial loss: measured at step 0 and set beside its expected value (ln C for cross-entropy).

When it is far off, the warning names the likely cause from measurements of the inputs and the
outputs (unnormalized inputs, init scale, wrong final layer): see ``trainlab.nn.causes``.
"""

from __future__ import annotations

import math

import torch

from trainlab.nn.causes import initial_loss_causes
from trainlab.training.loop import Callback, Trainer


class InitialLoss(Callback):
    """Record the loss before any step on up to ``sample`` training examples, and its expected value."""

    def __init__(self, expected: float | None, sample: int = 2048, tolerance: float = 0.5):
        self.expected = expected
        self.sample = sample
        self.tolerance = tolerance  # relative deviation that earns a warning

    def on_fit_start(self, trainer: Trainer) -> None:
        if trainer.step > 0:  # resumed run: step 0 is long past
            return
        x, y = trainer.data.train.x[: self.sample], trainer.data.train.y[: self.sample]
        out = trainer.outputs(x)
        with torch.inference_mode():
            value = trainer.loss(out, y).item()
        trainer.facts.initial_loss = value
        trainer.facts.expected_initial_loss = self.expected
        if self.expected and (not math.isfinite(value) or abs(value - self.expected) > self.tolerance * self.expected):
            causes = initial_loss_causes(value, self.expected, x, out, trainer.loss.name)
            trainer.facts.warnings.append(
                f"initial loss {value:.3f} is far from the expected {self.expected:.3f}; likely cause: "
                + "; ".join(causes)
            )
