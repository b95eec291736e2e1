"""Long-tailed train splits (exp, step), over/under-sampling and weighted blobs: sizes, seeding, balanced val/test."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trainlab.config import DataConfig
from trainlab.data.imbalance import IMBALANCE, apply, long_tail, resample
from trainlab.data.sources import load_dataset
from trainlab.errors import ConfigError


def test_exp_profile_follows_the_formula() -> None:
    sizes = IMBALANCE.create("exp(ratio=100)")(10, 5000)
    expected = [int(np.floor(5000 * 100 ** (-c / 9))) for c in range(10)]
    assert sizes.tolist() == expected and sizes[0] == 5000 and sizes[-1] == 50


def test_step_profile_and_its_bad_values() -> None:
    assert IMBALANCE.create("step(ratio=10,minority=3)")(5, 100).tolist() == [100, 100, 10, 10, 10]
    assert IMBALANCE.create("step(ratio=10)")(4, 100).tolist() == [100, 100, 10, 10]  # minority half by default
    with pytest.raises(ConfigError, match="minority must be in 1..4"):
        IMBALANCE.create("step(minority=5)")(5, 100)
    with pytest.raises(ConfigError, match="ratio must be >= 1"):
        IMBALANCE.create("exp(ratio=0.5)")


def test_long_tail_is_seeded_and_keeps_the_profile() -> None:
    y = np.repeat(np.arange(4), 50)
    a, b, c = (long_tail("exp(ratio=10)", y, 4, s) for s in (0, 0, 1))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.bincount(y[a]).tolist() == [50, 23, 10, 5]


def test_over_and_under_sampling_equalize_the_classes() -> None:
    y = np.array([0] * 40 + [1] * 10 + [2] * 4)
    over, under = resample("over", y, 3, 0), resample("under", y, 3, 0)
    assert np.bincount(y[over]).tolist() == [40, 40, 40] and set(range(54)) <= set(over.tolist())  # every original kept
    assert np.bincount(y[under]).tolist() == [4, 4, 4] and len(set(under.tolist())) == 12
    assert np.bincount(y[apply("step(ratio=4,minority=1)", "under", y, 3, 0)]).tolist() == [1, 1, 1]


def test_only_train_is_long_tailed_validation_and_test_stay_as_they_were(idx_dir) -> None:
    plain = load_dataset(DataConfig(name="mnist", dir=str(idx_dir), val=0.2), seed=0)
    lt = load_dataset(DataConfig(name="mnist", dir=str(idx_dir), val=0.2, imbalance="exp(ratio=10)"), seed=0)
    counts = torch.bincount(lt.train.y, minlength=10).tolist()
    assert counts[0] == min(torch.bincount(plain.train.y).tolist()) and counts[-1] == counts[0] // 10
    assert all(a >= b for a, b in zip(counts, counts[1:]))
    assert torch.equal(lt.val.y, plain.val.y) and torch.equal(lt.test.y, plain.test.y)


def test_blobs_weights_give_imbalanced_train_and_balanced_test() -> None:
    d = load_dataset(DataConfig(name="blobs(size=400,weights=[0.95,0.05])", val=0), seed=0)
    assert torch.bincount(d.train.y).tolist() == [380, 20] and torch.bincount(d.test.y).tolist() == [200, 200]
    with pytest.raises(ConfigError, match="positive class shares"):
        load_dataset(DataConfig(name="blobs(weights=[1,0])", val=0), seed=0)
