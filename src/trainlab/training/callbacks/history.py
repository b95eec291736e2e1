"""History: writes metrics.csv in the run directory after every epoch."""

from __future__ import annotations

from pathlib import Path

from trainlab.runs.rundir import METRICS, write_metrics_csv
from trainlab.training.loop import Callback, Trainer


class History(Callback):
    """Keep metrics.csv (one row per epoch) up to date on disk."""

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / METRICS

    def on_epoch_end(self, trainer: Trainer) -> None:
        write_metrics_csv(self.path, trainer.history)
