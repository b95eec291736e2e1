"""lr-find and the doctor on a pretraining config: the run's views, NT-Xent's expected start, no shape errors."""

from __future__ import annotations

import math

from trainlab.build import make_trainer, setup
from trainlab.config import Config
from trainlab.data.augment import TwoViews
from trainlab.diagnose.checks import (
    check_initial_loss,
    check_overfit,
    run_checks,
    subject_from_setup,
)
from trainlab.diagnose.lr_find import LRFindOptions, lr_range_test


def simclr(**overrides: object):  # type: ignore[no-untyped-def]
    cfg = Config.from_dict(
        {
            "threads": 1,
            "data": {"name": "digits", "val": 0},
            "model": {"hidden": [32, 16]},
            "optim": {"batch_size": 64},
            "pretrain": {"method": "simclr", "views": ["shift(1)", "noise(0.1)"]},
        }
    )
    return setup(cfg.replace(**overrides))


def test_lr_find_scores_nt_xent_on_the_runs_views() -> None:
    s = simclr()
    assert isinstance(s.augment, TwoViews)
    rows: list[int] = []
    views = s.augment

    def spy(x):  # type: ignore[no-untyped-def]
        out = views(x)
        rows.append(len(out))
        return out

    s.augment = spy  # type: ignore[assignment]
    res = lr_range_test(s, LRFindOptions(start=1e-6, end=1.0, steps=12), make_trainer=make_trainer)
    assert rows and all(r == 2 * 64 for r in rows[:-1]) and len(rows) == len(res.losses)  # two views of each batch
    # NT-Xent over 2N = 128 rows starts near ln(127) (4.84) at the smallest rate; raw half-batches would give ln(63)
    assert abs(res.losses[0] - math.log(127)) < 0.5, res.losses[0]


def test_doctor_checks_a_simclr_run_with_its_views() -> None:
    s = simclr()
    sub = subject_from_setup(s, make_trainer)
    initial = check_initial_loss(sub)
    n = min(2048, len(s.data.train))
    assert initial.passed and initial.measured["expected"] == math.log(2 * n - 1), initial.summary
    assert f"ln(2x{n}-1)" in initial.summary
    overfit = check_overfit(sub)
    assert overfit.passed and overfit.summary.startswith("skipped: nt_xent") and overfit.measured["skipped"]
    results = run_checks(sub, lr_steps=12, overfit_steps=5)  # used to raise ValueError about nt_xent shapes
    assert [r.name for r in results][-1] == "LR range test" and len(results) == 8


def test_doctor_judges_an_autoencoder_by_its_loss_alone() -> None:
    s = simclr(**{"pretrain.method": "autoencoder", "pretrain.views": [], "model.hidden": [128, 64]})
    sub = subject_from_setup(s, make_trainer)
    assert sub.views is None and sub.expected_loss is None
    result = check_overfit(sub)
    assert result.passed and "accuracy" not in result.summary, result.summary
