"""Interrupt: a safe stop on Ctrl-C / SIGTERM — finish the step, write a checkpoint, stop.

``catch_signals(interrupt)`` installs the handlers for the length of a ``with`` block and restores
the previous ones afterwards. The first signal only sets a flag: the step in progress finishes, the
callback writes a mid-epoch checkpoint (atomically) and ends the run with status ``interrupted``.
A second signal raises ``Aborted`` (a ``KeyboardInterrupt``) at once; the last checkpoint on disk
survives because checkpoints are only ever replaced by a rename.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from trainlab.runs.checkpoint import save_checkpoint
from trainlab.runs.rundir import CHECKPOINT
from trainlab.training.loop import Callback, StopTraining, Trainer
from trainlab.training.state import trainer_state

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Aborted(KeyboardInterrupt):
    """A second stop signal: abort now, without a new checkpoint."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Interrupt(Callback):
    """When a stop was requested, checkpoint after the current step (or epoch) and stop the run."""

    def __init__(self, run_dir: str | Path | None, config: dict[str, Any]):
        self.path = (
            Path(run_dir) / CHECKPOINT if run_dir is not None else None
        )  # None: a data-parallel rank other than 0
        self.config = config
        self.signum: int | None = None
        self.at = 0.0  # when the first stop signal came (time.monotonic)
        # a second signal this soon after the first is the same request delivered twice: under
        # torchrun, Ctrl-C reaches each rank from the terminal and again from torchrun (runner sets it)
        self.debounce = 0.0

    def request(self, signum: int = signal.SIGINT) -> None:
        """Ask the run to stop safely at the next step boundary (safe to call from a signal handler)."""
        if self.signum is None:
            self.at = time.monotonic()
        self.signum = signum

    @property
    def signal_name(self) -> str:
        """Name of the signal that stopped the run, e.g. ``SIGINT``."""
        return signal.Signals(self.signum).name if self.signum is not None else ""

    def stop(self, trainer: Trainer) -> None:
        """When a stop was requested: checkpoint ``trainer`` where it stands and raise ``StopTraining``."""
        if self.signum is None:
            return
        if self.path is not None:
            save_checkpoint(self.path, trainer_state(trainer, self.config))
        where = (
            f"epoch {trainer.epoch + 1}, step {trainer.step}"
            if trainer.perm is not None
            else f"end of epoch {trainer.epoch}"
        )
        trainer.facts.interrupted_by = self.signal_name
        raise StopTraining(f"{self.signal_name}: stopped at {where}; checkpoint saved", status="interrupted")

    def on_batch_end(self, trainer: Trainer) -> None:
        self.stop(trainer)

    def on_epoch_end(self, trainer: Trainer) -> None:
        self.stop(trainer)


@contextmanager
def catch_signals(interrupt: Interrupt, signums: tuple[int, ...] = STOP_SIGNALS) -> Iterator[None]:
    """Route stop signals to ``interrupt`` inside the block; restore the previous handlers after it.

    Signals the process ignores (``SIG_IGN``, e.g. SIGINT of a background job) stay ignored. Outside
    the main thread Python cannot install handlers, so the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if interrupt.signum is not None:  # the second signal: the user does not want to wait
            if time.monotonic() - interrupt.at < interrupt.debounce:
                return
            raise Aborted(signum)
        interrupt.request(signum)

    with _handled(signums, handler):
        yield


@contextmanager
def _handled(signums: tuple[int, ...], handler: Callable[[int, Any], None]) -> Iterator[None]:
    """``handler`` for each of ``signums`` not ignored by the process, the previous ones restored after."""
    previous = {}
    for s in signums:
        if signal.getsignal(s) is not signal.SIG_IGN:
            previous[s] = signal.signal(s, handler)
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@contextmanager
def raise_on_signals(signums: tuple[int, ...] = STOP_SIGNALS) -> Iterator[None]:
    """Turn a stop signal into ``Aborted`` at once inside the block (SIGTERM too, which would otherwise
    end the process with no word), for work after training where there is no step to finish: the
    final evaluation, saving the weights, drawing the report. Previous handlers are restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise Aborted(signum)

    with _handled(signums, handler):
        yield
