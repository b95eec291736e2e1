"""Losses against torch references, and the task checks that reject wrong pairings."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from trainlab.errors import ConfigError
from trainlab.nn.losses import LOSSES, LossContext, expected_initial_loss, make_loss, nt_xent

CLS = LossContext("classification", 5, torch.tensor([10, 20, 30, 40, 100]))
REG = LossContext("regression", 0)


@pytest.fixture
def logits() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(64, 5, generator=g), torch.randint(0, 5, (64,), generator=g)


@pytest.fixture
def values() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(50, 1, generator=g) * 3, torch.randn(50, generator=g) * 3


def test_focal_with_gamma_0_and_no_alpha_is_cross_entropy(logits):
    out, y = logits
    assert torch.allclose(make_loss("focal(gamma=0,alpha=none)", CLS)(out, y), F.cross_entropy(out, y))


def test_focal_matches_its_formula_and_down_weights_easy_examples(logits):
    out, y = logits
    p_t = F.softmax(out, 1)[torch.arange(len(y)), y]
    expected = (-0.25 * (1 - p_t) ** 2 * p_t.log()).mean()
    assert torch.allclose(make_loss("focal", CLS)(out, y), expected)
    easy = torch.tensor([[10.0, 0, 0, 0, 0]])
    ratio = make_loss("focal(alpha=none)", CLS)(easy, torch.tensor([0])) / F.cross_entropy(easy, torch.tensor([0]))
    assert ratio < 1e-6  # (1 - p_t)^2 with p_t ~ 1 - 2e-4


def test_focal_binary_alpha_weighs_the_positive_class():
    ctx = LossContext("classification", 2)
    out = torch.zeros(2, 2)
    loss = make_loss("focal(gamma=0,alpha=0.25)", ctx)
    assert math.isclose(loss(out[:1], torch.tensor([1])).item(), 0.25 * math.log(2), rel_tol=1e-6)
    assert math.isclose(loss(out[:1], torch.tensor([0])).item(), 0.75 * math.log(2), rel_tol=1e-6)


def test_nll_after_log_softmax_is_cross_entropy(logits):
    out, y = logits
    assert torch.allclose(make_loss("nll", CLS)(out, y), F.cross_entropy(out, y))


def test_cross_entropy_label_smoothing_and_weights(logits):
    out, y = logits
    assert torch.allclose(
        make_loss("cross_entropy(label_smoothing=0.1)", CLS)(out, y), F.cross_entropy(out, y, label_smoothing=0.1)
    )
    w = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert torch.allclose(
        make_loss("cross_entropy(weights=[1,2,3,4,5])", CLS)(out, y), F.cross_entropy(out, y, weight=torch.tensor(w))
    )
    counts = CLS.class_counts.double()
    balanced = (counts.sum() / (5 * counts)).float()  # scikit-learn's n / (C * n_c)
    assert torch.allclose(
        make_loss("cross_entropy(weights=balanced)", CLS)(out, y), F.cross_entropy(out, y, weight=balanced)
    )


def test_bad_class_weights_are_config_errors():
    with pytest.raises(ConfigError, match="list of 5 numbers"):
        make_loss("cross_entropy(weights=[1,2])", CLS)
    with pytest.raises(ConfigError, match="label_smoothing"):
        make_loss("cross_entropy(label_smoothing=1.5)", CLS)


def test_regression_losses_against_torch(values):
    out, y = values
    mse = F.mse_loss(out.squeeze(1), y)
    assert torch.allclose(make_loss("mse", REG)(out, y), mse)
    assert torch.allclose(make_loss("rmse", REG)(out, y), mse.sqrt())
    assert torch.allclose(make_loss("mae", REG)(out, y), F.l1_loss(out.squeeze(1), y))
    assert torch.allclose(make_loss("huber(delta=2)", REG)(out, y), F.huber_loss(out.squeeze(1), y, delta=2.0))
    r = (y - out.squeeze(1)).abs()  # the formula in huber's docstring
    assert torch.allclose(make_loss("huber", REG)(out, y), torch.where(r <= 1, 0.5 * r**2, r - 0.5).mean())


def test_bce_pair_and_cosine():
    ctx = LossContext("classification", 2)
    z, y = torch.randn(20, 1), torch.randint(0, 2, (20,))
    assert torch.allclose(make_loss("bce", ctx)(z, y), make_loss("bce_with_logits", ctx)(z, y), atol=1e-6)
    out = torch.tensor([[2.0, 0.0], [1.0, 1.0]])
    cos = make_loss("cosine_similarity", ctx)(out, torch.tensor([0, 1]))
    assert math.isclose(cos.item(), ((1 - 1) + (1 - 1 / math.sqrt(2))) / 2, rel_tol=1e-6)


@pytest.mark.parametrize(
    ("spec", "ctx", "match"),
    [
        ("bce", CLS, "2-class"),
        ("cross_entropy", REG, "regression"),
        ("focal", REG, "regression"),
        ("mae", CLS, "regression targets"),
        ("huber", CLS, "regression targets"),
        ("huber(delta=0)", REG, "delta"),
        ("focal(gamma=-1)", CLS, "gamma"),
    ],
)
def test_wrong_pairings_fail_with_a_clear_message(spec, ctx, match):
    with pytest.raises(ConfigError, match=match):
        make_loss(spec, ctx)


def test_every_loss_trains_a_few_steps():
    """Each registered loss gives a finite loss that decreases on its kind of task."""
    torch.manual_seed(0)
    for entry in LOSSES:
        binary = entry.name.startswith("bce")
        reg = entry.name in ("mae", "rmse", "huber")
        ctx = (
            REG if reg else LossContext("classification", 2 if binary else 5, torch.full((2 if binary else 5,), 25.0))
        )  # counts: the class-aware losses need them
        n_out = 1 if reg or binary else ctx.num_classes
        x = torch.randn(128, 4)
        y = x[:, 0] * 2 if reg else (x[:, 0] > 0).long() if binary else (x[:, :2].sum(1) > 0).long() + 2 * (x[:, 2] > 0)
        model = torch.nn.Linear(4, n_out)
        loss = make_loss(entry.name, ctx)
        opt = torch.optim.Adam(model.parameters(), lr=0.05)
        first = loss(model(x), y).item()
        for _ in range(30):
            opt.zero_grad()
            loss(model(x), y).backward()
            opt.step()
        assert math.isfinite(first) and loss(model(x), y).item() < first, entry.name


def test_expected_initial_loss_for_focal_is_met_by_uniform_outputs(logits):
    _, y = logits
    uniform = torch.zeros(len(y), 5)
    value = make_loss("focal(gamma=2,alpha=0.5)", CLS)(uniform, y).item()
    assert math.isclose(value, expected_initial_loss("focal(gamma=2,alpha=0.5)", CLS), rel_tol=1e-6)


def test_nt_xent_matches_its_formula():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(6, 3, generator=g), torch.randn(6, 3, generator=g)
    tau = 0.5
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = (z @ z.T / tau).exp()
    total = 0.0
    for i in range(12):  # the per-anchor sum of the docstring, written out
        pos = (i + 6) % 12
        total += -math.log(sim[i, pos] / (sim[i].sum() - sim[i, i]))
    assert math.isclose(nt_xent(z1, z2, tau).item(), total / 12, rel_tol=1e-5)
    aligned = nt_xent(z1, z1 * 3, tau)  # both views agree (scale does not matter)
    assert aligned < nt_xent(z1, z2, tau)
