"""Class-balanced weights, LDAM(-DRW) and the logit-adjusted loss, each against its formula."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from trainlab.errors import ConfigError
from trainlab.nn.losses import (
    LossContext,
    effective_number_weights,
    expected_initial_loss,
    logit_adjustment,
    make_loss,
)

COUNTS = torch.tensor([500.0, 100.0, 10.0])
CTX = LossContext("classification", 3, COUNTS)


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(8, 3, generator=g), torch.tensor([0, 1, 2, 0, 1, 2, 2, 0])


def test_effective_number_weights_follow_cui_et_al() -> None:
    beta = 0.99
    e = [(1 - beta**n) / (1 - beta) for n in (500, 100, 10)]
    w = [1 / x for x in e]
    expected = [3 * x / sum(w) for x in w]
    assert effective_number_weights(COUNTS, beta).tolist() == pytest.approx(expected, rel=1e-6)
    z, y = batch()
    loss = make_loss("cross_entropy(weights=effective(beta=0.99))", CTX)
    assert loss(z, y).item() == pytest.approx(F.cross_entropy(z, y, weight=torch.tensor(expected)).item(), rel=1e-6)
    with pytest.raises(ConfigError, match="beta must be a number in"):
        make_loss("cross_entropy(weights=effective(beta=1))", CTX)


def test_ldam_matches_the_formula_and_reweights_from_drw_epoch() -> None:
    z, y = batch()
    loss = make_loss("ldam(max_margin=0.5,s=10,drw_epoch=2)", CTX)
    delta = COUNTS**-0.25
    delta = delta * 0.5 / delta.max()
    by_hand = []
    for i in range(len(y)):
        zi = z[i].clone()
        zi[y[i]] -= delta[y[i]]
        by_hand.append(-torch.log_softmax(10 * zi, 0)[y[i]])
    assert loss(z, y).item() == pytest.approx(torch.stack(by_hand).mean().item(), rel=1e-5)
    loss.start_epoch(1)
    assert loss(z, y).item() == pytest.approx(torch.stack(by_hand).mean().item(), rel=1e-5)
    loss.start_epoch(2)  # deferred re-weighting: effective-number weights from here on
    w = effective_number_weights(COUNTS, 0.9999)[y]
    assert loss(z, y).item() == pytest.approx((w * torch.stack(by_hand)).sum().item() / w.sum().item(), rel=1e-5)


def test_logit_adjusted_loss_and_post_hoc_offset_follow_menon_et_al() -> None:
    z, y = batch()
    prior = COUNTS / COUNTS.sum()
    loss = make_loss("logit_adjusted(tau=1.5)", CTX)
    assert loss(z, y).item() == pytest.approx(F.cross_entropy(z + 1.5 * prior.log(), y).item(), rel=1e-6)
    offset = logit_adjustment(COUNTS, 1.0)
    assert torch.allclose(offset, -prior.log())
    assert (z + offset).argmax(1).tolist() == (z - prior.log()).argmax(1).tolist()


def test_class_balanced_focal_and_bad_values() -> None:
    z, y = batch()
    w = effective_number_weights(COUNTS, 0.999)
    focal = make_loss("focal(gamma=2,alpha=effective(beta=0.999))", CTX)
    logp = F.log_softmax(z, 1).gather(1, y[:, None]).squeeze(1)
    assert focal(z, y).item() == pytest.approx((-w[y] * (1 - logp.exp()) ** 2 * logp).mean().item(), rel=1e-6)
    assert expected_initial_loss("cross_entropy(weights=effective)", CTX) == pytest.approx(math.log(3))
    with pytest.raises(ConfigError, match="drw_epoch"):
        make_loss("ldam(drw_epoch=-1)", CTX)
    with pytest.raises(ConfigError, match="regression"):
        make_loss("ldam", LossContext("regression", 0, None))
