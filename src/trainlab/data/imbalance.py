"""Long-tailed and resampled training splits: ``data.imbalance`` and ``data.resample``.

Both act on the training split only, after the validation split is taken, so validation and test
keep the data set's own (for the IDX sets and digits: balanced) class sizes. Every draw is seeded.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from trainlab.errors import ConfigError
from trainlab.registry import Registry, parse_spec

IMBALANCE = Registry("imbalance profile")

Profile = Callable[[int, int], np.ndarray]  # (classes C, n_max) -> the C class sizes to keep

RESAMPLE = ("none", "over", "under")


def _ratio(ratio: float, name: str) -> float:
    r = float(ratio)
    if not r >= 1:
        raise ConfigError(f"data.imbalance={name}(ratio={ratio}): ratio must be >= 1 (n_max / n_min)")
    return r


@IMBALANCE.register("none", "keep every training example (the data set's own class sizes)")
def none() -> Profile | None:
    """No imbalance applied."""
    return None


@IMBALANCE.register("exp", "long-tailed: n_c = n_max * ratio^(-c/(C-1)), class 0 the head (Cui et al. 2019)")
def exp(ratio: float = 100.0) -> Profile:
    """Exponential profile: ``n_c = floor(n_max * ratio^(-c / (C - 1)))`` for classes c = 0..C-1."""
    r = _ratio(ratio, "exp")

    def sizes(c: int, n_max: int) -> np.ndarray:
        frac = np.arange(c) / max(c - 1, 1)
        return np.maximum(1, np.floor(n_max * r ** (-frac))).astype(int)

    return sizes


@IMBALANCE.register(
    "step", "step: the last `minority` classes (default half) keep n_max/ratio examples (Cao et al. 2019)"
)
def step(ratio: float = 10.0, minority: int | None = None) -> Profile:
    """Step profile: ``n_c = n_max`` for the first C - minority classes, ``floor(n_max / ratio)`` for the rest."""
    r = _ratio(ratio, "step")

    def sizes(c: int, n_max: int) -> np.ndarray:
        k = c // 2 if minority is None else int(minority)
        if not 1 <= k < c:
            raise ConfigError(
                f"data.imbalance=step(minority={minority}): minority must be in 1..{c - 1} for {c} classes"
            )
        out = np.full(c, n_max, dtype=int)
        out[c - k :] = max(1, int(n_max // r))
        return out

    return sizes


def check_resample(value: str) -> None:
    """``data.resample`` must be none, over or under."""
    if value not in RESAMPLE:
        raise ConfigError(f"data.resample={value!r} is not known; choose one of: {', '.join(RESAMPLE)}")


def long_tail(spec: str, y: np.ndarray, num_classes: int, seed: int) -> np.ndarray | None:
    """Indices (sorted) of the training examples kept by the profile ``spec``, or None for ``none``.

    n_max is the smallest class's size, so every class can supply its share; which examples a class
    keeps is a seeded draw without replacement.
    """
    profile = IMBALANCE.create(parse_spec(spec))
    if profile is None:
        return None
    counts = np.bincount(y, minlength=num_classes)
    if (counts == 0).any():
        raise ConfigError(f"data.imbalance={spec}: class {int(np.argmin(counts))} has no training examples")
    sizes = profile(num_classes, int(counts.min()))
    rng = np.random.default_rng([seed, 15])  # its own stream: the val split's draw is not shifted
    keep = [rng.choice(np.flatnonzero(y == c), size=int(k), replace=False) for c, k in enumerate(sizes)]
    return np.sort(np.concatenate(keep))


def resample(mode: str, y: np.ndarray, num_classes: int, seed: int) -> np.ndarray | None:
    """Indices for plain resampling: ``over`` draws each class up to the largest class's size (with
    replacement, every original kept once), ``under`` down to the smallest's (without); None for none."""
    check_resample(mode)
    if mode == "none":
        return None
    rng = np.random.default_rng([seed, 16])
    members = [np.flatnonzero(y == c) for c in range(num_classes)]
    sizes = [len(m) for m in members if len(m)]
    out = []
    for m in members:
        if not len(m):
            continue
        if mode == "under":
            out.append(rng.choice(m, size=min(sizes), replace=False))
        else:
            out.append(np.concatenate([m, rng.choice(m, size=max(sizes) - len(m), replace=True)]))
    return np.sort(np.concatenate(out))


def apply(imbalance: str, resample_mode: str, y: np.ndarray, num_classes: int, seed: int) -> np.ndarray | None:
    """The training indices after ``data.imbalance`` then ``data.resample`` (None: keep all)."""
    idx = long_tail(imbalance, y, num_classes, seed)
    y2 = y if idx is None else y[idx]
    r = resample(resample_mode, y2, num_classes, seed)
    if r is None:
        return idx
    return r if idx is None else idx[r]
