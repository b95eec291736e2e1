"""Stratified, seeded k-fold cross-validation on the training set.

The training set (after ``data.limit``, before any validation split: with ``--cv`` the folds are the
validation sets) is cut into ``k`` folds with class proportions kept (scikit-learn's
``StratifiedKFold``, shuffled with the config's seed). Fold ``i`` trains on the other ``k - 1``
folds and validates on fold ``i``; preprocessing is fitted on each fold's training part only.
A trial's objective is the mean of the ``k`` validation values; their spread is kept too.
"""

from __future__ import annotations

import numpy as np
import torch

from trainlab.config import Config
from trainlab.data.dataset import Dataset, Split
from trainlab.data.preprocess import fit_preprocess
from trainlab.data.sources import load_raw
from trainlab.errors import ConfigError
from trainlab.registry import parse_spec


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
            raise ConfigError(f"cv={k} folds but the rarest class has only {smallest} training examples; use fewer folds")
        splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed % 2**32)
    else:
        splitter = KFold(n_splits=k, shuffle=True, random_state=seed % 2**32)
    return [(np.sort(tr), np.sort(va)) for tr, va in splitter.split(np.zeros(len(y)), y)]


def fold_datasets(cfg: Config, k: int, device: torch.device | str = "cpu") -> list[Dataset]:
    """The ``k`` fold data sets of ``cfg``'s training set (the test split is the data set's own)."""
    d = cfg.data
    raw = load_raw(d.name, d.dir)
    xtr, ytr = raw.x_train, raw.y_train
    if d.limit is not None and d.limit < len(ytr):  # same subset as a plain run of this config
        keep = np.sort(np.random.default_rng(cfg.seed).permutation(len(ytr))[: d.limit])
        xtr, ytr = xtr[keep], ytr[keep]
    stratify = raw.task == "classification"
    dev = torch.device(device)
    x_all = torch.from_numpy(np.ascontiguousarray(xtr)).float()
    y_all = torch.from_numpy(np.ascontiguousarray(ytr))
    x_test = torch.from_numpy(np.ascontiguousarray(raw.x_test)).float()
    y_test = torch.from_numpy(np.ascontiguousarray(raw.y_test))
    name = parse_spec(d.name).name
    out = []
    for tr, va in fold_indices(ytr, k, cfg.seed, stratify):
        tr_t, va_t = torch.from_numpy(tr), torch.from_numpy(va)
        transform = fit_preprocess(d.preprocess, x_all[tr_t])  # fitted on this fold's train part only
        splits = [Split(transform(x).to(dev), y.to(dev)) for x, y in ((x_all[tr_t], y_all[tr_t]), (x_all[va_t], y_all[va_t]), (x_test, y_test))]
        out.append(Dataset(name, splits[0], splits[1], splits[2], raw.classes, raw.task, transform.output_shape(raw.input_shape), transform.state_dict()))
    return out
