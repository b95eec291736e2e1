"""The trainer's full state as a checkpoint payload, and its restoration (for resume)."""

from __future__ import annotations

from typing import Any

from trainlab.runs.checkpoint import rng_state, set_rng_state
from trainlab.train.loop import Trainer


def trainer_state(trainer: Trainer, config: dict[str, Any]) -> dict[str, Any]:
    """Everything needed to continue ``trainer`` exactly: weights, optimizer, schedule, RNGs, callbacks."""
    return {
        "config": config,
        "model": trainer.model.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "schedule": trainer.schedule.state_dict(),
        "rng": rng_state(trainer.generator),
        "epoch": trainer.epoch,
        "step": trainer.step,
        "history": trainer.history,
        "fit_seconds": trainer.fit_seconds,
        "info": {k: v for k, v in trainer.info.items() if isinstance(v, (int, float, str, type(None)))},
        "callbacks": {type(c).__name__: c.state_dict() for c in trainer.callbacks},
        "preprocess": trainer.data.preprocess_state,
    }


def restore_trainer(trainer: Trainer, payload: dict[str, Any]) -> None:
    """Load a payload from ``trainer_state`` into a freshly built trainer."""
    trainer.model.load_state_dict(payload["model"])
    trainer.optimizer.load_state_dict(payload["optimizer"])
    trainer.schedule.load_state_dict(payload["schedule"])
    set_rng_state(payload["rng"], trainer.generator)
    trainer.epoch, trainer.step = payload["epoch"], payload["step"]
    trainer.history = list(payload["history"])
    trainer.fit_seconds = payload.get("fit_seconds", 0.0)
    trainer.info.update(payload.get("info", {}))
    saved = payload.get("callbacks", {})
    for c in trainer.callbacks:
        if type(c).__name__ in saved:
            c.load_state_dict(saved[type(c).__name__])
