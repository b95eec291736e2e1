"""Optimizers (each steps downhill, options reach torch), schedules (LR sequences), warmup, L1, early stopping."""

from __future__ import annotations

import math

import pytest
import torch

from tests.conftest import quick
from trainlab import api
from trainlab.build import setup
from trainlab.config import Config
from trainlab.errors import ConfigError
from trainlab.training.optim import OPTIMIZERS, SCHEDULES, make_optimizer, make_schedule


def _opt(spec: str, lr: float = 0.1, weight_decay: float = 0.0, p: torch.nn.Parameter | None = None):
    cfg = Config.from_dict({"optim": {"name": spec, "lr": lr, "weight_decay": weight_decay}}).optim
    return make_optimizer(cfg, [p if p is not None else torch.nn.Parameter(torch.ones(3))])


@pytest.mark.parametrize("spec", OPTIMIZERS.names() + ["sgd(momentum=0.9,nesterov=true)", "rmsprop(momentum=0.5)"])
def test_every_optimizer_descends_a_quadratic(spec):
    p = torch.nn.Parameter(torch.tensor([3.0, -2.0]))
    opt = _opt(spec, lr=0.2, p=p)
    for _ in range(50):
        opt.zero_grad()
        (p**2).sum().backward()
        opt.step()
    assert (p**2).sum().item() < 13 * 0.5


def test_options_reach_torch():
    g = _opt("sgd(momentum=0.9,nesterov=true)").param_groups[0]
    assert (g["momentum"], g["nesterov"]) == (0.9, True)
    assert _opt("adam(beta1=0.8)").param_groups[0]["betas"] == (0.8, 0.999)
    assert (
        isinstance(_opt("adamw"), torch.optim.AdamW)
        and _opt("adamw", weight_decay=0.1).param_groups[0]["weight_decay"] == 0.1
    )
    assert _opt("adagrad").param_groups[0]["eps"] == 1e-10
    with pytest.raises(ConfigError, match="has no parameter 'beta3'"):
        _opt("adam(beta3=1)")


def test_plain_sgd_step_is_lr_times_gradient():
    p = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    opt = _opt("sgd", lr=0.1, p=p)
    (p**2).sum().backward()  # gradient 2p
    opt.step()
    assert torch.allclose(p.detach(), torch.tensor([0.8, 1.6]))


def test_gd_is_full_batch_and_sgd_allows_batch_1(runs_dir):
    s = setup(Config.from_dict(quick(runs_dir, optim__name="gd")))
    assert s.batch_size == len(s.data.train) and s.config.optim.batch_size == "full"
    s1 = setup(Config.from_dict(quick(runs_dir, optim__name="sgd", optim__batch_size=1)))
    assert s1.batch_size == 1


def _lrs(spec: str, epochs: int = 6, steps: int = 2, warmup: float = 0.0, metric: float = 1.0) -> list[float]:
    """The learning rate used by every step of a run."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    sched = make_schedule(spec, opt, epochs, steps, warmup)
    out = []
    for _ in range(epochs):
        for _ in range(steps):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.after_step()
        sched.after_epoch(metric)
    return out


def _per_epoch(values: list[float], steps: int = 2) -> list[float]:
    return values[::steps]


def test_schedule_lr_sequences():
    assert _lrs("none") == [1.0] * 12
    assert _per_epoch(_lrs("step(step_size=2,gamma=0.5)")) == pytest.approx([1, 1, 0.5, 0.5, 0.25, 0.25])
    assert _lrs("step(step_size=2,gamma=0.5)")[:5] == pytest.approx([1, 1, 1, 1, 0.5])  # drops at the epoch boundary
    assert _per_epoch(_lrs("multistep(milestones=[1,4],gamma=0.1)")) == pytest.approx([1, 0.1, 0.1, 0.1, 0.01, 0.01])
    assert _lrs("exponential(gamma=0.25)") == pytest.approx([0.25 ** (t / 2) for t in range(12)])
    assert _lrs("cosine(min_lr=0.1)") == pytest.approx(
        [0.1 + 0.9 * (1 + math.cos(math.pi * t / 12)) / 2 for t in range(12)]
    )
    cycle = _lrs("one_cycle(max_lr=2)", epochs=10)  # 20 steps: the peak is step pct_start * 20 - 1
    assert cycle[0] == pytest.approx(2 / 25) and max(cycle) == pytest.approx(2.0) and cycle[-1] < 0.01
    assert cycle.index(max(cycle)) == 5
    # plateau: a metric that never improves cuts the LR by factor after patience epochs
    assert _per_epoch(_lrs("plateau(factor=0.5,patience=1)")) == pytest.approx([1, 1, 1, 0.5, 0.5, 0.25])


def test_warmup_combines_with_the_other_schedules():
    # 1 epoch = 2 steps of warmup: lr * (1/W + (1 - 1/W) t / W), then the schedule from its start
    assert _lrs("none", warmup=1)[:4] == pytest.approx([0.5, 0.75, 1.0, 1.0])
    assert _lrs("step(step_size=2,gamma=0.5)", warmup=1) == pytest.approx(
        [0.5, 0.75] + [1.0] * 4 + [0.5] * 4 + [0.25] * 2
    )
    cos = _lrs("cosine", warmup=1)
    assert cos[2] == pytest.approx(1.0) and cos[2:] == pytest.approx(
        [(1 + math.cos(math.pi * t / 10)) / 2 for t in range(10)]
    )
    # plateau watches from the end of warmup: best at epoch 1, two epochs without improvement, cut
    assert _per_epoch(_lrs("plateau(factor=0.5,patience=1)", warmup=1)) == pytest.approx([0.5, 1, 1, 0.5, 0.5, 0.25])
    with pytest.raises(ConfigError, match="own warmup"):
        _lrs("one_cycle", warmup=1)
    with pytest.raises(ConfigError, match="not shorter"):
        _lrs("none", warmup=6)
    assert set(SCHEDULES.names()) == {"none", "step", "multistep", "exponential", "cosine", "one_cycle", "plateau"}


def test_schedule_state_round_trips():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    a = make_schedule("cosine", opt, 4, 3, 1.0)
    for _ in range(5):
        opt.step()
        a.after_step()
    opt2 = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    b = make_schedule("cosine", opt2, 4, 3, 1.0)
    opt2.load_state_dict(opt.state_dict())
    b.load_state_dict(a.state_dict())
    for _ in range(3):
        opt.step(), a.after_step(), opt2.step(), b.after_step()
    assert opt.param_groups[0]["lr"] == pytest.approx(opt2.param_groups[0]["lr"]) and b.steps == 8


def test_l1_is_reported_separately_and_shrinks_weights(runs_dir):
    plain = api.train(quick(runs_dir, train__epochs=3, threads=1, output__report=False), handle_signals=False)
    l1 = api.train(
        quick(runs_dir, train__epochs=3, threads=1, loss__l1=1e-3, output__report=False), handle_signals=False
    )
    assert "train_l1" not in plain.history[0]
    assert all(m["train_l1"] > 0 for m in l1.history)
    norm = lambda run: sum(p.abs().sum().item() for n, p in run.model.named_parameters() if p.ndim > 1)  # noqa: E731
    assert norm(l1) < norm(plain)
    assert "train_l1" in (l1.path / "metrics.csv").read_text().splitlines()[0]


def test_early_stopping_keys(runs_dir):
    cfg = quick(
        runs_dir,
        train__epochs=30,
        train__patience=2,
        train__min_delta=10.0,
        train__restore_best=True,
        threads=1,
        output__report=False,
    )
    run = api.train(cfg, handle_signals=False)  # no improvement can exceed min_delta=10: stops after 1 + patience
    assert run.summary["epochs"] == 3 and "early stopping" in run.summary["stop_reason"]
    with pytest.raises(ConfigError, match="train.monitor='val_r2' is not measured"):
        api.train(
            quick(runs_dir, train__patience=2, train__monitor="val_r2", output__report=False), handle_signals=False
        )


def test_clip_grad_bounds_each_step(runs_dir):
    """One full-batch SGD step with lr 1 and clip_grad 0.01 moves the weights by at most 0.01 in norm."""
    cfg = Config.from_dict(
        quick(runs_dir, optim__name="gd", optim__lr=1.0, optim__clip_grad=0.01, train__epochs=1, threads=1)
    )
    s = setup(cfg)
    before = torch.cat([p.detach().flatten().clone() for p in s.model.parameters()])
    from trainlab.training.loop import StepOptions, Trainer

    Trainer(s.model, s.data, s.loss, s.optimizer, 1, s.batch_size, options=StepOptions(clip_grad=0.01)).fit()
    after = torch.cat([p.detach().flatten() for p in s.model.parameters()])
    assert 0.0099 < (after - before).norm().item() <= 0.01 + 1e-6
