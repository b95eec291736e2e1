"""data.label_noise: the asked fraction of training labels changes to another class; val/test keep theirs; seeded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from trainlab.cli import main
from trainlab.config import DataConfig, as_config
from trainlab.data.noise import corrupt
from trainlab.data.sources import load_dataset
from trainlab.errors import ConfigError


def test_corrupt_changes_exactly_the_fraction_to_other_classes() -> None:
    y = np.repeat(np.arange(10), 100)
    for p in (0.1, 0.2, 0.5, 0.9):
        noisy = corrupt(y, p, 10, seed=0)
        assert (noisy != y).sum() == round(p * len(y))  # every picked label really changes: none redrawn as itself
    assert corrupt(y, 0.0, 10, 0) is y
    # the wrong labels are spread over the other classes, not pushed to one of them
    noisy = corrupt(y, 0.5, 10, 0)
    wrong = noisy[noisy != y]
    assert np.bincount(wrong, minlength=10).min() > 0.5 * len(wrong) / 10


def test_corrupt_is_seeded() -> None:
    y = np.repeat(np.arange(3), 50)
    a, b, c = (corrupt(y, 0.3, 3, s) for s in (0, 0, 1))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_load_dataset_touches_train_labels_only() -> None:
    clean = load_dataset(DataConfig(name="digits", val=0.2), seed=3)
    noisy = load_dataset(DataConfig(name="digits", val=0.2, label_noise=0.2), seed=3)
    changed = (noisy.train.y != clean.train.y).float().mean().item()
    assert abs(changed - 0.2) < 1 / len(clean.train)  # round(0.2 n) of n
    assert torch.equal(noisy.train.x, clean.train.x)  # the same examples: the val split was taken before the noise
    assert torch.equal(noisy.val.y, clean.val.y) and torch.equal(noisy.val.x, clean.val.x)
    assert torch.equal(noisy.test.y, clean.test.y)
    again = load_dataset(DataConfig(name="digits", val=0.2, label_noise=0.2), seed=3)
    assert torch.equal(again.train.y, noisy.train.y)


@pytest.mark.parametrize("value", ["1", "1.0", "-0.1", "2"])
def test_label_noise_out_of_range_is_a_config_error(value: str) -> None:
    with pytest.raises(ConfigError, match=r"data.label_noise=.* out of range"):
        as_config(None, [f"data.label_noise={value}"])


def test_label_noise_on_regression_data_is_refused() -> None:
    with pytest.raises(ConfigError, match="needs a classification data set"):
        load_dataset(DataConfig(name="sine", val=0, label_noise=0.1))


def test_train_records_label_noise(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "data.name=digits",
        "data.label_noise=0.25",
        "model.hidden=[8]",
        "train.epochs=1",
        "threads=1",
        "output.report=false",
        "train.checkpoint=false",
        f"output.dir={tmp_path}",
    ]
    assert main(["train", *args]) == 0
    run_dir = next(p for p in tmp_path.iterdir() if (p / "summary.json").is_file())
    assert json.loads((run_dir / "summary.json").read_text())["data"]["label_noise"] == 0.25
    assert "label_noise: 0.25" in (run_dir / "config.yaml").read_text()
    assert main(["train", *args[:1], "data.label_noise=1"]) == 2
    assert "data.label_noise=1" in capsys.readouterr().err
