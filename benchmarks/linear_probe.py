"""Is trainlab's linear probe (torch L-BFGS) as accurate and as fast as scikit-learn's LogisticRegression?

    .venv/bin/python benchmarks/linear_probe.py [rounds] [threads]

Probes three feature sets of MNIST-1D (3,600 train / 1,000 test after the split, standardized): the
raw inputs (40 dimensions), a random 1-D CNN encoder (128) and Fashion-MNIST pixels (6,000 × 784).
For each, alternating the two implementations round by round (so load from other processes hits
both alike), it prints the median seconds and the test accuracies. Both minimize the same objective
(mean cross-entropy + ‖W‖²/(2Cn), C = 1, on features standardized with the train mean and std;
``training/probes.linear_probe``); scikit-learn runs lbfgs with max_iter=100, its default.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import warnings

import torch
from sklearn.linear_model import LogisticRegression

from trainlab.config import Config
from trainlab.data.sources import load_dataset
from trainlab.nn.ssl import features
from trainlab.training.probes import linear_probe, random_encoder


def sklearn_probe(xa: torch.Tensor, ya: torch.Tensor, xb: torch.Tensor, yb: torch.Tensor) -> float:
    """scikit-learn's LogisticRegression on the same standardized features."""
    mean, std = xa.mean(0), xa.std(0, unbiased=False).clamp_min(1e-6)
    clf = LogisticRegression(C=1.0, max_iter=100).fit(((xa - mean) / std).numpy(), ya.numpy())
    return float(clf.score(((xb - mean) / std).numpy(), yb.numpy()))


def main() -> None:
    """Alternate torch and scikit-learn on each feature set; print medians and accuracies."""
    warnings.filterwarnings("ignore", message="lbfgs failed to converge")  # both stop at 100 iterations, alike
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    cfg = Config.from_dict(
        {
            "data": {"name": "mnist1d", "preprocess": "standardize"},
            "model": {
                "name": "cnn",
                "blocks": ["conv(32,k=5,p=2,pool=max(2))", "conv(64,k=3,p=1,pool=max(2))"],
                "hidden": [128],
            },
        }
    )
    d = load_dataset(cfg.data, 0, torch.device("cpu"))
    enc = random_encoder(cfg.model, d, 0)
    sets = {
        "mnist1d raw (40)": (d.train.x.flatten(1), d.test.x.flatten(1), d.train.y, d.test.y),
        "mnist1d random CNN (128)": (features(enc, d.train.x), features(enc, d.test.x), d.train.y, d.test.y),
    }
    fcfg = Config.from_dict({"data": {"name": "fashion-mnist", "limit": 8000, "preprocess": "standardize"}})
    try:
        f = load_dataset(fcfg.data, 0, torch.device("cpu"))
        sets["fashion pixels (784)"] = (f.train.x.flatten(1), f.test.x.flatten(1), f.train.y, f.test.y)
    except Exception as exc:  # noqa: BLE001 - Fashion-MNIST is optional here
        print(f"(fashion skipped: {exc})")
    print(f"threads {torch.get_num_threads()}, load average {os.getloadavg()}")
    for name, (xa, xb, ya, yb) in sets.items():
        times: dict[str, list[float]] = {"torch": [], "sklearn": []}
        acc = {}
        for _ in range(rounds):
            for impl in times:
                t = time.perf_counter()
                acc[impl] = linear_probe(xa, ya, xb, yb, 10) if impl == "torch" else sklearn_probe(xa, ya, xb, yb)
                times[impl].append(time.perf_counter() - t)
        mt, ms = statistics.median(times["torch"]), statistics.median(times["sklearn"])
        print(
            f"{name}: n={len(xa)} torch {mt:.2f}s acc {acc['torch']:.4f} | sklearn {ms:.2f}s acc {acc['sklearn']:.4f} "
            f"| sklearn/torch time {ms / mt:.2f}"
        )
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
