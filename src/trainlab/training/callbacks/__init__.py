"""Callbacks: one small class per file, each listening to the loop's events; their order is ``ORDER``.

The order in which callbacks see each event is written once, here: ``ordered`` sorts a run's
callbacks by their class's place in ``ORDER``; a callback of any other class (a user's, a lesson's
recorder, a sweep's pruner) takes the place of ``Callback``, after the checks and before anything
that records or writes the epoch.
"""

from __future__ import annotations

from collections.abc import Iterable

from trainlab.training.callbacks.checkpoint import Checkpoint
from trainlab.training.callbacks.diagnostics import Diagnostics
from trainlab.training.callbacks.early_stopping import EarlyStopping
from trainlab.training.callbacks.history import History
from trainlab.training.callbacks.interrupt import Interrupt
from trainlab.training.callbacks.knn import KnnMonitor
from trainlab.training.callbacks.loss_epoch import LossEpoch
from trainlab.training.callbacks.nan_guard import NanGuard
from trainlab.training.callbacks.notebook import NotebookProgress
from trainlab.training.callbacks.progress import Progress
from trainlab.training.callbacks.pruning import Pruning
from trainlab.training.callbacks.run_lock import RunLock
from trainlab.training.callbacks.sanity import InitialLoss
from trainlab.training.callbacks.tensorboard import TensorBoard
from trainlab.training.events import Callback

ORDER: tuple[type, ...] = (
    RunLock,  # first: nothing else starts writing before the run directory is claimed
    LossEpoch,  # the loss knows the epoch (deferred re-weighting) before anything computes it
    InitialLoss,  # measures step 0 before anything else looks at the loss
    NanGuard,  # before history and checkpoint, so a bad epoch is neither logged nor saved
    KnnMonitor,  # adds val_knn_accuracy to the epoch's metrics before anything reads or records them
    Callback,  # everything not listed here: user callbacks, lesson recorders
    History,  # metrics.csv
    EarlyStopping,  # after history: the epoch is recorded even when it stops the run
    TensorBoard,  # event files of the recorded epoch
    Checkpoint,  # after early stopping and history, so their state is current
    Pruning,  # after history and checkpoint have recorded the epoch
    Diagnostics,  # after the guard and checkpoint: only healthy steps are measured
    Progress,  # prints what the callbacks above found (warnings, metrics)
    NotebookProgress,  # the same in a notebook: status line and learning curves
    Interrupt,  # last: every other callback has handled the event before the run stops
)


def place(callback: object) -> int:
    """The position of a callback's class in ``ORDER`` (``Callback``'s place for unlisted ones)."""
    for cls in type(callback).__mro__:
        if cls in ORDER and cls is not Callback:
            return ORDER.index(cls)
    return ORDER.index(Callback)


def ordered(callbacks: Iterable[object]) -> list[object]:
    """``callbacks`` sorted by ``place`` (stable: equal places keep the order given)."""
    return sorted(callbacks, key=place)


__all__ = [
    "ORDER",
    "Checkpoint",
    "Diagnostics",
    "EarlyStopping",
    "History",
    "InitialLoss",
    "Interrupt",
    "KnnMonitor",
    "LossEpoch",
    "NanGuard",
    "NotebookProgress",
    "Progress",
    "Pruning",
    "RunLock",
    "TensorBoard",
    "ordered",
    "place",
]
