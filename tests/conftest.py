"""Shared fixtures: small data sets made on the fly, run directories in tmp, real Fashion-MNIST if present."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from trainlab.data.idx import write_idx
from trainlab.data.locate import find_idx_files
from trainlab.errors import DataError
from trainlab.training.callbacks import Interrupt
from trainlab.training.loop import Callback, Trainer

torch.set_num_threads(1)  # many small tests: one thread each is fastest and leaves a core free


def make_idx_dataset(
    directory: Path,
    n_train: int = 300,
    n_test: int = 100,
    classes: int = 10,
    side: int = 28,
    seed: int = 0,
    compress: bool = True,
) -> Path:
    """Write four IDX files of a learnable toy image data set (class = position of a bright square)."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if compress else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        y = rng.integers(0, classes, n).astype(np.uint8)
        x = rng.integers(0, 60, (n, side, side)).astype(np.uint8)
        for i, c in enumerate(y):
            r, col = divmod(int(c), 4)
            x[i, r * 6 + 2 : r * 6 + 7, col * 6 + 2 : col * 6 + 7] = 250
        write_idx(directory / f"{prefix}-images-idx3-ubyte{suffix}", x)
        write_idx(directory / f"{prefix}-labels-idx1-ubyte{suffix}", y)
    return directory


@pytest.fixture
def idx_dir(tmp_path: Path) -> Path:
    """A tiny learnable IDX data set (300 train / 100 test, 28x28, 10 classes) in a temp directory."""
    return make_idx_dataset(tmp_path / "tinyidx")


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    """A temporary parent for run directories."""
    return tmp_path / "runs"


def fashion_available() -> bool:
    """True when real Fashion-MNIST files can be found."""
    try:
        find_idx_files("fashion-mnist")
        return True
    except DataError:
        return False


# Integration tests on real Fashion-MNIST: skipped only if the data is absent (make test installs it;
# CI sets CI=true, where absence is an error rather than a skip).
requires_fashion = pytest.mark.skipif(
    not fashion_available() and not os.environ.get("CI"), reason="Fashion-MNIST not installed (make data)"
)


def quick(runs_dir: Path, **extra: object) -> dict:
    """A config dict for a fast run on digits, with overrides."""
    cfg: dict = {
        "data": {"name": "digits", "val": 0.1},
        "model": {"hidden": [32]},
        "train": {"epochs": 2},
        "optim": {"batch_size": 64},
        "output": {"dir": str(runs_dir)},
    }
    for key, value in extra.items():
        node = cfg
        parts = key.split("__")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return cfg


class StopAt(Callback):
    """Test hook: request a safe stop (as Ctrl-C does) after optimizer step ``step``."""

    def __init__(self, step: int):
        self.step = step

    def on_batch_end(self, t: Trainer) -> None:
        if t.step == self.step:
            next(c for c in t.callbacks if isinstance(c, Interrupt)).request(signal.SIGINT)


def wait_until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``cond`` every 0.2 s until it holds; fail naming ``what`` after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")
