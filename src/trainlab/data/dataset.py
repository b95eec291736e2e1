"""The containers data flows in: raw arrays from a source, then tensors split and on the device."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from trainlab.errors import ConfigError


@dataclass
class RawData:
    """What a source returns: train and test arrays plus what they mean."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: list[str]
    task: str = "classification"  # or "regression"
    input_shape: tuple[int, ...] = ()
    description: str = ""


@dataclass
class Split:
    """One split as tensors on the device."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class Dataset:
    """Train / val / test tensors, the classes and the preprocessing fitted on train."""

    name: str
    train: Split
    val: Split | None
    test: Split
    classes: list[str]
    task: str
    input_shape: tuple[int, ...]
    preprocess_state: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        """Number of classes (0 for regression)."""
        return len(self.classes)

    @property
    def num_features(self) -> int:
        """Flattened input size."""
        return int(np.prod(self.input_shape))

    def split(self, name: str) -> Split:
        """The split called ``train``, ``val`` or ``test``."""
        found = {"train": self.train, "val": self.val, "test": self.test}.get(name)
        if found is None:
            raise ConfigError(
                f"split {name!r} is not available; choose one of: train, val, test (val needs data.val > 0)"
            )
        return found

    def describe(self) -> str:
        """One-line description for the run header."""
        sizes = f"{len(self.train)} train / {len(self.val) if self.val else 0} val / {len(self.test)} test"
        shape = "x".join(map(str, self.input_shape))
        kind = f"{self.num_classes} classes" if self.task == "classification" else "regression"
        return f"{self.name} ({sizes}, {shape}, {kind})"
