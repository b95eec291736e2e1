"""Progress: the console view of a run (header, initial loss, a bar per epoch, epoch lines)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from trainlab.training.loop import Callback, Trainer


def format_epoch(m: dict[str, float], epochs: int, seconds: float) -> str:
    """One line for a finished epoch: train and validation metrics, learning rate, time."""
    parts = [f"epoch {int(m['epoch']):>{len(str(epochs))}}/{epochs}", f"loss {m['train_loss']:.4f}"]
    if "train_accuracy" in m:
        parts.append(f"acc {m['train_accuracy']:.4f}")
    if "val_loss" in m:
        parts.append(f"val_loss {m['val_loss']:.4f}")
    if "val_accuracy" in m:
        parts.append(f"val_acc {m['val_accuracy']:.4f}")
    if "val_knn_accuracy" in m:
        parts.append(f"val_knn {m['val_knn_accuracy']:.4f}")
    if "val_r2" in m:
        parts.append(f"val_r2 {m['val_r2']:.4f}")
    parts += [f"lr {m['lr']:.2e}", f"{seconds:.1f}s"]
    return "  ".join(parts)


class Progress(Callback):
    """Print progress to ``stream``: a live bar on a terminal (at most ``hz`` refreshes/s), else one line per epoch."""

    def __init__(self, stream: TextIO | None = None, hz: float = 5.0, bar: bool | None = None, width: int = 24):
        self.stream = stream or sys.stdout
        self.bar = self.stream.isatty() if bar is None else bar
        self.interval = 1.0 / hz
        self.width = width
        self._next = 0.0
        self._t0 = 0.0
        self._shown = 0  # warnings already printed

    def _print(self, text: str, end: str = "\n") -> None:
        self.stream.write(text + end)
        self.stream.flush()

    def on_fit_start(self, trainer: Trainer) -> None:
        facts = trainer.facts
        if facts.initial_loss is not None:
            exp = facts.expected_initial_loss
            # cross-entropy's expected initial loss is ln(classes): name the formula there
            ln_c = trainer.data.num_classes and trainer.loss.name in ("cross_entropy", "nll")
            tail = f" (expected {exp:.4f}{f' = ln({trainer.data.num_classes})' if ln_c else ''})" if exp else ""
            self._print(f"initial loss {facts.initial_loss:.4f}{tail}")
        self._shown = 0
        self._show_warnings(trainer)

    def _show_warnings(self, trainer: Trainer) -> None:
        # warnings callbacks add mid-run (the NaN guard's "LR too high/low") appear as soon as they exist
        warnings = trainer.facts.warnings
        for w in warnings[self._shown :]:
            self._print(("\r\033[K" if self.bar else "") + f"warning: {w}")
        self._shown = len(warnings)

    def on_epoch_start(self, trainer: Trainer) -> None:
        self._t0 = time.perf_counter()
        self._next = self._t0 + self.interval

    def on_batch_end(self, trainer: Trainer) -> None:
        if len(trainer.facts.warnings) > self._shown:
            self._show_warnings(trainer)
        if not self.bar:
            return
        now = time.perf_counter()
        if now < self._next:
            return
        self._next = now + self.interval
        done = trainer.batch_index + 1
        total = trainer.batches_per_epoch
        fill = int(self.width * done / total)
        seen = max(trainer.seen, 1)
        text = (
            f"\repoch {trainer.epoch + 1}/{trainer.epochs} [{'=' * fill}{' ' * (self.width - fill)}] "
            f"{done}/{total}  loss {trainer.loss_sum.item() / seen:.4f}"
        )
        if trainer.classification:
            text += f"  acc {trainer.correct.item() / seen:.4f}"
        self._print(text, end="")

    def on_epoch_end(self, trainer: Trainer) -> None:
        line = format_epoch(trainer.metrics, trainer.epochs, time.perf_counter() - self._t0)
        self._print(("\r\033[K" if self.bar else "") + line)
        self._show_warnings(trainer)

    def on_fit_end(self, trainer: Trainer) -> None:
        if trainer.stop_reason:
            self._print(trainer.stop_reason)
