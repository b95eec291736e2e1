"""What only the trained model knows, saved as ``report.npz`` so reports can be redrawn without it.

Collected once after training (or again from ``config.yaml`` + ``model.safetensors`` + the data):
test predictions and confidences, the most confident mistakes with their inputs, the layer table,
which weight is the first layer, and for 2-D data the model's decision over a grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from trainlab.atomic import atomic_write
from trainlab.nn.summary import layer_table

EVIDENCE = "report.npz"
MAX_MISTAKES = 32  # shown in the report's grid
GRID = 160  # decision-boundary resolution per axis
MAX_POINTS = 1500  # training points drawn over the boundary


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

    def save(self, path: Path) -> None:
        """Write ``report.npz`` atomically (no pickles: strings are fixed-width unicode arrays)."""
        arrays: dict[str, np.ndarray] = {
            "layer_name": np.array([r[0] for r in self.layers], dtype=str),
            "layer_type": np.array([r[1] for r in self.layers], dtype=str),
            "layer_shape": np.array([r[2] for r in self.layers], dtype=str),
            "layer_params": np.array([r[3] for r in self.layers], dtype=np.int64),
            "first_layer": np.array(self.first_layer),
        }
        for key in ("y_true", "y_pred", "confidence", "mistakes", "mistake_x", "x_1d"):
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
        layers = [(str(n), str(t), str(s), int(p)) for n, t, s, p in zip(d["layer_name"], d["layer_type"], d["layer_shape"], d["layer_params"], strict=True)]
        boundary = {k.removeprefix("boundary_"): v for k, v in d.items() if k.startswith("boundary_")}
        return cls(layers, str(d["first_layer"]), d.get("y_true"), d.get("y_pred"), d.get("confidence"), d.get("mistakes"), d.get("mistake_x"), boundary, d.get("x_1d"))


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
    if getattr(trainer, "unsupervised", False):  # pretraining: no predictions; the page shows curves and probes
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
