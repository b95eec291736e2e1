"""NotebookProgress: a run's progress in Jupyter (a live status line and a learning-curve figure).

IPython is an optional dependency: it is imported only when a notebook is running, which
``in_notebook`` tells without importing it. The figure is drawn by a function the caller passes
(``report.plots.learning_curves``, a layer above this one) and shown as a PNG, so it stays in the
saved notebook and needs no matplotlib backend in the kernel.
"""

from __future__ import annotations

import base64
import io
import sys
import time
from collections.abc import Callable
from typing import Any

from trainlab.errors import ConfigError
from trainlab.training.callbacks.progress import format_epoch
from trainlab.training.loop import Callback, Trainer


def in_notebook() -> bool:
    """True inside a Jupyter kernel (IPython's ZMQ shell); never imports IPython itself."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def show_figures() -> None:
    """In a notebook, display matplotlib Figures (what ``run.plot()`` returns) as PNG images.

    IPython knows how to show a Figure only once pyplot's inline backend is active; trainlab draws
    without pyplot, so a returned Figure would show as ``<Figure size ...>``. A formatter the
    user's own setup registered is kept.
    """
    if not in_notebook():
        return
    png = sys.modules["IPython"].get_ipython().display_formatter.formatters["image/png"]
    figure = sys.modules.get("matplotlib.figure")
    if ("matplotlib.figure", "Figure") in png.deferred_printers or (
        figure is not None and figure.Figure in png.type_printers
    ):
        return
    png.for_type_by_name("matplotlib.figure", "Figure", _png_bytes)


def _png_bytes(fig: Any, dpi: int = 80) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def png_b64(fig: Any, dpi: int = 80) -> str:
    """A matplotlib Figure as base64 PNG text, the form Jupyter keeps ``image/png`` outputs in."""
    return base64.b64encode(_png_bytes(fig, dpi)).decode()


class Lines:
    """Lines that grow as work finishes (one per run or trial): one updating notebook output, or
    printed lines on a console. For the progress of many runs (compare, sweep)."""

    def __init__(self, notebook: bool | None = None):
        self.notebook = in_notebook() if notebook is None else notebook
        self.lines: list[str] = []
        self.handle: Any = None

    def add(self, text: str) -> None:
        """Show one more line."""
        if not self.notebook:
            print(text, flush=True)
            return
        self.lines.append(text)
        data = {"text/plain": "\n".join(self.lines)}
        if self.handle is None:
            self.handle = _display(data)
        else:
            self.handle.update(data, raw=True)


def wants_progress(progress: bool | str) -> bool:
    """``progress`` checked: True for ``True``/``"auto"``, False for ``False``."""
    if progress not in (True, False, "auto"):
        raise ConfigError(f"progress={progress!r}: use True, False or 'auto'")
    return progress is not False


class NotebookProgress(Callback):
    """Show a run in a notebook: a status line (refreshed at most ``hz`` times a second) and the
    learning curves (loss, accuracy; train and validation), redrawn after an epoch at most every
    ``redraw`` seconds and always at the end, where the last figure stays in the output."""

    def __init__(self, curves: Callable[[list[dict[str, float]]], Any], hz: float = 2.0, redraw: float = 1.0):
        self.curves = curves
        self.interval = 1.0 / hz
        self.redraw = redraw
        self._next = 0.0
        self._next_figure = 0.0
        self._t0 = 0.0
        self._lines: list[str] = []  # header, initial loss, warnings: kept above the status
        self._status = ""
        self._text: Any = None
        self._figure: Any = None

    def _show(self) -> None:
        text = "\n".join([*self._lines, self._status]).strip("\n")
        if self._text is None:
            self._text = _display({"text/plain": text})
        else:
            self._text.update({"text/plain": text}, raw=True)

    def _draw(self, trainer: Trainer) -> None:
        if not trainer.history:
            return
        data = {
            "image/png": png_b64(self.curves(trainer.history)),
            "text/plain": f"<learning curves, {len(trainer.history)} epochs>",
        }
        if self._figure is None:
            self._figure = _display(data)
        else:
            self._figure.update(data, raw=True)
        self._next_figure = time.perf_counter() + self.redraw

    def on_fit_start(self, trainer: Trainer) -> None:
        facts = trainer.facts
        self._lines = [facts.header] if facts.header else []
        if facts.initial_loss is not None:
            exp = facts.expected_initial_loss
            self._lines.append(f"initial loss {facts.initial_loss:.4f}" + (f" (expected {exp:.4f})" if exp else ""))
        self._lines += [f"warning: {w}" for w in facts.warnings]
        self._status = f"epoch 0/{trainer.epochs}"
        self._show()

    def on_epoch_start(self, trainer: Trainer) -> None:
        self._t0 = time.perf_counter()
        self._next = self._t0 + self.interval

    def on_batch_end(self, trainer: Trainer) -> None:
        now = time.perf_counter()
        if now < self._next:
            return
        self._next = now + self.interval
        done, total = trainer.batch_index + 1, trainer.batches_per_epoch
        fill = int(24 * done / total)
        seen = max(trainer.seen, 1)
        self._status = (
            f"epoch {trainer.epoch + 1}/{trainer.epochs} [{'=' * fill}{' ' * (24 - fill)}] {done}/{total}  "
            f"loss {trainer.loss_sum.item() / seen:.4f}"
        )
        self._show()

    def on_epoch_end(self, trainer: Trainer) -> None:
        self._status = format_epoch(trainer.metrics, trainer.epochs, time.perf_counter() - self._t0)
        self._lines = [ln for ln in self._lines if not ln.startswith("warning: ")] + [
            f"warning: {w}" for w in trainer.facts.warnings
        ]
        self._show()
        if time.perf_counter() >= self._next_figure:
            self._draw(trainer)

    def on_fit_end(self, trainer: Trainer) -> None:
        if trainer.stop_reason:
            self._status += "\n" + trainer.stop_reason
            self._show()
        self._draw(trainer)  # the final curves stay in the notebook

    def on_error(self, trainer: Trainer) -> None:
        self._draw(trainer)


def _display(data: dict[str, str]) -> Any:
    from IPython.display import display  # optional: only inside a running notebook

    return display(data, raw=True, display_id=True)
