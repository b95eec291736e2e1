"""Models on tiny data: shapes, inits, dropout behaviour in train vs eval."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainlab.config import ModelConfig
from trainlab.errors import ConfigError
from trainlab.nn.init import expected_std
from trainlab.nn.models import build_model, count_params, describe


def test_reference_mlp_shape_and_init() -> None:
    torch.manual_seed(0)
    m = build_model(ModelConfig(), (1, 28, 28), 10)
    assert describe(m) == "784-256-10" and count_params(m) == 784 * 256 + 256 + 256 * 10 + 10
    assert m(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    assert torch.count_nonzero(m.fc1.bias) == 0 and torch.count_nonzero(m.out.bias) == 0
    std = float(m.fc1.weight.detach().std())
    assert std == pytest.approx(expected_std("kaiming_normal", 784, 256), rel=0.03)  # sqrt(2/784)


def test_mlp_depth_width_activation() -> None:
    m = build_model(ModelConfig(hidden=[16, 8, 4], act="tanh"), (5,), 3)
    assert describe(m) == "5-16-8-4-3"
    assert sum(isinstance(x, nn.Tanh) for x in m.modules()) == 3


def test_perceptron_and_linear() -> None:
    p = build_model(ModelConfig(name="perceptron"), (2,), 1)
    assert p(torch.zeros(4, 2)).shape == (4, 1) and count_params(p) == 3
    with pytest.raises(ConfigError, match="perceptron"):
        build_model(ModelConfig(name="perceptron"), (2,), 3)
    lin = build_model(ModelConfig(name="linear"), (1, 8, 8), 10)
    assert describe(lin) == "64-10"


def test_dropout_active_in_train_only() -> None:
    torch.manual_seed(0)
    m = build_model(ModelConfig(hidden=[64], dropout=0.5), (10,), 2)
    x = torch.randn(8, 10)
    m.train()
    assert not torch.equal(m(x), m(x))  # a new mask each call
    m.eval()
    assert torch.equal(m(x), m(x))
    hidden = nn.Sequential(m.flatten, m.fc1, m.act1, m.drop1)
    m.train()
    h = hidden(x)
    assert 0.3 < float((h == 0).float().mean()) < 0.8  # about half zeroed (plus ReLU zeros)


def test_zero_init_makes_hidden_units_identical() -> None:
    m = build_model(ModelConfig(hidden=[6], init="zeros"), (4,), 3)
    h = nn.Sequential(m.flatten, m.fc1)(torch.randn(5, 4))
    assert torch.all(h == h[:, :1])


# -- issue 13: a model too big for memory is refused before a weight is allocated --------------------


@pytest.mark.parametrize(
    ("cfg", "shape"),
    [
        (ModelConfig(), (1, 28, 28)),
        (ModelConfig(hidden=[16, 8], act="maxout(3)", norm="batch"), (5,)),
        (ModelConfig(act="prelu", norm="layer", norm_position="after"), (1, 8, 8)),
        (
            ModelConfig(name="cnn", blocks=["conv(8,k=3,p=1,pool=max(2))", "conv(16,k=3)"], hidden=[32], norm="batch"),
            (1, 28, 28),
        ),
        (ModelConfig(name="cnn", blocks=["conv(4,k=5)"], hidden=[]), (1, 40)),
        (ModelConfig(name="linear"), (3,)),
    ],
)
def test_planned_count_equals_the_built_model(cfg: ModelConfig, shape: tuple[int, ...]) -> None:
    from trainlab.nn.models import model_memory

    params, nbytes = model_memory(cfg, shape, 10, 1)  # sgd: a momentum buffer
    built = build_model(cfg, shape, 10)
    assert params == count_params(built)
    buffers = sum(b.numel() for b in built.buffers())
    assert nbytes == (params * 4 + buffers) * 4  # weights, gradients, one momentum buffer, a copy for saving


def test_huge_model_is_refused_naming_params_and_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    import tracemalloc

    from trainlab.nn.models import check_model_memory

    monkeypatch.delenv("TRAINLAB_MAX_MODEL_BYTES", raising=False)
    tracemalloc.start()
    with pytest.raises(ConfigError) as info:
        build_model(ModelConfig(hidden=[100000, 100000]), (1, 28, 28), 10)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    msg = str(info.value)
    assert (
        "mlp 784-100000-100000-10 has 10,079,600,010 parameters: 40.3 GB of float32 weights, 201.6 GB with gradients, "
        "2 optimizer state copies and a copy for saving" in msg
    )
    assert "TRAINLAB_MAX_MODEL_BYTES" in msg and peak < 10e6
    monkeypatch.setenv("TRAINLAB_MAX_MODEL_BYTES", "1e6")  # the bound is the user's to set
    with pytest.raises(ConfigError, match=r"only 1.0 MB of memory is available"):
        check_model_memory(ModelConfig(), (1, 28, 28), 10, 2)
    assert check_model_memory(ModelConfig(hidden=[4]), (1, 28, 28), 10, 2) == 784 * 4 + 4 + 4 * 10 + 10
    monkeypatch.setenv("TRAINLAB_MAX_MODEL_BYTES", "lots")
    with pytest.raises(ConfigError, match="TRAINLAB_MAX_MODEL_BYTES='lots' is not a number of bytes"):
        check_model_memory(ModelConfig(), (1, 28, 28), 10)


@pytest.mark.parametrize("command", ["train", "summary", "doctor"])
def test_cli_refuses_huge_model_in_one_line(
    tmp_path: object, command: str, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trainlab.cli import main

    monkeypatch.setenv("TRAINLAB_MAX_MODEL_BYTES", "2e9")
    assert (
        main([command, "data.name=xor", "model.hidden=[100000,100000]", f"output.dir={tmp_path}/runs", "threads=1"])
        == 2
    )
    err = capsys.readouterr().err
    assert (
        err.count("\n") == 1 and "mlp 2-100000-100000-2 has 10,000,600,002 parameters" in err and "only 2.0 GB" in err
    )
