"""Callbacks: one small class per file, each listening to the loop's events."""

from trainlab.training.callbacks.checkpoint import Checkpoint
from trainlab.training.callbacks.early_stopping import EarlyStopping
from trainlab.training.callbacks.history import History
from trainlab.training.callbacks.interrupt import Interrupt
from trainlab.training.callbacks.progress import Progress
from trainlab.training.callbacks.pruning import Pruning
from trainlab.training.callbacks.run_lock import RunLock
from trainlab.training.callbacks.sanity import InitialLoss

__all__ = ["Checkpoint", "EarlyStopping", "History", "InitialLoss", "Interrupt", "Progress", "Pruning", "RunLock"]
