"""The speed paths of the loop: bf16 autocast (train.precision), fused Adam, per-batch gathers."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import trainlab
from tests.conftest import quick
from trainlab.errors import ConfigError
from trainlab.training.loop import Callback, Trainer
from trainlab.training.optim import adam, adamw


class OutputDtypes(Callback):
    """Records the dtype of the model's output on training batches."""

    def __init__(self) -> None:
        self.dtypes: set[torch.dtype] = set()
        self.handle = None

    def on_fit_start(self, t: Trainer) -> None:
        self.handle = t.model.register_forward_hook(
            lambda m, a, out: self.dtypes.add(out.dtype) if m.training else None
        )

    def on_fit_end(self, t: Trainer) -> None:
        self.handle.remove()


def test_bf16_trains_in_bfloat16_and_keeps_float32_weights(runs_dir: Path) -> None:
    rec = OutputDtypes()
    cfg = quick(
        runs_dir,
        output__report=False,
        threads=1,
        train__precision="bf16",
        train__epochs=2,
        data__limit=400,
        train__nan_guard=False,
    )
    run = trainlab.train(cfg, callbacks=[rec])
    assert rec.dtypes == {torch.bfloat16}
    assert all(p.dtype == torch.float32 for p in run.model.parameters())
    assert run.history[-1]["train_loss"] < run.summary["initial_loss"]


def test_fp32_is_the_default_and_other_precisions_are_refused(runs_dir: Path) -> None:
    rec = OutputDtypes()
    trainlab.train(quick(runs_dir, output__report=False, threads=1, train__epochs=1), callbacks=[rec])
    assert rec.dtypes == {torch.float32}
    with pytest.raises(ConfigError, match="fp16"):
        trainlab.train(quick(runs_dir, output__report=False, train__precision="fp16"))


def test_adam_and_adamw_use_the_fused_step_when_they_can() -> None:
    model = torch.nn.Linear(4, 2)
    assert adam(model.parameters(), 1e-3, 0.0).defaults["fused"] is True
    assert adamw(model.parameters(), 1e-3, 0.0).defaults["fused"] is True
    groups = [{"params": [model.weight]}, {"params": [model.bias], "lr": 0.1}]  # groups: torch's default choice
    assert not adam(groups, 1e-3, 0.0).defaults["fused"]
    fused = model.weight.detach().clone().requires_grad_()
    plain = model.weight.detach().clone().requires_grad_()
    opts = [adam([fused], 1e-2, 0.0), torch.optim.Adam([plain], lr=1e-2)]
    for _ in range(5):
        for p, opt in zip((fused, plain), opts):
            p.grad = torch.ones_like(p) * 0.3
            opt.step()
    torch.testing.assert_close(fused, plain)  # the same algorithm, to float rounding


def test_every_example_is_seen_once_per_epoch(runs_dir: Path) -> None:
    seen: list[torch.Tensor] = []

    class Labels(Callback):
        def on_fit_start(self, t: Trainer) -> None:
            self.handle = t.model.register_forward_hook(
                lambda m, a, out: seen.append(a[0].flatten(1).sum(1)) if m.training else None
            )

        def on_fit_end(self, t: Trainer) -> None:
            self.handle.remove()

    run = trainlab.train(
        quick(runs_dir, output__report=False, threads=1, train__epochs=1, optim__batch_size=50), callbacks=[Labels()]
    )
    from trainlab.build import setup

    s = setup(run.config)
    expected = torch.sort(s.data.train.x.flatten(1).sum(1)).values
    torch.testing.assert_close(torch.sort(torch.cat(seen)).values, expected)
