"""Data sets by name: splits, subsets, toy sets, label checks, preprocessing fitted on train."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from trainlab.config import DataConfig
from trainlab.data.idx import write_idx
from trainlab.data.sources import DATASETS, load_dataset
from trainlab.data.splits import stratified_split
from trainlab.errors import ConfigError, DataError


def test_stratified_split_keeps_class_shares_and_is_seeded() -> None:
    y = np.repeat(np.arange(4), [100, 200, 300, 400])
    tr, va = stratified_split(y, 0.1, seed=3)
    assert len(va) == 100 and len(tr) == 900 and not set(tr) & set(va)
    assert np.bincount(y[va]).tolist() == [10, 20, 30, 40]
    tr2, va2 = stratified_split(y, 0.1, seed=3)
    assert np.array_equal(va, va2)
    assert not np.array_equal(va, stratified_split(y, 0.1, seed=4)[1])
    assert len(stratified_split(y, 250, seed=0)[1]) == 250  # a count, not a fraction
    with pytest.raises(ConfigError, match="leaves no training examples"):
        stratified_split(y, 1000, seed=0)


def test_idx_dataset_from_dir(idx_dir: Path) -> None:
    d = load_dataset(DataConfig(name="fashion-mnist", dir=str(idx_dir), val=0.2), seed=0)
    assert (len(d.train), len(d.val), len(d.test)) == (240, 60, 100)
    assert d.train.x.shape == (240, 1, 28, 28) and d.train.x.dtype == torch.float32
    assert d.classes[0] == "T-shirt/top" and d.num_features == 784
    assert float(d.train.x.min()) == 0.0 and float(d.train.x.max()) == 1.0  # scale fitted on train


def test_limit_and_no_val(idx_dir: Path) -> None:
    d = load_dataset(DataConfig(name="mnist", dir=str(idx_dir), val=0, limit=50), seed=1)
    assert len(d.train) == 50 and d.val is None
    with pytest.raises(ConfigError, match="split 'val' is not available"):
        d.split("val")


def test_labels_out_of_range(tmp_path: Path, idx_dir: Path) -> None:
    for f in idx_dir.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.full(300, 12, np.uint8))
    with pytest.raises(DataError, match="labels must be 0..9, found 12..12"):
        load_dataset(DataConfig(name="fashion-mnist", dir=str(tmp_path)))


@pytest.mark.parametrize("name", ["xor", "circles", "moons", "spirals", "blobs"])
def test_toy_sets(name: str) -> None:
    d = load_dataset(DataConfig(name=f"{name}(size=200,noise=0.1,seed=1)", val=0.25), seed=0)
    assert d.train.x.shape[1:] == (2,) and len(d.train) + len(d.val) == 200 and len(d.test) == 200
    again = load_dataset(DataConfig(name=f"{name}(size=200,noise=0.1,seed=1)", val=0.25), seed=0)
    assert torch.equal(d.train.x, again.train.x)
    assert d.num_classes >= 2


def test_digits_offline_and_unknown_name() -> None:
    d = load_dataset(DataConfig(name="digits", val=0.1, preprocess="none"), seed=0)
    assert d.input_shape == (1, 8, 8) and len(d.test) == 360 and float(d.train.x.max()) == 16.0
    with pytest.raises(ConfigError, match="unknown data set 'fashion_mnist' \\(did you mean 'fashion-mnist'\\?\\)"):
        load_dataset(DataConfig(name="fashion_mnist"))
    assert "mnist1d" in DATASETS.names()


def test_standardize_uses_train_statistics_only() -> None:
    d = load_dataset(DataConfig(name="digits", val=0.2, preprocess="standardize"), seed=0)
    assert abs(float(d.train.x.mean())) < 1e-4 and abs(float(d.train.x.std()) - 1) < 1e-3
    assert abs(float(d.test.x.mean())) > 1e-4  # test transformed with train's mean, not its own


def test_mnist1d_generated_offline() -> None:
    d = load_dataset(DataConfig(name="mnist1d", val=0.1, preprocess="none"), seed=0)
    assert d.input_shape == (1, 40) and (len(d.train), len(d.val), len(d.test)) == (3600, 400, 1000)
    assert d.num_classes == 10 and torch.bincount(d.test.y).min() > 50
