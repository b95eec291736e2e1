"""Label noise on the training split: ``data.label_noise``.

A fraction p of the training labels is replaced by a uniformly random *other* class (Nakkiran et al.
2019, "Deep Double Descent": with probability p a uniformly random incorrect label), after the
validation split is taken, so validation and test keep their true labels. Exactly round(p * n)
examples change, chosen by a seeded draw, so the fraction of changed labels is the one asked for.
"""

from __future__ import annotations

import numpy as np

from trainlab.errors import ConfigError


def check_fraction(fraction: float) -> float:
    """``data.label_noise`` must be a fraction in [0, 1)."""
    p = float(fraction)
    if not 0.0 <= p < 1.0:
        raise ConfigError(f"data.label_noise={fraction} is out of range; must be a fraction in [0, 1)")
    return p


def corrupt(y: np.ndarray, fraction: float, num_classes: int, seed: int) -> np.ndarray:
    """A copy of the labels ``y`` with round(fraction * len(y)) of them, drawn without replacement,
    each replaced by a uniformly random different class; ``y`` itself when fraction is 0."""
    p = check_fraction(fraction)
    if p == 0.0:
        return y
    if num_classes < 2:
        raise ConfigError(f"data.label_noise={fraction} needs at least 2 classes (the data set has {num_classes})")
    rng = np.random.default_rng([seed, 17])  # its own stream: the val split's and the long tail's draws are not shifted
    out = y.copy()
    pick = rng.choice(len(y), size=int(round(p * len(y))), replace=False)
    # an offset in 1..C-1 added modulo C gives every other class with equal probability, never the true one
    out[pick] = (y[pick] + rng.integers(1, num_classes, size=len(pick))) % num_classes
    return out
