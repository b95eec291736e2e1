"""Early stopping: stop when the monitored validation metric stops improving; restore the best weights."""

from __future__ import annotations

import copy
from typing import Any

import torch

from trainlab.errors import brief
from trainlab.training.loop import Callback, StopTraining, Trainer


class EarlyStopping(Callback):
    """Stop after ``patience`` epochs without an improvement larger than ``min_delta``."""

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0, restore_best: bool = True):
        self.monitor = monitor
        self.patience = patience
        self.min_delta = min_delta
        self.restore_best = restore_best
        self.mode = "max" if monitor.endswith(("accuracy", "r2")) else "min"  # losses, mse, mae fall
        self.best: float | None = None
        self.best_epoch = 0
        self.wait = 0
        self.best_state: dict[str, Any] | None = None

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, trainer: Trainer) -> None:
        value = trainer.metrics.get(self.monitor)
        if value is None:
            return
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, trainer.epoch, 0
            if self.restore_best:
                self.best_state = copy.deepcopy(trainer.model.state_dict())
            return
        self.wait += 1
        if self.wait >= self.patience:
            raise StopTraining(
                f"early stopping: {self.monitor} did not improve for {self.patience} epochs (best {self.best:.4f} at "
                f"epoch {self.best_epoch})",
                status="completed",
            )

    def on_fit_end(self, trainer: Trainer) -> None:
        if self.restore_best and self.best_state is not None and trainer.epoch != self.best_epoch:
            trainer.model.load_state_dict(self.best_state)
            trainer.facts.restored_epoch = self.best_epoch

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait, "best_state": self.best_state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]
        self.best_state = state.get("best_state")

    def check_state(self, state: Any, trainer: Trainer) -> None:
        """best: a number or None; best_epoch, wait: counts; best_state: weights that fit the model."""
        if not isinstance(state, dict) or not {"best", "best_epoch", "wait"} <= set(state):
            raise ValueError("expected best, best_epoch and wait")
        best = state["best"]
        if best is not None and (isinstance(best, bool) or not isinstance(best, (int, float)) or best != best):
            raise ValueError(f"best={brief(best)} is not a number")
        for key in ("best_epoch", "wait"):
            v = state[key]
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= trainer.epochs:
                raise ValueError(f"{key}={brief(v)} is not a count of epochs in [0, {trainer.epochs}]")
        weights = state.get("best_state")
        if weights is None:
            return
        live = trainer.model.state_dict()
        if not isinstance(weights, dict) or set(weights) != set(live):
            raise ValueError("best_state does not hold this model's weights")
        for name, t in weights.items():
            if not isinstance(t, torch.Tensor) or t.shape != live[name].shape or t.dtype != live[name].dtype:
                raise ValueError(
                    f"best_state[{name!r}] does not fit the model's {tuple(live[name].shape)} {live[name].dtype}"
                )
