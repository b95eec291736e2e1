"""The cnn model: block syntax, shape arithmetic, 1-D switching, receptive fields, summary, training."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from torch import nn

import trainlab
from trainlab.cli import main
from trainlab.config import load_config
from trainlab.errors import ConfigError
from trainlab.nn.cnn import block_shapes, conv_out, parse_block
from trainlab.nn.models import build_model, describe
from trainlab.nn.summary import layer_table, receptive_fields, summarize

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def cnn(blocks: list, input_shape: tuple[int, ...], out: int = 10, **model: object) -> nn.Module:
    """Build a cnn for ``input_shape`` from ``blocks`` (and other model.* values)."""
    cfg = load_config(
        None,
        {
            "model.name": "cnn",
            "model.blocks": blocks,
            "model.hidden": [],
            **{f"model.{k}": v for k, v in model.items()},
        },
    )
    return build_model(cfg.model, input_shape, out)


def formula(n: int, k: int, s: int, p: int) -> int:
    """The textbook output size (W − F + 2P) / S + 1, floored."""
    return (n - k + 2 * p) // s + 1


@pytest.mark.parametrize(
    ("blocks", "input_shape"),
    [
        (["conv(8,k=3,p=1,pool=max(2))", "conv(16,k=5,s=2,p=2,pool=avg(3,2))"], (1, 28, 28)),
        ([{"conv": 4, "kernel": 7, "stride": 3}, {"conv": 6, "kernel": 2, "pool": "max(2,1)"}], (3, 31, 20)),
        (["conv(25,k=5,s=2,p=1)", "conv(25,k=3,s=2,p=1)", "conv(25,k=3,s=2,p=1)"], (1, 40)),
        (["conv(5,k=4,s=3,p=2,pool=max(3))"], (2, 29)),
    ],
)
def test_block_shapes_follow_the_formula_and_match_torch(blocks: list, input_shape: tuple[int, ...]) -> None:
    parsed = [parse_block(b, i) for i, b in enumerate(blocks)]
    expected, spatial = [], list(input_shape[1:])
    for b in parsed:
        spatial = [formula(n, b.kernel, b.stride, b.padding) for n in spatial]
        if b.pool:
            spatial = [formula(n, b.pool.size, b.pool.stride, 0) for n in spatial]
        expected.append((b.conv, *spatial))
    assert block_shapes(parsed, input_shape) == expected
    model = cnn(blocks, input_shape)
    assert model(torch.zeros(3, *input_shape)).shape == (3, 10)
    rows = {name: shape for name, _, shape, _ in layer_table(model, input_shape)}
    last = [rows[n] for n in rows if n.startswith(f"block{len(blocks)}.")][-1]
    assert last == expected[-1]
    conv_cls = nn.Conv2d if len(input_shape) == 3 else nn.Conv1d
    assert sum(isinstance(m, conv_cls) for m in model.modules()) == len(blocks)


def test_conv_out_is_the_textbook_formula() -> None:
    assert conv_out(32, 5, 1, 0) == 28  # CS231n: 32x32 input, 5x5 filter, stride 1 -> 28
    assert conv_out(7, 3, 2, 0) == 3 and conv_out(7, 3, 2, 1) == 4


def test_string_and_mapping_blocks_build_the_same_network() -> None:
    a = cnn(["conv(8,k=3,s=1,p=1,norm=batch,act=tanh,pool=max(2),dropout=0.1)"], (1, 12, 12))
    b = cnn(
        [
            {
                "conv": 8,
                "kernel": 3,
                "stride": 1,
                "padding": 1,
                "norm": "batch",
                "act": "tanh",
                "pool": "max(2)",
                "dropout": 0.1,
            }
        ],
        (1, 12, 12),
    )
    assert str(a) == str(b)
    kinds = [type(m).__name__ for m in a.block1]
    assert kinds == ["Conv2d", "BatchNorm2d", "Tanh", "MaxPool2d", "Dropout"]
    assert a.block1.conv.bias is None  # the norm's shift replaces it
    # model.act and model.norm are the defaults for blocks that do not name their own
    norm = cnn([{"conv": 4, "norm": {"group": {"groups": 2}}}], (1, 8, 8)).block1.norm  # YAML mapping form
    assert isinstance(norm, nn.GroupNorm) and norm.num_groups == 2
    c = cnn(["conv(4)"], (1, 8, 8), act="elu", norm="group(groups=2)")
    assert [type(m).__name__ for m in c.block1] == ["Conv2d", "GroupNorm", "ELU"]
    d = cnn(["conv(4,norm=batch)"], (1, 8, 8), norm_position="after")
    assert [type(m).__name__ for m in d.block1] == ["Conv2d", "ReLU", "BatchNorm2d"] and d.block1.conv.bias is not None


def test_blocks_override_from_the_command_line() -> None:
    cfg = load_config(None, ["model.name=cnn", "model.blocks=[conv(32,k=3,p=1,pool=max(2)),conv(64,k=3)]"])
    assert cfg.model.blocks == ["conv(32,k=3,p=1,pool=max(2))", "conv(64,k=3)"]
    assert (
        describe(build_model(cfg.model, (1, 28, 28), 10)) == "conv 32-64, fc 9216-256-10"
    )  # 28 -> 28 -> pool 14 -> 12: 64*12*12


def test_shrinking_to_nothing_names_the_shape_at_each_block() -> None:
    with pytest.raises(ConfigError) as err:
        cnn(["conv(8,k=3,pool=max(2))", "conv(16,k=3,pool=max(2))", "conv(32,k=3)"], (1, 8, 8))
    assert str(err.value) == (
        "model.blocks shrink the 1x8x8 input to nothing at block2: input 1x8x8 -> block1 conv(8,k=3,pool=max(2)) 8x3x3"
        " -> block2 conv(16,k=3,pool=max(2)) 16x0x0; use more padding, smaller kernels or strides, or fewer pools"
    )
    with pytest.raises(ConfigError, match=r"input 1x40 -> block1 conv\(4,k=9,s=4\) 4x8 -> block2 conv\(4,k=9\) 4x0"):
        cnn(["conv(4,k=9,s=4)", "conv(4,k=9)"], (1, 40))


@pytest.mark.parametrize(
    ("blocks", "input_shape", "message"),
    [
        (["conv(8,kernal=3)"], (1, 8, 8), "unknown block key 'kernal' (did you mean 'kernel'?)"),
        (["conv(8,pool=min(2))"], (1, 8, 8), "pool='min(2)' is not a pooling"),
        (["conv(8,dropout=1.5)"], (1, 8, 8), "dropout=1.5 must be a probability"),
        (["conv(0)"], (1, 8, 8), "conv=0 must be an integer >= 1"),
        ([{"conv": float("inf")}], (1, 8, 8), "conv=inf must be an integer >= 1"),
        ([{"conv": 8, "kernel": float("nan")}], (1, 8, 8), "kernel=nan must be an integer >= 1"),
        ([{"conv": 8, "kernel": "3"}], (1, 8, 8), "kernel='3' must be an integer >= 1"),
        (["pool(2)"], (1, 8, 8), "a block starts with conv"),
        ([{"kernel": 3}], (1, 8, 8), "missing the channel count"),
        (["conv(8)"], (2,), "needs image (C, H, W) or sequence (C, L) inputs"),
        ([], (1, 8, 8), "model 'cnn' needs model.blocks"),
        (["conv(6,norm=group(groups=4))"], (1, 8, 8), "groups must divide the 6 channels"),
    ],
)
def test_bad_blocks_fail_with_a_clear_message(blocks: list, input_shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        cnn(blocks, input_shape)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("norm", "cls"),
    [
        ("batch", nn.BatchNorm1d),
        ("layer", nn.GroupNorm),
        ("group(groups=2)", nn.GroupNorm),
        ("instance", nn.InstanceNorm1d),
    ],
)
def test_sequence_blocks_normalize_over_channels(norm: str, cls: type) -> None:
    model = cnn([f"conv(4,k=3,p=1,norm={norm})"], (1, 12))
    layer = model.block1.norm
    assert type(layer) is cls
    x = torch.randn(6, 1, 12) * 5 + 3
    model.train()
    h = layer(model.block1.conv(x))
    assert h.shape == (6, 4, 12)
    # each norm's statistics axes, per its definition: batch over (N, L), layer over (C, L), instance over L
    axes = {nn.BatchNorm1d: (0, 2), nn.InstanceNorm1d: (2,)}.get(cls, (1, 2) if norm == "layer" else None)
    if axes is not None:
        assert torch.allclose(h.mean(axes), torch.zeros(()), atol=1e-5)


def test_block_names_are_checked_before_any_data_loads() -> None:
    from trainlab.nn.cnn import check_blocks

    for blocks, message in (
        (["conv(8,act=relu7)"], "model.blocks[0]: unknown activation 'relu7' (did you mean 'relu'?)"),
        (["conv(8)", {"conv": 8, "norm": "batchnorm"}], "model.blocks[1]: unknown norm 'batchnorm'"),
        (["conv(8,stride=0)"], "model.blocks[0]: stride=0 must be an integer >= 1"),
    ):
        cfg = load_config(None, {"model.name": "cnn", "model.blocks": blocks, "data.dir": "/nonexistent"})
        with pytest.raises(ConfigError, match=re.escape(message)):
            check_blocks(cfg.model)
    check_blocks(load_config(None, {"model.name": "mlp"}).model)  # other models: nothing to check


def test_receptive_field_of_known_stacks() -> None:
    vgg = [
        nn.Conv2d(1, 1, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(1, 1, 3, padding=1),
        nn.MaxPool2d(2),
        nn.Conv2d(1, 1, 3),
        nn.Flatten(),
    ]
    assert receptive_fields(vgg, 2) == [(3, 3), (3, 3), (5, 5), (6, 6), (10, 10), None]
    # the MNIST-1D reference CNN: kernels 5, 3, 3 with stride 2 -> 5, 5 + 2*2 = 9, 9 + 2*4 = 17
    seq = [nn.Conv1d(1, 1, 5, 2, 1), nn.Conv1d(1, 1, 3, 2, 1), nn.Conv1d(1, 1, 3, 2, 1)]
    assert receptive_fields(seq, 1) == [(5,), (9,), (17,)]
    assert receptive_fields([nn.Conv2d(1, 1, (3, 5), dilation=2)], 2) == [(5, 9)]


def test_receptive_field_matches_the_gradient_footprint() -> None:
    """The input positions a central output unit depends on span exactly the computed field."""
    layers = [nn.Conv1d(1, 1, 5, 2, 1), nn.AvgPool1d(3, 2), nn.Conv1d(1, 1, 3, 2, 1), nn.Conv1d(1, 1, 3, 1, 0)]
    model = nn.Sequential(*layers)
    with torch.no_grad():
        for m in layers:
            if isinstance(m, nn.Conv1d):
                m.weight.fill_(1.0)
    x = torch.zeros(1, 1, 200, requires_grad=True)
    out = model(x)
    out[0, 0, out.shape[-1] // 2].backward()
    touched = x.grad[0, 0].nonzero().flatten()
    assert int(touched.max() - touched.min() + 1) == receptive_fields(layers, 1)[-1][0]


def test_summary_shows_shapes_params_and_receptive_field() -> None:
    model = cnn(["conv(8,k=3,p=1,pool=max(2))", "conv(16,k=3,p=1,pool=max(2))"], (1, 28, 28), hidden=[32])
    text = summarize(model, (1, 28, 28))
    lines = {line.split()[0]: line.split() for line in text.splitlines() if line.strip()}
    assert lines["block1.conv"][1:] == ["Conv2d", "(8,", "28,", "28)", "80", "3x3"]
    assert lines["block1.pool"][-1] == "4x4"
    assert lines["block2.conv"][-2:] == ["1,168", "8x8"]
    assert lines["block2.pool"][-1] == "10x10"
    assert lines["fc1"][-2:] == ["25,120", "all"]
    assert "receptive field of the last conv features: 10x10 of the 28x28 input" in text
    seq = summarize(cnn(["conv(4,k=5,s=2,p=1)", "conv(4,k=3,s=2,p=1)"], (1, 40)), (1, 40))
    assert "receptive field of the last conv features: 9 of 40 input steps" in seq
    # an mlp summary has no receptive-field column
    mlp = build_model(load_config(None, {"model.hidden": [4]}).model, (1, 8, 8), 10)
    assert "receptive" not in summarize(mlp, (1, 8, 8))


def test_presets_build_the_documented_networks() -> None:
    fashion = load_config(CONFIGS / "cnn-fashion.yaml")
    model = build_model(fashion.model, (1, 28, 28), 10)
    assert sum(isinstance(m, nn.Conv2d) for m in model.modules()) == 2
    m1d = load_config(CONFIGS / "cnn-mnist1d.yaml")
    assert m1d.data.name == "mnist1d" and m1d.optim.lr == 1e-2 and m1d.optim.batch_size == 100
    model = build_model(m1d.model, (1, 40), 10)
    shapes = [shape for name, _, shape, _ in layer_table(model, (1, 40)) if name.endswith(".conv")]
    assert shapes == [(25, 19), (25, 10), (25, 5)]
    convs = [m for m in model.modules() if isinstance(m, nn.Conv1d)]
    assert [(c.kernel_size[0], c.stride[0], c.padding[0]) for c in convs] == [(5, 2, 1), (3, 2, 1), (3, 2, 1)]


def test_setup_stores_2d_convs_channels_last_after_init(idx_dir: Path) -> None:
    from trainlab.build import setup

    over = {
        "threads": 1,
        "data.dir": str(idx_dir),
        "model.name": "cnn",
        "model.blocks": ["conv(4,p=1,pool=max(2))", "conv(6,p=1)"],
        "model.init": "orthogonal",
    }
    s = setup(load_config(None, over))  # orthogonal init reshapes weights with view: it must run first
    weight = s.model.block2.conv.weight  # (6, 4, 3, 3); with one input channel both layouts coincide
    assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
    w2d = weight.detach().reshape(6, -1)
    assert torch.allclose(w2d @ w2d.T, torch.eye(6), atol=1e-5)  # still orthogonal rows
    assert s.model(s.data.test.x[:5]).shape == (5, 10)


def test_tiny_cnn_trains_on_idx_files_and_the_summary_command_runs(
    idx_dir: Path, runs_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    blocks = ["conv(8,k=3,p=1,pool=max(2))", "conv(16,k=3,p=1,pool=max(4))"]
    cfg = {
        "threads": 1,
        "data": {"name": "fashion-mnist", "dir": str(idx_dir), "val": 0, "augment": ["shift(1)"]},
        "model": {"name": "cnn", "blocks": blocks, "hidden": [32]},
        "optim": {"lr": 3e-3, "batch_size": 32},
        "train": {"epochs": 4, "checkpoint": False},
        "output": {"dir": str(runs_dir)},
    }
    run = trainlab.train(cfg)
    losses = [m["train_loss"] for m in run.history]
    assert run.summary["status"] == "completed" and losses[-1] < 0.5 * losses[0]
    assert run.summary["test_accuracy"] > 0.5  # chance is 0.1
    assert "model cnn conv 8-16, fc 144-32-10" in run.summary["header"]
    code = main(
        ["summary", "--data-dir", str(idx_dir), "model.name=cnn", f"model.blocks=[{','.join(blocks)}]", "threads=1"]
    )
    out = capsys.readouterr().out
    assert code == 0 and "receptive field" in out and "block2.pool" in out
