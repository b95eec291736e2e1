"""Checkpoint: writes checkpoint.pt atomically at the end of every epoch (and every N steps if asked)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainlab.runs.checkpoint import save_checkpoint
from trainlab.runs.rundir import CHECKPOINT
from trainlab.training.loop import Callback, Trainer
from trainlab.training.state import trainer_state


class Checkpoint(Callback):
    """Save the full trainer state after each epoch and every ``every`` steps; the previous file survives until the
    new one is on disk."""

    def __init__(self, run_dir: str | Path, config: dict[str, Any], every: int = 0):
        self.path = Path(run_dir) / CHECKPOINT
        self.config = config
        self.every = every

    def save(self, trainer: Trainer) -> None:
        """Write the checkpoint now."""
        save_checkpoint(self.path, trainer_state(trainer, self.config))

    def on_batch_end(self, trainer: Trainer) -> None:
        # the epoch's last step is followed by the epoch-end checkpoint: no need to write twice
        if self.every and trainer.step % self.every == 0 and trainer.position < trainer.batches_per_epoch:
            self.save(trainer)

    def on_epoch_end(self, trainer: Trainer) -> None:
        self.save(trainer)
