"""How close does SimCLR on MNIST-1D get to the published ≈82% linear probe, and at what time cost?

    SEED=0 .venv/bin/python benchmarks/simclr_mnist1d.py [VARIANT ...]

Pretrains the self-supervised lesson's 1-D CNN encoder with SimCLR (2 threads) once per variant
named (default: all), then prints the linear probe's test accuracy with all labels
(``training/probes.linear_probe`` on the frozen encoder's features), the fit seconds and the load
average. A variant changes one thing of ``base`` (the lesson's setup until batch 128 measured better).
"""

from __future__ import annotations

import os
import sys

from trainlab.lessons.base import LessonContext
from trainlab.nn.ssl import features
from trainlab.training.probes import linear_probe

MODEL = {
    "model.name": "cnn",
    "model.blocks": ["conv(32,k=5,p=2,pool=max(2))", "conv(64,k=3,p=1,pool=max(2))"],
    "model.hidden": [128],
}
BASE = {
    "data.name": "mnist1d",
    "data.preprocess": "standardize",
    **MODEL,
    "optim.lr": 2e-3,
    "optim.batch_size": 256,
    "train.epochs": 50,
    "pretrain.knn_k": 0,
    "pretrain.method": "simclr(temperature=0.2,proj=[128,64])",
    "pretrain.views": ["resized_crop(scale=[0.6,1])", "shift(6)", "noise(0.1)"],
}
VARIANTS: dict[str, dict] = {
    "base": {},
    "tau0.1": {"pretrain.method": "simclr(temperature=0.1,proj=[128,64])"},
    "erase": {
        "pretrain.views": ["resized_crop(scale=[0.6,1])", "shift(6)", "erase(p=0.5,scale=[0.05,0.2])", "noise(0.1)"]
    },
    "cosine_lr4e-3": {"optim.lr": 4e-3, "optim.schedule": "cosine"},
    "bs128": {"optim.batch_size": 128},
    "crop0.4": {"pretrain.views": ["resized_crop(scale=[0.4,1])", "shift(6)", "noise(0.1)"]},
    "ep80": {"train.epochs": 80},
}


def main() -> None:
    """Train each named variant at the seed in $SEED and print its probe accuracy and time."""
    ctx = LessonContext(quick=False, overrides=["threads=2"])
    seed = int(os.environ.get("SEED", "0"))
    for name in sys.argv[1:] or list(VARIANTS):
        fit = ctx.fit(ctx.config(**{**BASE, **VARIANTS[name], "seed": seed}), label=name)
        d, enc = fit.setup.data, fit.model.encoder
        acc = linear_probe(features(enc, d.train.x), d.train.y, features(enc, d.test.x), d.test.y, d.num_classes)
        print(
            f"{name} seed {seed}: probe100 {acc:.4f} fit {fit.trainer.fit_seconds:.1f}s load {os.getloadavg()[0]:.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
