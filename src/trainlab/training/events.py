"""The loop's contract: the events it emits, the callback base class and the facts callbacks share.

Declared here, in one place: ``EVENTS`` lists every event in the order the loop emits them, a
callback handles an event by defining ``on_<event>(trainer)``, and a handler for an event that
does not exist (``on_epoch_ends``) is an error when the class is defined or the callback is given
to a trainer, instead of a handler that is silently never called. Facts that callbacks pass to each
other and to the run's summary (the initial loss, warnings, where a divergence began) are typed
fields of ``Facts``, not string keys.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

# fit_start; per epoch: epoch_start, batch_end after every step, epoch_end after validation;
# fit_end when fit returns, error when an exception escapes it
EVENTS = ("fit_start", "epoch_start", "batch_end", "epoch_end", "fit_end", "error")


class StopTraining(Exception):
    """Raised by a callback to end ``fit`` cleanly after the current step or epoch."""

    def __init__(self, reason: str = "", status: str = "stopped"):
        super().__init__(reason)
        self.reason = reason
        self.status = status


def unknown_handlers(names: Any) -> list[str]:
    """The ``on_*`` names among ``names`` that are not ``on_<event>`` for a declared event."""
    return sorted(n for n in names if n.startswith("on_") and n[3:] not in EVENTS)


def _refuse(owner: str, bad: list[str]) -> None:
    raise TypeError(
        f"{owner} defines {', '.join(bad)}, but the loop has no such event; "
        f"handlers are on_<event> for: {', '.join(EVENTS)}"
    )


class Callback:
    """Base class: define ``on_<event>(trainer)`` for any of ``EVENTS``; state for checkpoints."""

    # True when ``on_batch_end`` reads only ``trainer.last_loss`` and ``trainer.step``, never the
    # weights: runs trained as one stacked model (training/stacked.py) then still get it every step
    loss_only_batch_end: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        bad = unknown_handlers(vars(cls))
        if bad:
            _refuse(f"callback {cls.__name__}", bad)

    def handlers(self) -> dict[str, Any]:
        """This callback's bound handler per event it handles (instance attributes checked too)."""
        bad = unknown_handlers(vars(self))
        if bad:
            _refuse(f"callback {type(self).__name__}", bad)
        return {e: getattr(self, f"on_{e}") for e in EVENTS if callable(getattr(self, f"on_{e}", None))}

    def state_dict(self) -> dict[str, Any]:
        """State to keep in checkpoints (for exact resume)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore state saved by ``state_dict``."""

    def check_state(self, state: Any, trainer: Any) -> None:
        """Raise ValueError when ``state`` (from a checkpoint) cannot be this callback's state for
        ``trainer``; called before ``load_state_dict``, so a damaged checkpoint is refused before
        anything is restored instead of failing mid-run. The default accepts anything (no state)."""


_PER_PROCESS = ("header", "run_dir")


@dataclass
class Facts:
    """What callbacks learn during a run and share: read by other callbacks and the run's summary."""

    header: str = ""  # the run's one-line description (data, model, optimizer, device)
    run_dir: str | None = None  # where the run's files go (None for runs that write nothing)
    initial_loss: float | None = None  # loss before the first step (InitialLoss)
    expected_initial_loss: float | None = None  # ln C for cross-entropy, ... (InitialLoss)
    warnings: list[str] = field(default_factory=list)  # initial-loss causes, LR too high/low
    nan_guard: dict[str, Any] | None = None  # where a divergence began: step, layer, lr (NanGuard)
    interrupted_by: str | None = None  # SIGINT / SIGTERM (Interrupt)
    restored_epoch: int | None = None  # the epoch whose weights early stopping restored

    def to_dict(self) -> dict[str, Any]:
        """Every field as plain values."""
        return asdict(self)

    def scalars(self) -> dict[str, Any]:
        """The single-valued facts a checkpoint keeps (not the header and run directory: a resumed
        run describes itself anew)."""
        return {
            k: v
            for k, v in self.to_dict().items()
            if k not in _PER_PROCESS and isinstance(v, (int, float, str, type(None)))
        }

    def update(self, saved: dict[str, Any]) -> None:
        """Take the known facts of a checkpoint (older checkpoints hold fewer, some held the header)."""
        names = {f.name for f in fields(self)} - set(_PER_PROCESS)
        for key, value in saved.items():
            if key in names:
                setattr(self, key, list(value) if key == "warnings" else value)
