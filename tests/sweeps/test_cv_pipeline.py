"""Cross-validation folds go through the plain run's data pipeline: limit, long tail, resampling,
label noise, input checks and preprocessing apply to each fold's training part as to a plain run's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trainlab.config import Config
from trainlab.data import sources
from trainlab.data.dataset import RawData
from trainlab.data.imbalance import IMBALANCE
from trainlab.data.memo import DataCache, data_key
from trainlab.data.sources import load_dataset
from trainlab.errors import DataError
from trainlab.sweeps.cv import fold_datasets, fold_indices

LONG_TAIL = {"name": "blobs", "imbalance": "exp(ratio=10)"}  # blobs: 400 examples, 3 balanced classes


def config(**data: object) -> Config:
    return Config.from_dict({"data": data, "seed": 0})


def counts(y: torch.Tensor) -> list[int]:
    return torch.bincount(y, minlength=3).tolist()


def test_plain_run_and_every_fold_train_on_the_long_tail() -> None:
    cfg = config(**LONG_TAIL)
    plain = load_dataset(cfg.data, cfg.seed)
    profile = IMBALANCE.create("exp(ratio=10)")
    assert 140 <= len(plain.train) <= 160 and counts(plain.train.y) == profile(3, 107).tolist()  # 107, 33, 10
    folds = fold_datasets(cfg, 5)
    balanced = fold_datasets(config(name="blobs"), 5)
    for fold, whole in zip(folds, balanced, strict=True):
        n_min = min(counts(whole.train.y))  # the fold's training part before the long tail: 106..107 per class
        assert counts(fold.train.y) == profile(3, n_min).tolist()  # head n_min, then n_min / sqrt(10), n_min / 10
        assert len(fold.train) < 140  # not the 320 examples of the balanced fold
        assert torch.equal(fold.val.y, whole.val.y)  # the held-out fold keeps its examples
        assert torch.equal(fold.test.y, plain.test.y)


def test_resampling_and_label_noise_apply_per_fold() -> None:
    over = fold_datasets(config(**LONG_TAIL, resample="over"), 3)
    for fold in over:
        c = counts(fold.train.y)
        assert len(set(c)) == 1 and c[0] > 60  # every class drawn up to the head's size
    clean, noisy = fold_datasets(config(name="blobs"), 3), fold_datasets(config(name="blobs", label_noise=0.2), 3)
    for a, b in zip(clean, noisy, strict=True):
        assert torch.equal(a.train.x, b.train.x)  # the same examples ...
        assert int((a.train.y != b.train.y).sum()) == round(0.2 * len(a.train))  # ... a fifth of their labels replaced
        assert torch.equal(a.val.y, b.val.y)  # validation keeps its true labels


def test_folds_without_data_keys_are_the_pool_cut_by_fold_indices() -> None:
    cfg = config(name="digits", limit=500, preprocess="standardize")
    raw = sources.load_raw("digits")
    keep = np.sort(np.random.default_rng(0).permutation(len(raw.y_train))[:500])  # data.limit's subset
    y = raw.y_train[keep]
    for fold, (tr, va) in zip(fold_datasets(cfg, 3), fold_indices(y, 3, 0), strict=True):
        assert fold.train.y.tolist() == y[tr].tolist() and fold.val.y.tolist() == y[va].tolist()
        # standardize (one mean and std over all pixels) fitted on the fold's training part only
        assert abs(fold.train.x.mean().item()) < 1e-5 and abs(fold.val.x.mean().item()) > 1e-4


def test_folds_refuse_nan_inputs_as_a_plain_run_does(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 2)).astype(np.float32), np.repeat(np.arange(2), 30)
    x[7, 1] = np.nan
    raw = RawData(x, y, x[:10].copy() * 0, y[:10], ["0", "1"], "classification", (2,))
    monkeypatch.setattr(sources, "load_raw", lambda spec, data_dir=None: raw)
    cfg = config(name="blobs")
    with pytest.raises(DataError, match="train inputs contain 1 NaN"):
        load_dataset(cfg.data, cfg.seed)
    with pytest.raises(DataError, match="inputs contain 1 NaN"):
        fold_datasets(cfg, 3)


def test_the_data_cache_keys_folds_by_their_data_section() -> None:
    cache, calls = DataCache(size=2), []
    cfg = config(**LONG_TAIL)

    def load(c: Config) -> list:
        calls.append(c.data.imbalance)
        return fold_datasets(c, 3)

    key = data_key(cfg.data, cfg.seed, "cpu", "cv3")
    first = cache.get(key, lambda: load(cfg))
    assert cache.get(data_key(cfg.data, cfg.seed, "cpu", "cv3"), lambda: load(cfg)) is first  # loaded once
    other = config(name="blobs")
    folds = cache.get(data_key(other.data, other.seed, "cpu", "cv3"), lambda: load(other))
    assert calls == ["exp(ratio=10)", "none"] and len(folds[0].train) > len(first[0].train)
    assert data_key(cfg.data, cfg.seed, "cpu", "cv3") != data_key(cfg.data, cfg.seed, "cpu", "cv5")
