"""Preprocessing: statistics from train only, the math of each transform, saved and reapplied by eval."""

from __future__ import annotations

import json

import pytest
import torch

from tests.conftest import quick
from trainlab import api
from trainlab.build import setup
from trainlab.config import Config
from trainlab.data.preprocess import (
    PREPROCESS,
    fit_preprocess,
    load_transform,
    save_transform,
    transform_from_state,
)
from trainlab.errors import ConfigError


@pytest.fixture
def images() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(200, 3, 4, 4, generator=g) * 255
    return x * torch.tensor([1.0, 0.5, 0.2]).view(1, 3, 1, 1) + torch.tensor([0.0, 50, 100]).view(1, 3, 1, 1)


def test_standardize_global_and_per_feature(images):
    g = fit_preprocess("standardize", images)(images)
    assert abs(g.mean().item()) < 1e-4 and abs(g.std().item() - 1) < 1e-4
    f = fit_preprocess("standardize(per_feature=true)", images)(images)
    assert torch.allclose(f.mean(0), torch.zeros(3, 4, 4), atol=1e-4) and torch.allclose(
        f.std(0), torch.ones(3, 4, 4), atol=1e-4
    )


def test_mean_image_and_per_channel(images):
    assert torch.allclose(fit_preprocess("mean_image", images)(images).mean(0), torch.zeros(3, 4, 4), atol=1e-3)
    c = fit_preprocess("per_channel_mean", images)(images)
    assert torch.allclose(c.mean((0, 2, 3)), torch.zeros(3), atol=1e-3)
    assert not torch.allclose(c.mean(0), torch.zeros(3, 4, 4), atol=1e-1)  # one mean per channel, not per pixel
    s = fit_preprocess("per_channel_standardize", images)(images)
    assert torch.allclose(s.std((0, 2, 3)), torch.ones(3), atol=1e-4)


def test_pca_whitening_gives_identity_covariance_on_train(images):
    t = fit_preprocess("pca_whiten(eps=1e-8)", images)
    z = t(images)
    assert z.shape == (200, 48) and t.output_shape((3, 4, 4)) == (48,)
    cov = torch.cov(z.T.double())
    assert torch.allclose(cov, torch.eye(48, dtype=torch.float64), atol=1e-3)
    zca = fit_preprocess("zca_whiten(eps=1e-8)", images)
    w = zca(images)
    assert w.shape == images.shape
    assert torch.allclose(torch.cov(w.reshape(200, -1).T.double()), torch.eye(48, dtype=torch.float64), atol=1e-3)


def test_pca_keeps_the_largest_variance_directions(images):
    t = fit_preprocess("pca(k=5)", images)
    z = t(images)
    assert z.shape == (200, 5)
    var = z.var(0)
    assert torch.all(var[:-1] >= var[1:] - 1e-3)  # sorted by variance
    flat = images.reshape(200, -1)
    top = torch.linalg.eigvalsh(torch.cov(flat.T.double())).flip(0)[:5]
    assert torch.allclose(var.double(), top, rtol=1e-3)  # the variances are the top eigenvalues
    with pytest.raises(ConfigError, match="k=100"):
        fit_preprocess("pca(k=100)", images)


@pytest.mark.parametrize("spec", [e.name for e in PREPROCESS])
def test_statistics_come_from_train_only_and_survive_a_round_trip(spec, images, tmp_path):
    train, other = images[:100], images[100:] * 3 + 7
    t = fit_preprocess(spec, train)
    refit = fit_preprocess(spec, torch.cat([train, other]))
    if spec != "none":
        assert not torch.allclose(t(other), refit(other), atol=1e-3)  # other splits never leak into the stats
    for loaded in (transform_from_state(t.state_dict()), _saved(t, tmp_path)):
        assert torch.equal(loaded(other), t(other))


@pytest.mark.parametrize("spec", [e.name for e in PREPROCESS])
@pytest.mark.parametrize("low", [0.0, 3.0])  # scale skips subtracting a minimum of 0: both branches
def test_in_place_apply_equals_the_transform(spec, low, images):
    """``apply_`` (the loader's, on a copy it owns) gives exactly ``t(x)``; ``t(x)`` leaves x alone."""
    train = images[:100] + low
    t = fit_preprocess(spec, train)
    x = images[100:] + low
    before = x.clone()
    expected = t(x)
    assert torch.equal(x, before)
    assert torch.equal(t.apply_(x.clone()), expected)


def test_scale_of_integer_pixels_skips_the_subtraction_bit_for_bit():
    pixels = torch.randint(0, 256, (64, 1, 28, 28), generator=torch.Generator().manual_seed(0)).to(torch.uint8)
    pixels[0, 0, 0, 0], pixels[0, 0, 0, 1] = 0, 255
    t = fit_preprocess("scale", pixels.float())
    assert t.stats["min"].item() == 0 and t.stats["max"].item() == 255
    assert torch.equal(t.apply_(pixels.float()), pixels.float() / 255)  # what a bare script computes


def _saved(t, tmp_path):
    save_transform(tmp_path / "p.safetensors", t)
    return load_transform(tmp_path / "p.safetensors")


def test_pca_sets_the_model_input_and_eval_applies_the_saved_transform(runs_dir):
    cfg = quick(runs_dir, data__preprocess="pca(k=12)", threads=1, output__report=False)
    s = setup(Config.from_dict(cfg))
    assert s.data.input_shape == (12,) and s.model[1].in_features == 12
    run = api.train(cfg, handle_signals=False)
    assert (run.path / "preprocess.safetensors").is_file()
    assert json.loads((run.path / "summary.json").read_text())["data"]["input_shape"] == [12]
    again = api.evaluate_run(run.path)
    assert again["accuracy"] == pytest.approx(run.summary["test_accuracy"])
    # evaluation uses the saved statistics, not a refit: corrupt them and the result changes
    t = load_transform(run.path / "preprocess.safetensors")
    t.stats["mean"] = t.stats["mean"] + 5.0
    save_transform(run.path / "preprocess.safetensors", t)
    assert api.evaluate_run(run.path)["loss"] != pytest.approx(run.summary["test_loss"])
