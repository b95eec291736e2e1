"""Data sets kept in memory for the next run that needs the same data: the one cache that compare,
sweep trials and lessons share (the decoded-file cache on disk is ``cache.py``).

A data set is keyed by what determines its tensors: the ``data`` section of the config, the seed
(the validation split and ``data.limit`` subset are seeded) and the device. The cache holds at
most ``size`` entries and drops the oldest first, so a comparison over two data sets does not keep
ten in memory. Other loaders (cross-validation folds) share it through ``get(key, load)``.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from typing import Any

import torch

from trainlab.data.dataset import Dataset
from trainlab.data.sources import load_dataset


def data_key(data_cfg: Any, seed: int, device: torch.device | str, extra: Any = None) -> str:
    """The cache key of a data config section, a seed and a device (plus anything else that matters)."""
    section = asdict(data_cfg) if is_dataclass(data_cfg) else data_cfg
    return json.dumps([section, int(seed), str(device), extra], sort_keys=True, default=str)


class DataCache:
    """Loaded data sets by ``data_key``, the ``size`` most recently used kept."""

    def __init__(self, size: int = 2):
        self.size = size
        self._items: OrderedDict[str, Any] = OrderedDict()

    def get(self, key: str, load: Callable[[], Any]) -> Any:
        """The value cached under ``key``, loaded by ``load()`` the first time."""
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        while len(self._items) >= max(1, self.size):
            self._items.popitem(last=False)  # free the oldest tensors before loading new ones
        value = load()
        self._items[key] = value
        return value

    def dataset(self, data_cfg: Any, seed: int, device: torch.device) -> Dataset:
        """The data set a config's ``data`` section names, loaded once for every run that shares it."""
        return self.get(data_key(data_cfg, seed, device), lambda: load_dataset(data_cfg, seed, device))

    def clear(self) -> None:
        """Drop every data set (their memory is freed when no run holds them)."""
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
