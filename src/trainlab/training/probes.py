"""How good a representation is: a linear probe and k-nearest-neighbour accuracy on frozen features.

Both train on the labelled train split (all of it, or a stratified 1% / 10%) and are scored on the
test split. The same probes on the raw inputs and on a randomly initialized encoder of the same
architecture say what the pretraining itself added.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from trainlab.data.dataset import Dataset
from trainlab.nn.models import build_model
from trainlab.nn.ssl import encoder_of, features

FRACTIONS = (0.01, 0.1, 1.0)  # label fractions the probes report


def label_subset(y: torch.Tensor, fraction: float, seed: int = 0) -> torch.Tensor:
    """Indices of a stratified ``fraction`` of the examples: round(fraction·n_c) of each class c, at least one."""
    if fraction >= 1:
        return torch.arange(len(y), device=y.device)
    g = torch.Generator().manual_seed(seed)
    yc = y.cpu()
    picks = []
    for c in yc.unique().tolist():
        idx = (yc == c).nonzero().squeeze(1)
        idx = idx[torch.randperm(len(idx), generator=g)]
        picks.append(idx[: max(1, round(fraction * len(idx)))])
    return torch.cat(picks).sort().values.to(y.device)


def knn_accuracy(
    train_f: torch.Tensor,
    train_y: torch.Tensor,
    test_f: torch.Tensor,
    test_y: torch.Tensor,
    k: int = 20,
    chunk: int = 1024,
) -> float:
    """Accuracy of a k-nearest-neighbour vote under cosine similarity (ties go to the lower class)."""
    a, b = F.normalize(train_f.float(), dim=1), F.normalize(test_f.float(), dim=1)
    k = min(k, len(a))
    classes = int(max(train_y.max().item(), test_y.max().item())) + 1
    correct = torch.zeros((), device=b.device, dtype=torch.long)
    for i in range(0, len(b), chunk):  # (chunk x n_train) similarities at a time
        nearest = (b[i : i + chunk] @ a.T).topk(k, dim=1).indices
        votes = F.one_hot(train_y[nearest], classes).sum(1)
        correct += (votes.argmax(1) == test_y[i : i + chunk]).sum()
    return correct.item() / max(len(b), 1)


def linear_probe(
    train_f: torch.Tensor,
    train_y: torch.Tensor,
    test_f: torch.Tensor,
    test_y: torch.Tensor,
    classes: int,
    c: float = 1.0,
    iters: int = 100,
) -> float:
    """Test accuracy of multinomial logistic regression on standardized features (full-batch L-BFGS).

    Minimizes mean_i CE(W·x_i + b, y_i) + ‖W‖² / (2·C·n), scikit-learn's LogisticRegression objective
    with its default C = 1 divided by n; features standardized with the train mean and std.
    """
    mean, std = train_f.mean(0), train_f.std(0, unbiased=False).clamp_min(1e-6)
    xa, xb = (train_f - mean) / std, (test_f - mean) / std
    w = torch.zeros(xa.shape[1], classes, device=xa.device, requires_grad=True)
    b = torch.zeros(classes, device=xa.device, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=iters, line_search_fn="strong_wolfe")
    penalty = 1.0 / (2 * c * len(xa))

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(xa @ w + b, train_y) + penalty * w.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    with torch.no_grad():
        return ((xb @ w + b).argmax(1) == test_y).float().mean().item()


def probe_features(train_f: torch.Tensor, test_f: torch.Tensor, data: Dataset, k: int, seed: int) -> dict[str, Any]:
    """Linear probes with 1%, 10% and 100% of the train labels and kNN accuracy (all labels) for one feature set."""
    tr, te = data.train, data.test
    probes: dict[str, float] = {}
    for frac in FRACTIONS:
        idx = label_subset(tr.y, frac, seed)
        probes[f"{frac:.0%}"] = round(linear_probe(train_f[idx], tr.y[idx], test_f, te.y, data.num_classes), 4)
    out: dict[str, Any] = {"features": int(train_f.shape[1]), "linear_probe": probes}
    if k:
        out["knn"] = round(knn_accuracy(train_f, tr.y, test_f, te.y, k), 4)
    return out


def random_encoder(model_cfg: Any, data: Dataset, seed: int) -> torch.nn.Module:
    """The encoder as initialized before any training (same config and seed), leaving the global RNG as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(model_cfg, data.input_shape, data.num_classes)
    return encoder_of(model).to(data.train.x.device)


def representation_report(
    model: torch.nn.Module, data: Dataset, model_cfg: Any, seed: int, k: int = 20, batch_size: int = 4096
) -> dict[str, Any]:
    """summary.json's ``representation``: probes on the pretrained encoder, a random encoder and the raw inputs."""
    tr, te = data.train.x, data.test.x
    report: dict[str, Any] = {"train_labels": len(tr), "test": len(te)}
    for name, enc in (("pretrained", encoder_of(model)), ("random_encoder", random_encoder(model_cfg, data, seed))):
        report[name] = probe_features(features(enc, tr, batch_size), features(enc, te, batch_size), data, k, seed)
    report["raw_inputs"] = probe_features(tr.flatten(1).float(), te.flatten(1).float(), data, k, seed)
    return report
