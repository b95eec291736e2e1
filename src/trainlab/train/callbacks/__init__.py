"""Callbacks: one small class per file, each listening to the loop's events."""

from trainlab.train.callbacks.checkpoint import Checkpoint
from trainlab.train.callbacks.early_stopping import EarlyStopping
from trainlab.train.callbacks.history import History
from trainlab.train.callbacks.interrupt import Interrupt
from trainlab.train.callbacks.progress import Progress
from trainlab.train.callbacks.pruning import Pruning
from trainlab.train.callbacks.run_lock import RunLock
from trainlab.train.callbacks.sanity import InitialLoss

__all__ = ["Checkpoint", "EarlyStopping", "History", "InitialLoss", "Interrupt", "Progress", "Pruning", "RunLock"]
