"""Stratified, seeded k-fold cross-validation on the training set.

The training set (after ``data.limit``, before any validation split: with ``--cv`` the folds are the
validation sets) is cut into ``k`` folds with class proportions kept (scikit-learn's
``StratifiedKFold``, shuffled with the config's seed). Fold ``i`` trains on the other ``k - 1``
folds and validates on fold ``i``. The folds are a split plan of the one data pipeline
(``data/sources.load_splits``, ``data/splits.py``), so each fold's training part is long-tailed,
resampled, label-noised, checked and preprocessed exactly as a plain run's training split, and its
validation part treated as a plain run's validation split.
A trial's objective is the mean of the ``k`` validation values; their spread is kept too.
"""

from __future__ import annotations

import numpy as np
import torch

from trainlab.config import Config
from trainlab.data.dataset import Dataset
from trainlab.data.sources import load_splits
from trainlab.errors import ConfigError


def fold_indices(y: np.ndarray, k: int, seed: int, stratify: bool = True) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` (train, val) index pairs: stratified by class when ``stratify``, shuffled with ``seed``."""
    # lazy: scikit-learn (~0.5 s to import) loads only for what uses it
    from sklearn.model_selection import KFold, StratifiedKFold

    if k < 2:
        raise ConfigError(f"cv={k} must be at least 2 folds")
    if k > len(y):
        raise ConfigError(f"cv={k} folds but the training set has only {len(y)} examples")
    if stratify:
        present = np.bincount(y)
        smallest = int(present[present > 0].min())
        if smallest < k:
            raise ConfigError(
                f"cv={k} folds but the rarest class has only {smallest} training examples; use fewer folds"
            )
        splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed % 2**32)
    else:
        splitter = KFold(n_splits=k, shuffle=True, random_state=seed % 2**32)
    return [(np.sort(tr), np.sort(va)) for tr, va in splitter.split(np.zeros(len(y)), y)]


def fold_datasets(cfg: Config, k: int, device: torch.device | str = "cpu") -> list[Dataset]:
    """The ``k`` fold data sets of ``cfg``'s training set (the test split is the data set's own), each made
    by the data pipeline a plain run's split goes through (``data/splits.make_dataset``)."""
    return load_splits(cfg.data, cfg.seed, device, plan=lambda y, stratify: fold_indices(y, k, cfg.seed, stratify))
