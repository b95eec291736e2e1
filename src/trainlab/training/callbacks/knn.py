"""kNN monitor: after each epoch, k-nearest-neighbour accuracy of the encoder's features (``val_knn_accuracy``).

A pretraining run's loss says how well the views are matched, not whether the features separate
classes; this callback measures that with the labels the loop itself never sees: val examples vote
by their k nearest train examples under cosine similarity. It writes into the epoch's metrics before
``History`` records them, so metrics.csv and the learning curves carry it.
"""

from __future__ import annotations

from trainlab.nn.ssl import encoder_of, features
from trainlab.training.events import Callback
from trainlab.training.loop import Trainer
from trainlab.training.probes import knn_accuracy


class KnnMonitor(Callback):
    """Add ``val_knn_accuracy`` (k neighbours, train split as the memory bank) to every epoch's metrics."""

    def __init__(self, k: int = 20, bank: int = 10000):
        self.k = k
        self.bank = bank  # train examples that vote: enough for a stable figure, bounded cost per epoch

    def on_epoch_end(self, trainer: Trainer) -> None:
        data = trainer.data
        if data.val is None:
            return
        enc, bs = encoder_of(trainer.model), trainer.eval_batch_size
        train_x, train_y = data.train.x[: self.bank], data.train.y[: self.bank]
        acc = knn_accuracy(features(enc, train_x, bs), train_y, features(enc, data.val.x, bs), data.val.y, self.k)
        trainer.metrics["val_knn_accuracy"] = acc  # the same dict History appends and writes
