"""The LR range test: a sensible suggestion, divergence stops it, and the model and optimizer come back unchanged."""

from __future__ import annotations

import math

import pytest
import torch

from trainlab.build import setup
from trainlab.config import Config
from trainlab.diagnose.lr_find import (
    LRFindResult,
    centered_average,
    lr_range_test,
    steepest,
    valley,
)
from trainlab.errors import ConfigError


def digits(**overrides: object):
    cfg = Config.from_dict({"threads": 1, "data": {"name": "digits", "val": 0}, "model": {"hidden": [32]}, "optim": {"batch_size": 64}})
    return setup(cfg.replace(**overrides))


def test_suggestion_and_full_restore(tmp_path) -> None:
    s = digits(**{"optim.name": "sgd(momentum=0.9)", "optim.lr": 0.05})
    before = {k: v.clone() for k, v in s.model.state_dict().items()}
    rng = torch.get_rng_state()
    res = lr_range_test(s.model, s.loss, s.data.train, s.optimizer, start=1e-5, end=1000, steps=60, batch_size=64)
    assert all(torch.equal(v, s.model.state_dict()[k]) for k, v in before.items())
    assert s.optimizer.param_groups[0]["lr"] == 0.05 and not s.optimizer.state  # momentum buffers gone again
    assert torch.equal(torch.get_rng_state(), rng)
    assert res.diverged and len(res.losses) < 60 and len(res.lrs) == len(res.losses) == len(res.smoothed)
    assert 1e-3 < res.suggestion < 1.0, res.suggestion  # SGD+momentum on digits trains well around 1e-2..1e-1
    assert all(b > a for a, b in zip(res.lrs, res.lrs[1:]))
    assert math.isclose(res.lrs[1] / res.lrs[0], (1000 / 1e-5) ** (1 / 59))
    png, csv = res.save_plot(tmp_path / "lr.png", current_lr=0.05), res.write_csv(tmp_path / "lr.csv")
    assert png.stat().st_size > 5000 and len(csv.read_text().splitlines()) == len(res.losses) + 1


def test_suggestion_rules_on_a_known_curve() -> None:
    lrs = [10 ** (-6 + i * 0.25) for i in range(25)]
    # flat, then a descent steepest between index 10 and 11, a minimum at 16, then the blow-up
    losses = [2.3] * 8 + [2.2, 2.0, 1.8, 1.0, 0.8, 0.7, 0.6, 0.55, 0.5, 0.9, 3.0, 9.0, 20, 30, 40, 50, 60]
    assert steepest(lrs[:17], losses[:17]) in (10, 11)
    assert 8 <= valley(lrs[:17], losses[:17]) <= 12
    res = LRFindResult(lrs=lrs, losses=losses, smoothed=losses)
    assert res.suggest("minimum") == pytest.approx(lrs[16] / 10)
    assert res.suggest("steepest") in (lrs[10], lrs[11])  # the blow-up after the minimum is ignored
    assert LRFindResult(lrs=lrs[:3], losses=[2.0, 2.1, 2.2], smoothed=[2.0, 2.1, 2.2]).suggest("steepest") is None
    assert centered_average([1.0, 2.0, 3.0, 10.0], 3) == pytest.approx([4 / 3, 2.0, 5.0, 23 / 3])


def test_bad_arguments_name_the_value() -> None:
    s = digits()
    with pytest.raises(ConfigError, match="start=1 and end=0.1"):
        lr_range_test(s.model, s.loss, s.data.train, s.optimizer, start=1, end=0.1)
    with pytest.raises(ConfigError, match="unknown lr suggestion 'steep'"):
        lr_range_test(s.model, s.loss, s.data.train, s.optimizer, method="steep")
