"""The LR range test: a sensible suggestion, divergence stops it, and the model and optimizer come back unchanged."""

from __future__ import annotations

import math

import pytest
import torch

from trainlab.build import build, make_trainer, setup
from trainlab.config import Config
from trainlab.diagnose.lr_find import (
    LRFindOptions,
    LRFindResult,
    centered_average,
    lr_range_test,
    steepest,
    valley,
)
from trainlab.errors import ConfigError
from trainlab.training.events import Callback


def digits(**overrides: object):
    cfg = Config.from_dict(
        {"threads": 1, "data": {"name": "digits", "val": 0}, "model": {"hidden": [32]}, "optim": {"batch_size": 64}}
    )
    return setup(cfg.replace(**overrides))


def test_suggestion_and_full_restore(tmp_path) -> None:
    s = digits(**{"optim.name": "sgd(momentum=0.9)", "optim.lr": 0.05})
    before = {k: v.clone() for k, v in s.model.state_dict().items()}
    rng = torch.get_rng_state()
    res = lr_range_test(s, LRFindOptions(start=1e-5, end=1000, steps=60), make_trainer=make_trainer)
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
    with pytest.raises(ConfigError, match="start=1 and end=0.1"):
        LRFindOptions(start=1, end=0.1)
    with pytest.raises(ConfigError, match="steps=1 must be at least 2"):
        LRFindOptions(steps=1)
    with pytest.raises(ConfigError, match="unknown lr suggestion 'steep'"):
        LRFindOptions(method="steep")


# --- every key means in lr-find what it means in train: the test runs on the builder's Trainer ---

STEPS = 12


class Spy(Callback):
    """Sees the trainer the range test drives, as a training run's callback would, after every step."""

    def __init__(self) -> None:
        self.trainer: object = None
        self.grad_norms: list[float] = []
        self.l1_norms: list[float] = []
        self.labels: list[torch.Tensor] = []

    def on_batch_end(self, trainer) -> None:  # type: ignore[no-untyped-def]
        self.trainer = trainer
        grads = [p.grad for p in trainer.model.parameters() if p.grad is not None]  # this step's (clipped) gradients
        self.grad_norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))
        self.l1_norms.append(sum(float(p.detach().abs().sum()) for p in trainer.model.parameters() if p.ndim > 1))
        if trainer.batch_index == 0:  # the epoch's order: randperm, or the sampler's draw
            self.labels.append(trainer.data.train.y[trainer.perm])


def find(**overrides: object) -> tuple[LRFindResult, Spy, list[torch.Tensor]]:
    """The range test of digits with ``overrides``, a spy among the trainer's callbacks and the inputs the model saw."""
    s = digits(**overrides)
    spy, inputs = Spy(), []
    hook = s.model.register_forward_pre_hook(lambda _m, args: inputs.append(args[0].detach().clone()))
    try:
        res = lr_range_test(
            s,
            LRFindOptions(start=1e-4, end=1.0, steps=STEPS),
            make_trainer=lambda setup_, cbs: make_trainer(setup_, [*cbs, spy]),
        )
    finally:
        hook.remove()
    return res, spy, inputs


def trained(**overrides: object):  # type: ignore[no-untyped-def]
    """The Trainer `trainlab train` builds for the same keys."""
    return build(
        Config.from_dict(
            {"threads": 1, "data": {"name": "digits", "val": 0}, "model": {"hidden": [32]}, "optim": {"batch_size": 64}}
        ).replace(**overrides)
    )[1]


def test_precision_bf16_runs_the_forward_pass_in_bfloat16() -> None:
    dtypes: list[torch.dtype] = []
    for precision in ("fp32", "bf16"):
        s = digits(**{"train.precision": precision})
        hook = s.model.out.register_forward_hook(lambda _m, _a, out: dtypes.append(out.dtype))
        res = lr_range_test(s, LRFindOptions(start=1e-4, end=1.0, steps=STEPS), make_trainer=make_trainer)
        hook.remove()
        assert len(res.losses) == STEPS
    assert dtypes[:STEPS] == [torch.float32] * STEPS and dtypes[STEPS:] == [torch.bfloat16] * STEPS
    assert trained(**{"train.precision": "bf16"}).precision == "bf16"  # the same key, the same trainer setting


def test_data_augment_changes_the_inputs_the_model_sees() -> None:
    plain_res, _, plain = find()
    noisy_res, spy, noisy = find(**{"data.augment": ["noise(std=0.5)"]})
    rows = {tuple(r.tolist()) for r in spy.trainer.data.train.x.flatten(1)}  # type: ignore[attr-defined]
    assert all(tuple(r.tolist()) in rows for r in plain[0].flatten(1))  # without: the training rows themselves
    assert not any(tuple(r.tolist()) in rows for r in noisy[0].flatten(1))  # with: every row moved by noise
    assert noisy_res.losses != plain_res.losses
    in_train = trained(**{"data.augment": ["noise(std=0.5)"]}).augment
    assert type(spy.trainer.augment) is type(in_train)  # type: ignore[attr-defined]


def test_loss_l1_shrinks_the_weights_during_the_test() -> None:
    plain_res, plain, _ = find()
    l1_res, spy, _ = find(**{"loss.l1": 1e-2})
    assert spy.trainer.l1 == trained(**{"loss.l1": 1e-2}).l1 == 1e-2  # type: ignore[attr-defined]
    assert l1_res.losses[0] == plain_res.losses[0]  # the first loss is measured before any step
    assert spy.l1_norms[-1] < plain.l1_norms[-1]  # the penalty's gradient pulls every weight towards 0


def test_optim_clip_grad_caps_every_step_gradient() -> None:
    _, plain, _ = find()
    _, spy, _ = find(**{"optim.clip_grad": 0.05})
    assert min(plain.grad_norms) > 0.05  # unclipped, the gradients are larger than the cap ...
    assert max(spy.grad_norms) <= 0.05 * (1 + 1e-4)  # ... clipped to it in every step of the range test
    assert trained(**{"optim.clip_grad": 0.05}).clip_grad == spy.trainer.clip_grad == 0.05  # type: ignore[attr-defined]


def test_data_sampler_balanced_draws_the_classes_equally() -> None:
    skewed = {"data.imbalance": "exp(ratio=20)"}
    _, plain, _ = find(**skewed)
    _, spy, _ = find(**skewed, **{"data.sampler": "balanced"})
    share = lambda y: torch.bincount(y, minlength=10).double() / len(y)  # noqa: E731
    assert share(plain.labels[0])[0] > 0.25 and share(plain.labels[0])[9] < 0.03  # randperm: the long tail's shares
    assert (share(spy.labels[0]) - 0.1).abs().max() < 0.05  # balanced: every class about a tenth
    in_train = trained(**skewed, **{"data.sampler": "balanced"}).sampler
    assert type(spy.trainer.sampler) is type(in_train)  # type: ignore[attr-defined]
