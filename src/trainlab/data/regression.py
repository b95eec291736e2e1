"""Regression data sets: ``line`` (find w and b), ``sine`` (approximate a function), ``diabetes``.

Targets are float32 values, one per example; the task is ``regression``, so the model gets one
output unit, the default loss is mse, and runs report MSE, MAE and R² instead of accuracy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from trainlab.data.dataset import RawData
from trainlab.data.preprocess import transform_from_state
from trainlab.errors import ConfigError


def _sizes(size: int, test: int | None, noise: float) -> int:
    if isinstance(size, bool) or not isinstance(size, int) or size < 4:
        raise ConfigError(f"regression data set size={size!r} is too small; use an integer >= 4")
    if noise < 0:
        raise ConfigError(f"regression data set noise={noise} must be >= 0")
    n_test = size if test is None else test
    if isinstance(n_test, bool) or not isinstance(n_test, int) or n_test < 1:
        raise ConfigError(f"regression data set test={test!r} must be a positive integer")
    return n_test


def line(
    w: Any = 2.0,
    b: float = -1.0,
    size: int = 200,
    noise: float = 0.1,
    outliers: float = 0.0,
    dims: int = 1,
    seed: int = 0,
    test: int | None = None,
) -> RawData:
    """y = w·x + b + N(0, noise²), x ~ U[-1, 1]^dims; ``outliers`` of the training targets moved far.

    An outlier's target is shifted by +10 (so it lies 10/noise standard deviations off the line):
    mse chases it, mae and huber hardly move. The test set has no outliers, so test metrics say how
    well the true line was found.
    """
    if isinstance(dims, bool) or not isinstance(dims, int) or dims < 1:
        raise ConfigError(f"data set line: dims={dims!r} must be a positive integer")
    ws = np.asarray(w if isinstance(w, (list, tuple)) else [w] * dims, dtype=np.float64)
    if ws.shape != (dims,):
        raise ConfigError(f"data set line: w={w!r} must be one number or a list of dims={dims} numbers")
    if not 0 <= outliers < 1:
        raise ConfigError(f"data set line: outliers={outliers} must be a fraction in [0, 1)")
    n_test = _sizes(size, test, noise)
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (size + n_test, dims))
    y = x @ ws + float(b) + rng.normal(0, noise, size + n_test)
    n_out = int(round(outliers * size))
    if n_out:
        y[rng.choice(size, n_out, replace=False)] += 10.0
    x, y = x.astype(np.float32), y.astype(np.float32)
    desc = f"y = {ws.tolist()}·x + {float(b)} + N(0, {noise}²), {n_out} outliers in train"
    return RawData(x[:size], y[:size], x[size:], y[size:], [], "regression", (dims,), desc)


def sine(size: int = 500, noise: float = 0.05, periods: float = 1.0, seed: int = 0, test: int | None = None) -> RawData:
    """y = sin(2π · periods · x) + N(0, noise²), x ~ U[-1, 1]: a curve no linear model can follow."""
    n_test = _sizes(size, test, noise)
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (size + n_test, 1))
    y = np.sin(2 * np.pi * float(periods) * x[:, 0]) + rng.normal(0, noise, size + n_test)
    x, y = x.astype(np.float32), y.astype(np.float32)
    return RawData(
        x[:size], y[:size], x[size:], y[size:], [], "regression", (1,), f"y = sin(2π·{periods}·x) + N(0, {noise}²)"
    )


def diabetes() -> RawData:
    """scikit-learn's diabetes data (442 patients, 10 features, disease progression 25-346), 80/20 split."""
    # lazy: scikit-learn (~0.5 s to import) loads only for what uses it
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split

    d = load_diabetes()
    x, y = d.data.astype(np.float32), d.target.astype(np.float32)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, random_state=0)
    return RawData(xtr, ytr, xte, yte, [], "regression", (10,), "diabetes progression one year after baseline")


def fitted_line(
    model: Any, preprocess_state: dict[str, Any], input_shape: tuple[int, ...], max_features: int = 20
) -> dict[str, Any] | None:
    """The w and b a linear model has learned, in the data's original units, or None.

    The model is f(x) = v·T(x) + c with T the fitted (affine) preprocessing, so in the original
    units f(x) = w·x + b with b = f(0) and w_i = f(e_i) - f(0): probing with the origin and the unit
    vectors reads them off exactly, whatever the preprocessing. Only for a model that is one
    Linear layer with one output, on at most ``max_features`` inputs.
    """

    layers = [m for m in model.modules() if any(True for _ in m.parameters(recurse=False))]
    if len(layers) != 1 or not isinstance(layers[0], nn.Linear) or layers[0].out_features != 1:
        return None
    transform = transform_from_state(preprocess_state)
    flat_input = transform.kind == "project"  # pca: input_shape is the k components, the data had mean.numel() features
    raw_dim = int(transform.stats["mean"].numel()) if flat_input else int(np.prod(input_shape))
    if raw_dim > max_features:
        return None
    raw_shape = (raw_dim,) if flat_input else tuple(input_shape)
    device = layers[0].weight.device
    probe = torch.cat([torch.zeros(1, raw_dim), torch.eye(raw_dim)]).reshape(-1, *raw_shape)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        f = model(transform.to(device)(probe.to(device))).reshape(-1).double().cpu()
    model.train(was_training)
    return {"w": (f[1:] - f[0]).tolist(), "b": float(f[0])}
