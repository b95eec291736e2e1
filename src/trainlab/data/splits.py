"""One data pipeline from a training pool to a data set, for the hold-out split and for every k-fold.

A run's training examples (the source's train arrays after ``data.limit``: the *pool*) are cut into a
training part and a validation part by a split plan: ``holdout`` (``data.val``, seeded and
stratified) or the folds of cross-validation (``sweeps/cv.py``). Whatever the plan, ``make_dataset``
then treats the parts the same way, so a fold's training part gets exactly what a plain run's
training split gets:

1. the training part is made long-tailed and resampled (``data.imbalance``, ``data.resample``:
   ``imbalance.py``), then a fraction of its labels is replaced (``data.label_noise``: ``noise.py``);
   the validation part and the test split keep the source's examples and true labels;
2. each part becomes one float32 copy, checked for NaN/Inf;
3. preprocessing is fitted on the training part only (or a given fitted transform is used), applied
   to every part in place, and the tensors move to the device once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from trainlab.data import imbalance, noise
from trainlab.data.dataset import Dataset, RawData, Split
from trainlab.data.preprocess import fit_preprocess
from trainlab.errors import ConfigError, DataError

Indices = tuple[np.ndarray, np.ndarray]  # (training part, validation part) of the pool, sorted
# a split plan: the pool's labels and whether to stratify -> one (train, val) pair per data set to make
SplitPlan = Callable[[np.ndarray, bool], list[Indices]]


def stratified_split(y: np.ndarray, val: float, seed: int, stratify: bool = True) -> Indices:
    """Seeded (stratified for classes) split of indices into train and validation parts."""
    n = len(y)
    n_val = int(round(val * n)) if val < 1 else int(val)
    if val <= 0:
        return np.arange(n), np.arange(0)
    if n_val <= 0:  # asked for a validation split and would silently get none
        raise ConfigError(
            f"data.val={val} of {n} training examples rounds to 0 examples;"
            " use a larger fraction, a count, or 0 for no validation split"
        )
    if n_val >= n:
        raise ConfigError(f"data.val={val} leaves no training examples (train has {n})")
    rng = np.random.default_rng(seed)
    if not stratify:
        perm = rng.permutation(n)
        return np.sort(perm[n_val:]), np.sort(perm[:n_val])
    # take each class's share of the validation set, largest remainders first
    classes, counts = np.unique(y, return_counts=True)
    share = counts * n_val / n
    take = np.floor(share).astype(int)
    for i in np.argsort(-(share - take))[: n_val - take.sum()]:
        take[i] += 1
    val_idx = []
    for c, k in zip(classes, take):
        members = np.flatnonzero(y == c)
        val_idx.append(rng.choice(members, size=k, replace=False))
    v = np.sort(np.concatenate(val_idx))
    mask = np.ones(n, bool)
    mask[v] = False
    return np.flatnonzero(mask), v


def holdout(val: float, seed: int) -> SplitPlan:
    """The plain run's plan: one seeded (stratified) hold-out validation split of ``val`` (fraction or count)."""
    return lambda y, stratify: [stratified_split(y, val, seed, stratify)]


def limit_pool(x: np.ndarray, y: np.ndarray, limit: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``limit`` examples of a seeded permutation, in their original order (all when None)."""
    if limit is None or limit >= len(y):
        return x, y
    keep = np.sort(np.random.default_rng(seed).permutation(len(y))[:limit])
    return x[keep], y[keep]


def training_labels(
    data_cfg: Any, raw: RawData, y: np.ndarray, tr_idx: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """The training part's pool indices after ``data.imbalance`` and ``data.resample``, and its labels
    after ``data.label_noise`` (classification only; each draw seeded with ``seed``)."""
    stratify = raw.task == "classification"
    if stratify:  # long tail and resampling touch the training part only, after val is taken (docs/imbalance.md)
        kept = imbalance.apply(data_cfg.imbalance, data_cfg.resample, y[tr_idx], len(raw.classes), seed)
        tr_idx = tr_idx if kept is None else tr_idx[kept]
    labels = y[tr_idx]
    if data_cfg.label_noise:  # training labels only, after the val split (data/noise.py)
        if not stratify:
            raise ConfigError(
                f"data.label_noise={data_cfg.label_noise} needs a classification data set;"
                f" {data_cfg.spec('name').name} is {raw.task}"
            )
        labels = noise.corrupt(labels, data_cfg.label_noise, len(raw.classes), seed)
    return tr_idx, labels


def check_finite(name: str, split: str, x: torch.Tensor) -> None:
    """Refuse NaN or Inf inputs, naming the split and how many values and examples have them."""
    bad = ~torch.isfinite(x)
    if bad.any():
        nan, rows = int(torch.isnan(x).sum()), int(bad.flatten(1).any(1).sum()) if x.ndim > 1 else int(bad.sum())
        raise DataError(
            f"{name}: {split} inputs contain {nan} NaN and {int(bad.sum()) - nan} Inf values"
            f" (in {rows} of {len(x)} examples); clean or drop them before training"
        )


def make_dataset(
    data_cfg: Any,
    raw: RawData,
    x: np.ndarray,
    y: np.ndarray,
    split: Indices,
    seed: int,
    device: str | torch.device = "cpu",
    transform: Any = None,
) -> Dataset:
    """The data set of one (train, val) split of the pool ``x, y``: the training part long-tailed,
    resampled and label-noised, every part checked and preprocessed (fitted on the training part
    unless a fitted ``transform`` is given) and moved to ``device``."""
    name = data_cfg.spec("name").name
    tr_idx, val_idx = split
    tr_idx, ytrain = training_labels(data_cfg, raw, y, tr_idx, seed)
    parts = {"train": (x[tr_idx], ytrain), "test": (raw.x_test, raw.y_test)}
    if len(val_idx):
        parts["val"] = (x[val_idx], y[val_idx])
    # one float32 copy per split that this function owns (IDX pixels: the uint8 -> float conversion;
    # float data: a copy, so scaling it in place below never writes into the source's arrays)
    tensors = {
        k: (
            torch.from_numpy(np.ascontiguousarray(a)).to(torch.float32, copy=True),
            torch.from_numpy(np.ascontiguousarray(b)),
        )
        for k, (a, b) in parts.items()
    }
    for k, (t, _) in tensors.items():
        if np.issubdtype(parts[k][0].dtype, np.floating):  # integer inputs (IDX pixels) cannot hold NaN/Inf: no pass
            check_finite(name, k, t)
    if transform is None:
        transform = fit_preprocess(data_cfg.preprocess, tensors["train"][0])
    dev = torch.device(device)
    # in place: no second copy
    splits = {k: Split(transform.apply_(t).to(dev), b.to(dev)) for k, (t, b) in tensors.items()}
    shape = transform.output_shape(raw.input_shape)  # pca(k) turns images into k features
    return Dataset(
        name, splits["train"], splits.get("val"), splits["test"], raw.classes, raw.task, shape, transform.state_dict()
    )
