"""Norms: batch norm's train vs eval statistics, placement before/after the activation, config errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainlab.build import check_names
from trainlab.config import Config
from trainlab.errors import ConfigError
from trainlab.nn.layers import Maxout
from trainlab.nn.models import build_model
from trainlab.nn.norms import NORMS, make_norm


def test_batch_norm_uses_batch_stats_in_train_and_running_stats_in_eval():
    torch.manual_seed(0)
    bn = make_norm("batch(momentum=0.5)", 3)
    x = torch.randn(256, 3) * 4 + 10
    out = bn.train()(x)
    assert torch.allclose(out.mean(0), torch.zeros(3), atol=1e-5)  # normalized with this batch's mean
    assert torch.allclose(bn.running_mean, 0.5 * x.mean(0), atol=1e-4)  # (1 - m) * 0 + m * batch mean
    bn.eval()
    expected = (x - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps)
    assert torch.allclose(bn(x), expected, atol=1e-5)  # eval: running statistics, not the batch's
    assert not torch.allclose(bn(x), out, atol=1e-2)


def test_layer_and_group_norms_normalize_each_example():
    x = torch.randn(4, 8) * 3 + 2
    ln = make_norm("layer", 8)
    assert torch.allclose(ln(x).mean(1), torch.zeros(4), atol=1e-5)
    gn = make_norm("group(groups=2)", 6, dims=2)
    img = torch.randn(2, 6, 5, 5) + 3
    out = gn(img).view(2, 2, -1)
    assert torch.allclose(out.mean(-1), torch.zeros(2, 2), atol=1e-5)
    inst = make_norm("instance", 6, dims=2)
    assert torch.allclose(inst(img).mean((2, 3)), torch.zeros(2, 6), atol=1e-5)
    for entry in NORMS:  # every norm builds for images
        make_norm(entry.name if entry.name != "group" else "group(2)", 6, dims=2)


def _mlp(**model):
    cfg = Config.from_dict({"model": {"hidden": [8], **model}})
    check_names(cfg)
    return build_model(cfg.model, (4,), 3)


def test_norm_position_before_or_after_the_activation():
    before = [type(m).__name__ for m in _mlp(norm="batch", norm_position="before")]
    after = [type(m).__name__ for m in _mlp(norm="batch", norm_position="after")]
    assert before[1:4] == ["Linear", "BatchNorm1d", "ReLU"]
    assert after[1:4] == ["Linear", "ReLU", "BatchNorm1d"]
    maxout_before = _mlp(norm="batch", act="maxout(2)")[1]
    assert isinstance(maxout_before, Maxout) and maxout_before.norm.num_features == 16  # over the 8*2 pieces
    assert isinstance(_mlp(norm="layer", act="maxout(2)", norm_position="after")[2], nn.LayerNorm)


@pytest.mark.parametrize(
    ("model", "match"),
    [
        ({"norm": "group(groups=3)"}, "groups must divide the 8"),
        ({"norm": "instance"}, "needs spatial inputs"),
        ({"norm": "batchnorm"}, "unknown norm"),
        ({"norm_position": "middle"}, "before, after"),
    ],
)
def test_bad_norms_fail_at_config_time(model, match):
    with pytest.raises(ConfigError, match=match):
        _mlp(**model)
