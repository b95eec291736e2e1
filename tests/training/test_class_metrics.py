"""class_report: per-class precision, recall, F1, support; macro-F1, balanced accuracy, G-mean, by hand."""

from __future__ import annotations

import math

import pytest
import torch

from trainlab.training.metrics import class_report


def test_against_hand_computed_values() -> None:
    # rows true, columns predicted: class a 8 right 2 as b; class b 1 as a, 3 right; class c 4 as b, 0 right... plus 1
    # right
    cm = [[8, 2, 0], [1, 3, 0], [0, 4, 1]]
    r = class_report(cm, ["a", "b", "c"])
    a, b, c = r["per_class"]["a"], r["per_class"]["b"], r["per_class"]["c"]
    assert a == pytest.approx(
        {"precision": 8 / 9, "recall": 8 / 10, "f1": 2 * (8 / 9) * 0.8 / (8 / 9 + 0.8), "support": 10}
    )
    assert b["precision"] == pytest.approx(3 / 9) and b["recall"] == pytest.approx(3 / 4) and b["support"] == 4
    assert b["f1"] == pytest.approx(2 * (1 / 3) * 0.75 / (1 / 3 + 0.75))
    assert c["precision"] == pytest.approx(1.0) and c["recall"] == pytest.approx(1 / 5)
    assert r["balanced_accuracy"] == pytest.approx((0.8 + 0.75 + 0.2) / 3)
    assert r["macro_f1"] == pytest.approx((a["f1"] + b["f1"] + c["f1"]) / 3)
    assert r["g_mean"] == pytest.approx((0.8 * 0.75 * 0.2) ** (1 / 3))


def test_majority_predictor_accuracy_hides_what_balanced_accuracy_shows() -> None:
    cm = torch.tensor([[95, 0], [5, 0]])  # always predicts class 0 on 95:5 data
    r = class_report(cm, ["head", "tail"])
    assert (cm.diagonal().sum() / cm.sum()).item() == pytest.approx(0.95)
    assert r["balanced_accuracy"] == pytest.approx(0.5) and r["g_mean"] == 0.0
    assert r["per_class"]["tail"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 5,
    }  # never predicted: 0, not NaN
    assert r["macro_f1"] == pytest.approx((2 * (95 / 100) * 1 / (95 / 100 + 1)) / 2)


def test_a_class_absent_from_the_split_is_left_out_of_the_averages() -> None:
    r = class_report([[4, 0, 0], [0, 2, 2], [0, 0, 0]], ["0", "1", "2"])
    assert math.isnan(r["per_class"]["2"]["recall"]) and r["per_class"]["2"]["support"] == 0
    assert r["balanced_accuracy"] == pytest.approx((1 + 0.5) / 2)
    assert r["g_mean"] == pytest.approx(math.sqrt(0.5))
