"""Small generated 2-D data sets for seeing decision boundaries: xor, circles, moons, spirals, blobs."""

from __future__ import annotations

import numpy as np


def xor(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Four Gaussian clusters at (±1, ±1); the label is the XOR of the coordinate signs."""
    centers = np.array([[1, 1], [-1, -1], [1, -1], [-1, 1]], dtype=np.float64)
    labels = np.array([0, 0, 1, 1])
    idx = rng.integers(0, 4, n)
    x = centers[idx] + rng.normal(0, max(noise, 1e-6) * 1.0, (n, 2))
    return x, labels[idx]


def spirals(n: int, noise: float, rng: np.random.Generator, classes: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved Archimedean spirals, one arm per class (the CS231n spiral set)."""
    y = np.arange(n) % classes
    r = rng.uniform(0.05, 1.0, n)
    theta = y * (2 * np.pi / classes) + r * 4.0 + rng.normal(0, noise, n)
    x = np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1)
    return x, y


def circles(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A ring of class 1 around a disc of class 0."""
    # lazy: scikit-learn (~0.5 s to import) loads only for what uses it
    from sklearn.datasets import make_circles

    return make_circles(n, noise=noise, factor=0.5, random_state=int(rng.integers(2**31)))


def moons(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles."""
    # lazy: scikit-learn (~0.5 s to import) loads only for what uses it
    from sklearn.datasets import make_moons

    return make_moons(n, noise=noise, random_state=int(rng.integers(2**31)))


def blobs(n: int, noise: float, rng: np.random.Generator, classes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic Gaussian blobs, one per class."""
    # lazy: scikit-learn (~0.5 s to import) loads only for what uses it
    from sklearn.datasets import make_blobs

    return make_blobs(n, centers=classes, cluster_std=max(noise, 1e-6) * 4, random_state=int(rng.integers(2**31)))


def blobs_sized(
    sizes: list[int], noise: float, rng: np.random.Generator, classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Blobs with a given number of points per group; group g belongs to class g % classes
    (train, then test groups share centers)."""
    # lazy: scikit-learn (~0.5 s to import) loads only for what uses it
    from sklearn.datasets import make_blobs

    _, _, centers = make_blobs(classes, centers=classes, random_state=int(rng.integers(2**31)), return_centers=True)
    x, group = make_blobs(
        sizes,
        centers=np.concatenate([centers] * (len(sizes) // classes)),
        cluster_std=max(noise, 1e-6) * 4,
        shuffle=False,
        random_state=int(rng.integers(2**31)),
    )
    return x, group % classes
