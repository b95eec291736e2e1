"""Data sets by name, as tensors: IDX files, scikit-learn sets, generated toy sets."""

from trainlab.data.dataset import Dataset, Split
from trainlab.data.sources import DATASETS, load_dataset

__all__ = ["DATASETS", "Dataset", "Split", "load_dataset"]
