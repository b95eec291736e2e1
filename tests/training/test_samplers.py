"""data.sampler: class shares of the draws, seeding, and exact resume with a sampler and LDAM-DRW."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import trainlab
from tests.test_resume import SignalAt, assert_same_run, cfg, idx_dir  # noqa: F401  (fixture)
from trainlab.errors import ConfigError
from trainlab.training.samplers import make_sampler

Y = torch.tensor([0] * 900 + [1] * 90 + [2] * 10)


@pytest.mark.parametrize(
    ("spec", "share"), [("balanced", [1 / 3] * 3), ("sqrt", [30 / 42.6, 9.49 / 42.6, 3.16 / 42.6])]
)
def test_draws_follow_the_class_shares(spec: str, share: list[float]) -> None:
    s = make_sampler(spec, Y, 3, seed=0)
    assert s.class_share(3, Y).tolist() == pytest.approx(share, abs=2e-3)
    drawn = torch.cat([s.order(len(Y), torch.Generator()) for _ in range(20)])
    assert drawn.dtype == torch.long and len(drawn) == 20 * len(Y)
    assert (torch.bincount(Y[drawn], minlength=3) / len(drawn)).tolist() == pytest.approx(share, abs=0.02)


def test_uniform_is_the_plain_shuffle_and_draws_are_seeded() -> None:
    assert make_sampler("uniform", Y, 3, 0) is None
    a, b = make_sampler("balanced", Y, 3, 7), make_sampler("balanced", Y, 3, 7)
    assert torch.equal(a.order(100, torch.Generator()), b.order(100, torch.Generator()))
    with pytest.raises(ConfigError, match="choose one of: balanced, sqrt, uniform"):
        make_sampler("balance", Y, 3, 0)


@pytest.fixture(scope="module")
def sampled(idx_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> trainlab.Run:  # noqa: F811
    """A never-stopped run with a long tail, a balanced sampler and LDAM-DRW (the loss changes at epoch 2)."""
    return trainlab.train(imbalanced(idx_dir, tmp_path_factory.mktemp("ref")))


def imbalanced(idx_dir: Path, runs: Path) -> dict:  # noqa: F811
    return cfg(
        idx_dir,
        runs,
        data__imbalance="exp(ratio=4)",
        data__sampler="balanced",
        loss__name="ldam(s=5,drw_epoch=1)",
        eval__logit_adjust=0.5,
    )


@pytest.mark.parametrize("epoch", [0, 1])  # mid-epoch 1; mid-epoch 2, after the switch to re-weighting
def test_resume_with_a_sampler_is_bit_identical(
    idx_dir: Path,  # noqa: F811
    tmp_path: Path,
    sampled: trainlab.Run,
    epoch: int,
) -> None:
    per_epoch = -(-sampled.summary["data"]["train"] // 32)
    stop_step = epoch * per_epoch + 2
    run = trainlab.train(imbalanced(idx_dir, tmp_path / "runs"), callbacks=[SignalAt(stop_step)])
    assert run.summary["status"] == "interrupted" and run.summary["steps"] == stop_step
    trainlab.resume(run.path)
    assert_same_run(sampled, run.path)
    s = sampled.summary
    assert (
        s["data"]["train"] < 270 and {"test_balanced_accuracy", "test_macro_f1", "test_g_mean", "per_class"} <= s.keys()
    )
