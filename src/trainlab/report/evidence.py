"""What only the trained model knows, saved as ``report.npz`` so reports can be redrawn without it.

Collected once after training (or again from ``config.yaml`` + ``model.safetensors`` + the data):
test predictions and confidences, the most confident mistakes with their inputs, the layer table,
which weight is the first layer, for 2-D data the model's decision over a grid, and for a pretraining
run a 2-D picture of its encoder's features of the test set (scikit-learn's PCA, or t-SNE).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from trainlab.atomic import atomic_write
from trainlab.errors import ConfigError
from trainlab.nn.ssl import encoder_of, features
from trainlab.nn.summary import layer_table

EVIDENCE = "report.npz"
MAX_MISTAKES = 32  # shown in the report's grid
GRID = 160  # decision-boundary resolution per axis
MAX_POINTS = 1500  # training points drawn over the boundary
MAX_EMBED = 2000  # test examples in the embedding picture: PCA takes a blink, t-SNE minutes on a busy 2-core machine
PROJECTIONS = ("pca", "tsne")


@dataclass
class Evidence:
    """Arrays a report is drawn from (all NumPy, small)."""

    layers: list[tuple[str, str, str, int]] = field(default_factory=list)  # name, type, output shape, params
    first_layer: str = ""  # state_dict key of the first layer's weight, '' if none worth drawing
    y_true: np.ndarray | None = None  # test labels
    y_pred: np.ndarray | None = None  # predicted classes
    confidence: np.ndarray | None = None  # probability of the predicted class
    mistakes: np.ndarray | None = None  # test indices of the most confident mistakes
    mistake_x: np.ndarray | None = None  # their (preprocessed) inputs
    boundary: dict[str, np.ndarray] = field(default_factory=dict)  # extent, cls, conf, x, y
    x_1d: np.ndarray | None = None  # regression on one input: the test inputs, to draw the fitted curve
    embedding: np.ndarray | None = None  # pretraining: (n, 2) projection of the encoder's test features
    embedding_y: np.ndarray | None = None  # their labels (colours), when the data has classes

    def save(self, path: Path) -> None:
        """Write ``report.npz`` atomically (no pickles: strings are fixed-width unicode arrays)."""
        arrays: dict[str, np.ndarray] = {
            "layer_name": np.array([r[0] for r in self.layers], dtype=str),
            "layer_type": np.array([r[1] for r in self.layers], dtype=str),
            "layer_shape": np.array([r[2] for r in self.layers], dtype=str),
            "layer_params": np.array([r[3] for r in self.layers], dtype=np.int64),
            "first_layer": np.array(self.first_layer),
        }
        for key in ("y_true", "y_pred", "confidence", "mistakes", "mistake_x", "x_1d", "embedding", "embedding_y"):
            value = getattr(self, key)
            if value is not None:
                arrays[key] = value
        arrays.update({f"boundary_{k}": v for k, v in self.boundary.items()})
        atomic_write(path, lambda fh: np.savez_compressed(fh, **arrays))

    @classmethod
    def load(cls, path: Path) -> Evidence:
        """Read ``report.npz`` back."""
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
        layers = [
            (str(n), str(t), str(s), int(p))
            for n, t, s, p in zip(d["layer_name"], d["layer_type"], d["layer_shape"], d["layer_params"], strict=True)
        ]
        boundary = {k.removeprefix("boundary_"): v for k, v in d.items() if k.startswith("boundary_")}
        return cls(
            layers,
            str(d["first_layer"]),
            d.get("y_true"),
            d.get("y_pred"),
            d.get("confidence"),
            d.get("mistakes"),
            d.get("mistake_x"),
            boundary,
            d.get("x_1d"),
            d.get("embedding"),
            d.get("embedding_y"),
        )


def probabilities(out: torch.Tensor) -> torch.Tensor:
    """Class probabilities from raw outputs: sigmoid for one output unit, else softmax."""
    if out.shape[-1] == 1:
        p1 = torch.sigmoid(out[:, 0].float())
        return torch.stack([1 - p1, p1], dim=1)
    return torch.softmax(out.float(), dim=1)


def first_layer_key(model: nn.Module, input_shape: tuple[int, ...]) -> str:
    """Key of the first layer's weight when it can be drawn as images (image input), else ''."""
    if len(input_shape) != 3:
        return ""
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            return f"{name}.weight"
        if isinstance(m, nn.Linear):
            return f"{name}.weight" if m.in_features == int(np.prod(input_shape)) else ""
    return ""


def collect(trainer: Any) -> Evidence:
    """Evidence from a trainer holding the trained model and its data (``Trainer`` of train/loop.py)."""
    model, data = trainer.model, trainer.data
    rows = [(n, t, "x".join(map(str, s)), p) for n, t, s, p in layer_table(model, data.input_shape)]
    ev = Evidence(layers=rows, first_layer=first_layer_key(model, data.input_shape))
    if getattr(
        trainer, "unsupervised", False
    ):  # pretraining: no predictions; the page shows curves, probes and the embedding
        ev.embedding, ev.embedding_y = embedding(trainer.model, data)
        return ev
    if data.task != "classification":  # regression: predictions against targets
        ev.y_true = data.test.y.float().cpu().numpy()
        ev.y_pred = trainer.outputs(data.test.x).reshape(data.test.y.shape).float().cpu().numpy()
        if tuple(data.input_shape) == (1,):
            ev.x_1d = data.test.x.reshape(-1).float().cpu().numpy()
        return ev
    probs = probabilities(trainer.outputs(data.test.x))
    conf, pred = probs.max(dim=1)
    y = data.test.y
    ev.y_true = y.cpu().numpy().astype(np.int16)
    ev.y_pred = pred.cpu().numpy().astype(np.int16)
    ev.confidence = conf.cpu().numpy().astype(np.float32)
    wrong = (pred != y).nonzero().squeeze(1)
    order = wrong[conf[wrong].argsort(descending=True)][:MAX_MISTAKES]
    ev.mistakes = order.cpu().numpy()
    ev.mistake_x = data.test.x[order].cpu().numpy().astype(np.float32)
    if tuple(data.input_shape) == (2,):
        ev.boundary = _boundary(trainer)
    return ev


def _boundary(trainer: Any) -> dict[str, np.ndarray]:
    """The predicted class and its confidence on a GRID x GRID lattice covering the data."""
    data = trainer.data
    pts = torch.cat([data.train.x, data.test.x]).float()
    lo, hi = pts.min(0).values, pts.max(0).values
    pad = (hi - lo).clamp_min(1e-6) * 0.08
    lo, hi = lo - pad, hi + pad
    gx = torch.linspace(float(lo[0]), float(hi[0]), GRID, device=pts.device)
    gy = torch.linspace(float(lo[1]), float(hi[1]), GRID, device=pts.device)
    yy, xx = torch.meshgrid(gy, gx, indexing="ij")
    probs = probabilities(trainer.outputs(torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)))
    conf, cls = probs.max(1)
    keep = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(0))[:MAX_POINTS].to(pts.device)
    return {
        "extent": np.array([float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])], dtype=np.float32),
        "cls": cls.reshape(GRID, GRID).cpu().numpy().astype(np.int16),
        "conf": conf.reshape(GRID, GRID).cpu().numpy().astype(np.float16),
        "x": data.train.x[keep].cpu().numpy().astype(np.float32),
        "y": data.train.y[keep].cpu().numpy().astype(np.int16),
    }


def project_2d(feats: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """(n, d) features → (n, 2) coordinates with scikit-learn's PCA or t-SNE (``method``: pca | tsne)."""
    if method not in PROJECTIONS:
        raise ConfigError(f"embedding projection {method!r}: choose one of {', '.join(PROJECTIONS)}")
    x = np.asarray(feats, dtype=np.float32)
    if len(x) < 3 or x.shape[1] < 2:
        return np.zeros((len(x), 2), dtype=np.float32)  # nothing to spread out
    if method == "tsne":
        # lazy: scikit-learn costs seconds to import and only pretraining reports and lessons need it
        from sklearn.manifold import TSNE

        coords = TSNE(2, init="pca", perplexity=min(30.0, (len(x) - 1) / 3), random_state=seed).fit_transform(x)
    else:
        # lazy: as above
        from sklearn.decomposition import PCA

        coords = PCA(2, random_state=seed).fit_transform(x)
    return coords.astype(np.float32)


def embedding(
    model: nn.Module, data: Any, method: str = "pca", limit: int = MAX_EMBED
) -> tuple[np.ndarray, np.ndarray | None]:
    """The encoder's features of (at most ``limit``, a seeded sample of) the test set in 2-D, and their labels."""
    x, y = data.test.x, data.test.y
    if len(x) > limit:  # bounded: the picture reads the same with 2,000 points, and t-SNE is quadratic
        keep = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:limit].sort().values.to(x.device)
        x, y = x[keep], y[keep]
    coords = project_2d(features(encoder_of(model), x).cpu().numpy(), method)
    labels = y.cpu().numpy().astype(np.int16) if data.task == "classification" else None
    return coords, labels
