"""Each run kind's answer in one line, for ``trainlab show`` and ``trainlab runs``: the linear probes of a
pretraining run, R² of a regression, balanced accuracy where classes are imbalanced, else accuracy."""

from __future__ import annotations

from typing import Any


def _f(v: Any, digits: int = 4) -> str:
    return f"{v:.{digits}f}"


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def headline(s: dict[str, Any], imbalanced: bool = False, short: bool = False) -> str:
    """The answer of a run from its summary: what a learner asks of this kind of run (``-`` when none).

    ``imbalanced``: the training classes were made long-tailed (``data.imbalance``), where accuracy hides
    the minority classes and balanced accuracy leads; ``short``: the compact form of a table cell."""
    rep = s.get("representation")
    mine = rep.get("pretrained") if isinstance(rep, dict) else None
    if isinstance(mine, dict) and isinstance(mine.get("linear_probe"), dict):
        probes = mine["linear_probe"]
        if short:
            return "probe " + " ".join(f"{k}:{_f(v, 3)}" for k, v in probes.items() if _is_num(v))
        knn = f", kNN {_f(mine['knn'])}" if _is_num(mine.get("knn")) else ""
        shown = "  ".join(f"{k} {_f(v)}" for k, v in probes.items() if _is_num(v))
        return f"linear probe accuracy with {shown} of the labels{knn}"
    if _is_num(s.get("test_r2")):
        if short:
            return f"R² {_f(s['test_r2'])}"
        mse = f" (MSE {_f(s['test_mse'])}, MAE {_f(s['test_mae'])})" if _is_num(s.get("test_mse")) else ""
        return f"test R² {_f(s['test_r2'])}{mse}"
    acc, balanced = s.get("test_accuracy"), s.get("test_balanced_accuracy")
    if imbalanced and _is_num(balanced):
        if short:
            return f"bal. acc {_f(balanced)}"
        return f"test balanced accuracy {_f(balanced)} (accuracy {_f(acc)})" if _is_num(acc) else _f(balanced)
    if _is_num(acc):
        return f"acc {_f(acc)}" if short else f"test accuracy {_f(acc)}"
    if _is_num(s.get("test_loss")):
        return f"loss {_f(s['test_loss'])}" if short else f"test loss {_f(s['test_loss'])}"
    return "-"


def baseline_params(s: dict[str, Any]) -> str:
    """A baseline's estimator and the parameters it was fitted with: ``KNeighborsClassifier n_neighbors=3 ...``."""
    params = s.get("estimator_params")
    if not isinstance(params, dict):
        return str(s.get("estimator", ""))
    return f"{s.get('estimator', '')} " + " ".join(f"{k}={v}" for k, v in params.items())


def is_imbalanced(config: Any) -> bool:
    """Whether a run's training classes were made long-tailed (its config's ``data.imbalance``)."""
    try:
        return str(config.data.imbalance).strip() not in ("", "none")
    except AttributeError:
        return False
