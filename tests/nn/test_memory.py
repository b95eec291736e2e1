"""One memory plan per run (nn/memory.py): counted without allocating, refused in one line before a run folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from trainlab.build import run_memory, setup, stack_fits
from trainlab.cli import main
from trainlab.config import load_config
from trainlab.nn.memory import layer_outputs, plan_memory
from trainlab.nn.models import build_model, model_memory
from trainlab.nn.ssl import make_pretraining

DIGITS = ["data.name=digits", "threads=1", "train.epochs=1"]


@pytest.mark.parametrize(
    ("args", "part"),
    [
        (["pretrain.method=simclr(proj=[5000000,64])"], "1,605,016,704 parameters"),  # the projection head
        (["pretrain.method=autoencoder(hidden=[3000000])"], "963,016,704 parameters"),  # the decoder
        (
            ["data.augment=[shift(2000)]"],
            "for the augmented batch (shift(2000) pads 256 inputs of 1x8x8 to 1x4008x4008)",
        ),
        (["pretrain.method=simclr", "pretrain.views=[shift(2000)]"], "for the augmented batch (shift(2000) pads"),
        (["model.name=cnn", "model.blocks=[conv(8,k=3,p=400,pool=max(100))]"], "evaluation batch's widest layer"),
        (
            ["model.name=cnn", "model.blocks=[conv(8,k=3,p=400,pool=max(100))]", "train.eval_batch_size=16"],
            "for one training batch of 256 rows (each layer's output, forward and backward)",
        ),
    ],
)
def test_a_run_over_its_memory_plan_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, args: list[str], part: str
) -> None:
    monkeypatch.setenv("TRAINLAB_MAX_MODEL_BYTES", "4e9")
    assert main(["train", *args, *DIGITS, f"output.dir={tmp_path / 'runs'}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: this run needs ") and err.count("\n") == 1, err
    assert part in err and "only 4.0 GB is available" in err and "TRAINLAB_MAX_MODEL_BYTES" in err, err
    assert not (tmp_path / "runs").exists()  # refused before a run folder exists


def test_a_baseline_over_its_estimate_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAINLAB_MAX_MODEL_BYTES", "1e9")
    args = ["baselines", "mlp_classifier(hidden=[5000000])", "data.name=digits", f"output.dir={tmp_path / 'runs'}"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "mlp_classifier 64-5000000-10 has 375,000,010 weights" in err, err
    assert "only 1.0 GB is available" in err and not (tmp_path / "runs").exists()


def test_the_plan_counts_what_the_built_run_holds() -> None:
    cfg = load_config(None, ["pretrain.method=simclr(proj=[32,16])", "model.hidden=[24,12]"])
    plan = plan_memory(
        cfg.model,
        (1, 8, 8),
        10,
        optimizer_states=2,
        batch_size=5,
        eval_batch_size=7,
        pretrain="simclr(proj=[32,16])",
        views=2,
    )
    wrapper, _ = make_pretraining("simclr(proj=[32,16])", build_model(cfg.model, (1, 8, 8), 10), (1, 8, 8), [24, 12])
    params = sum(p.numel() for p in wrapper.parameters())
    assert plan.parameters == params and plan.weights == params * 5 * 4  # the head counted with the encoder
    assert plan.parameters > model_memory(cfg.model, (1, 8, 8), 10)[0]
    # the meta forward's layer outputs equal a real forward's: 24, relu 24, 12, relu 12, head 32, relu 32, 16
    assert layer_outputs(wrapper.to("meta"), (1, 8, 8)) == [24, 24, 12, 12, 32, 32, 16]
    assert plan.activations == 2 * 10 * (64 + 152) * 4 and plan.similarity == 3 * 10 * 10 * 4
    assert plan.evaluation == 7 * 2 * (64 + 24) * 4  # the widest pair: the 64 inputs into the first layer, its 24


def test_a_stack_holds_only_the_members_that_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_config(None, DIGITS)
    s = setup(cfg)
    assert s.memory is not None and s.memory.total == run_memory(s.config, s.data, 10).total > 0
    monkeypatch.setenv("TRAINLAB_MAX_MODEL_BYTES", str(int(s.memory.total * 1.5)))
    assert stack_fits(s) == 1  # two would not fit: each trains alone
    monkeypatch.setenv("TRAINLAB_MAX_MODEL_BYTES", str(s.memory.total * 4))
    assert stack_fits(s) == 4
    assert torch.get_num_threads() == 1
