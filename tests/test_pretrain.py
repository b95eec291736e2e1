"""Pretraining as a run kind: views, the SimCLR objective, exact resume, probes, model.pretrained and train.freeze."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

import trainlab
from tests.test_resume import SignalAt
from trainlab.cli import main
from trainlab.data.augment import TwoViews, make_augment, make_views, random_resized_crop
from trainlab.errors import CheckpointError, ConfigError
from trainlab.nn.ssl import PretrainContext, simclr, split_encoder
from trainlab.report.evidence import EVIDENCE, MAX_EMBED, Evidence, project_2d
from trainlab.training.probes import knn_accuracy, label_subset, linear_probe

BASE: dict = {
    "data": {"name": "mnist1d", "limit": 320, "val": 64, "preprocess": "standardize"},
    "model": {"hidden": [32, 16]},
    "optim": {"batch_size": 64, "lr": 3e-3},  # 256 train examples: 4 steps per epoch
    "train": {"epochs": 3, "checkpoint_every": 3},
    "pretrain": {"method": "simclr(temperature=0.5,proj=[32,16])", "knn_k": 5},
    "threads": 1,
}


def cfg(runs: Path, **dotted: object) -> trainlab.Config:
    return trainlab.Config.from_dict({**BASE, "output": {"dir": str(runs), "report": False}}).replace(**dotted)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory) -> trainlab.Run:
    """One SimCLR run, never stopped, with its report page."""
    return trainlab.train(cfg(tmp_path_factory.mktemp("runs"), **{"output.report": True}))


def test_simclr_objective_is_nt_xent_over_the_2n_minus_2_negatives() -> None:
    g = torch.Generator().manual_seed(0)
    _, loss = simclr(PretrainContext(torch.nn.Sequential(), 3, (3,)), temperature=0.2, proj=[4, 3])
    n, tau = 5, 0.2
    out = torch.randn(2 * n, 3, generator=g)  # rows i and i + n: the two views of example i
    z = F.normalize(out, dim=1)
    total = 0.0
    for i in range(2 * n):  # -log exp(s_ip / tau) / sum over the positive and the 2n - 2 negatives
        p = (i + n) % (2 * n)
        negatives = [k for k in range(2 * n) if k not in (i, p)]
        assert len(negatives) == 2 * n - 2
        pos = math.exp(float(z[i] @ z[p]) / tau)
        total += -math.log(pos / (pos + sum(math.exp(float(z[i] @ z[k]) / tau) for k in negatives)))
    assert loss.unsupervised and math.isclose(loss(out, torch.zeros(n)).item(), total / (2 * n), rel_tol=1e-5)


def test_resized_crop_full_window_is_identity_and_views_pair_up() -> None:
    torch.manual_seed(0)
    for x in (torch.randn(4, 1, 40), torch.randn(4, 1, 8, 8)):
        assert torch.allclose(random_resized_crop(x, (1.0, 1.0), (1.0, 1.0)), x, atol=1e-5)
        crop = random_resized_crop(x, (0.3, 0.6), (0.75, 4 / 3))
        assert crop.shape == x.shape and not torch.allclose(crop, x)
    views = make_views([], (1, 40))
    assert isinstance(views, TwoViews)
    x = torch.randn(6, 1, 40)
    v = views(x)
    assert v.shape == (12, 1, 40) and not torch.equal(v[:6], v[6:])
    with pytest.raises(ConfigError, match="scale"):
        make_augment(["resized_crop(scale=[0,1])"], (1, 40))
    with pytest.raises(ConfigError, match="needs image"):
        make_views([], (2,))


def test_pretraining_run_writes_an_ordinary_run_directory(pretrained: trainlab.Run) -> None:
    s = pretrained.summary
    assert s["status"] == "completed" and "test_accuracy" not in s and math.isfinite(s["test_loss"])
    assert "nt_xent(temperature=0.5)" in s["header"]
    header = (pretrained.path / "metrics.csv").read_text().splitlines()[0]
    assert "val_knn_accuracy" in header and "val_loss" in header and "train_accuracy" not in header
    rep = s["representation"]
    for name in ("pretrained", "random_encoder", "raw_inputs"):
        assert set(rep[name]["linear_probe"]) == {"1%", "10%", "100%"} and 0 <= rep[name]["knn"] <= 1
    assert rep["pretrained"]["features"] == 16 and rep["raw_inputs"]["features"] == 40
    keys = load_file(str(pretrained.path / "model.safetensors")).keys()
    assert "encoder.fc1.weight" in keys and "projector.out.weight" in keys
    page = (pretrained.path / "report.html").read_text()
    assert "<h2>Representation</h2>" in page and "linear probe, 1% labels" in page and "random encoder" in page
    assert "Learning curves" in page and "Confusion matrix" not in page
    assert "<h2>Embedding</h2>" in page and "principal components" in page


def test_pretraining_report_keeps_a_2d_embedding_of_the_test_features(pretrained: trainlab.Run) -> None:
    ev = Evidence.load(pretrained.path / EVIDENCE)
    n_test = pretrained.summary["representation"]["test"]
    assert (
        ev.embedding is not None
        and ev.embedding.shape == (min(n_test, MAX_EMBED), 2)
        and np.isfinite(ev.embedding).all()
    )
    assert ev.embedding_y is not None and len(ev.embedding_y) == len(ev.embedding) and ev.embedding_y.max() < 10
    assert ev.embedding.std(0).min() > 0  # the points are spread out, not collapsed


def test_project_2d_is_sklearn_pca_and_tsne_is_bounded_and_named() -> None:
    from sklearn.decomposition import PCA  # optional: the test compares against scikit-learn itself

    x = np.random.default_rng(0).normal(size=(120, 6)).astype(np.float32) * np.arange(1, 7, dtype=np.float32)
    pc = project_2d(x)
    ref = PCA(2).fit_transform(x)
    assert np.allclose(np.abs(pc), np.abs(ref), atol=1e-3)  # the sign of a component is arbitrary
    assert project_2d(x, "tsne").shape == (120, 2)
    with pytest.raises(ConfigError, match="'umap'.*pca, tsne"):
        project_2d(x, "umap")


def test_pretraining_resume_is_bit_identical(tmp_path: Path, pretrained: trainlab.Run) -> None:
    run = trainlab.train(
        cfg(tmp_path), callbacks=[SignalAt(6)]
    )  # mid-epoch 2 (4 steps an epoch), after the step-3 checkpoint
    assert run.summary["status"] == "interrupted"
    trainlab.resume(run.path)
    a, b = load_file(str(pretrained.path / "model.safetensors")), load_file(str(run.path / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (pretrained.path / "metrics.csv").read_text() == (run.path / "metrics.csv").read_text()


def test_autoencoder_learns_to_reconstruct(tmp_path: Path) -> None:
    run = trainlab.train(cfg(tmp_path, **{"pretrain.method": "autoencoder", "train.epochs": 4, "optim.lr": 1e-2}))
    h = run.history
    assert h[-1]["train_loss"] < h[0]["train_loss"] and "val_knn_accuracy" in h[-1]
    keys = load_file(str(run.path / "model.safetensors")).keys()
    assert "decoder.fc1.weight" in keys and "decoder.out.weight" in keys  # mirrors hidden [32, 16]: 16 -> 32 -> 40
    assert "representation" in run.summary


def test_pretrained_frozen_encoder_stays_and_only_the_output_layer_learns(
    tmp_path: Path, pretrained: trainlab.Run
) -> None:
    over = {"pretrain.method": "none", "model.pretrained": str(pretrained.path), "train.freeze": "encoder"}
    run = trainlab.train(cfg(tmp_path, **over))
    src, now = load_file(str(pretrained.path / "model.safetensors")), load_file(str(run.path / "model.safetensors"))
    for k in ("fc1.weight", "fc1.bias", "fc2.weight"):
        assert torch.equal(now[k], src["encoder." + k]), k
    assert run.summary["params"] == 16 * 10 + 10 and "test_accuracy" in run.summary
    tuned = trainlab.train(cfg(tmp_path, **{**over, "train.freeze": "none"}))
    assert not torch.equal(load_file(str(tuned.path / "model.safetensors"))["fc1.weight"], src["encoder.fc1.weight"])


def test_bad_pretraining_configs_fail_in_one_line(tmp_path: Path, pretrained: trainlab.Run) -> None:
    with pytest.raises(CheckpointError, match=r"fc1.weight has shape \(32, 40\) in .* but \(8, 40\) in this model"):
        trainlab.train(
            cfg(
                tmp_path,
                **{"pretrain.method": "none", "model.pretrained": str(pretrained.path), "model.hidden": [8, 16]},
            )
        )
    with pytest.raises(CheckpointError, match="'fc3.bias' is not in it"):
        trainlab.train(
            cfg(
                tmp_path,
                **{"pretrain.method": "none", "model.pretrained": str(pretrained.path), "model.hidden": [32, 16, 8]},
            )
        )
    with pytest.raises(ConfigError, match="model.pretrained='nowhere'"):
        trainlab.train(cfg(tmp_path, **{"pretrain.method": "none", "model.pretrained": "nowhere"}))
    with pytest.raises(ConfigError, match="train.freeze='encoder'"):
        trainlab.train(cfg(tmp_path, **{"train.freeze": "encoder"}))
    with pytest.raises(ConfigError, match="temperature=-1"):
        trainlab.train(cfg(tmp_path, **{"pretrain.method": "simclr(temperature=-1)"}))
    with pytest.raises(ConfigError, match="simclr"):
        trainlab.train(cfg(tmp_path, **{"pretrain.method": "simclrr"}))
    with pytest.raises(ConfigError, match="no output layer"):
        split_encoder(torch.nn.Linear(2, 2))
    assert not any(tmp_path.iterdir())  # every mistake was caught before a run directory was made
    assert (
        main(
            [
                "train",
                "data.name=mnist1d",
                "pretrain.method=simclr(proj=[8])",
                f"output.dir={tmp_path}",
                "--no-progress",
            ]
        )
        == 2
    )


def test_probes_on_separable_features_and_stratified_label_subsets() -> None:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(3).repeat_interleave(100)
    f = F.one_hot(y, 3).float() * 5 + 0.1 * torch.randn(300, 3, generator=g)
    assert knn_accuracy(f, y, f, y, k=5) == 1.0
    assert linear_probe(f, y, f, y, 3) == 1.0
    idx = label_subset(y, 0.1, seed=0)
    assert torch.bincount(y[idx]).tolist() == [10, 10, 10]
    assert torch.bincount(y[label_subset(y, 0.001)]).tolist() == [1, 1, 1]  # at least one per class


def test_linear_probe_matches_sklearn_logistic_regression() -> None:
    """The torch L-BFGS probe minimizes scikit-learn's objective (C = 1), so both score the same."""
    from sklearn.datasets import load_digits  # optional: the reference implementation
    from sklearn.linear_model import LogisticRegression

    x, y = load_digits(return_X_y=True)
    xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(y)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    tr, te = perm[:1200], perm[1200:]
    ours = linear_probe(xt[tr], yt[tr], xt[te], yt[te], 10)
    mean, std = xt[tr].mean(0), xt[tr].std(0, unbiased=False).clamp_min(1e-6)  # the probe's own standardization
    clf = LogisticRegression(C=1.0, max_iter=1000).fit(((xt[tr] - mean) / std).numpy(), y[tr.numpy()])
    theirs = clf.score(((xt[te] - mean) / std).numpy(), y[te.numpy()])
    assert ours > 0.9 and abs(ours - theirs) <= 0.01, (ours, theirs)
