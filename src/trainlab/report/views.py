"""A run drawn for a notebook or a script: ``run.plot()``, ``run.confusion()``, ``run.mistakes()``,
``run.weights()`` (matplotlib Figures) and the run table ``runs_table()``.

Drawn from the run directory alone (metrics.csv, summary.json, report.npz, model.safetensors), as
the report page is. ``Run`` (runs/, a layer below) calls these through ``runs.rundir.VIEWS``, which
this module fills when ``trainlab.report`` loads.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from trainlab.errors import TrainlabError
from trainlab.report import pages, plots
from trainlab.report.evidence import EVIDENCE, Evidence
from trainlab.report.run_report import kpis
from trainlab.runs.rundir import VIEWS, WEIGHTS, Run, list_runs, missing_weights
from trainlab.training.callbacks.notebook import show_figures


def plot(run: Run) -> Any:
    """Learning curves: loss, accuracy and learning rate per epoch, train and validation."""
    if not run.history:
        if run.summary.get("kind") == "baseline":
            raise TrainlabError(f"{run.name} is a scikit-learn baseline: it trains in one fit, with no epochs to plot")
        raise TrainlabError(f"{run.name} has no epochs in metrics.csv yet: nothing to plot")
    return plots.learning_curves(run.history)


@plots.themed
def confusion(run: Run, normalize: bool = False) -> Any:
    """The test confusion matrix as a heat map (rows: true class, columns: predicted), with counts."""
    cm = run.summary.get("confusion_matrix")
    classes = [str(c) for c in run.summary.get("data", {}).get("classes", [])]
    if not cm or not classes:
        raise TrainlabError(f"{run.name} has no confusion matrix (a classification run that finished writes one)")
    m = np.asarray(cm, dtype=np.float64)
    share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    n = len(classes)
    side = min(2.0 + 0.45 * n, 8.0)
    fig = plots.figure(side, side)
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.grid(False)
    if n <= 20:  # a count per cell while they stay readable
        for i in range(n):
            for j in range(n):
                text = f"{share[i, j]:.2f}" if normalize else f"{int(m[i, j])}"
                ax.text(
                    j, i, text, ha="center", va="center", fontsize=7, color="white" if share[i, j] > 0.5 else "#444444"
                )
    ax.set_xticks(range(n), classes, rotation=45, ha="right")
    ax.set_yticks(range(n), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    acc = run.summary.get("test_accuracy")
    ax.set_title("test confusion matrix" + (f" (accuracy {acc:.4f})" if isinstance(acc, float) else ""))
    fig.subplots_adjust(left=0.16, right=0.98, bottom=0.16, top=0.92)
    return fig


def evidence(run: Run) -> Evidence:
    """The run's report.npz (written at the end of training unless ``output.report=false``)."""
    path = run.path / EVIDENCE
    if not path.is_file():
        raise TrainlabError(f"{run.name} has no {EVIDENCE}: rebuild it with `trainlab report {run.path}`")
    return Evidence.load(path)


@plots.themed
def mistakes(run: Run, n: int = 16) -> Any:
    """The test examples the model got wrong most confidently: input, true and predicted class, probability."""
    data = run.summary.get("data", {})
    classes = [str(c) for c in data.get("classes", [])]
    ev = evidence(run) if len(data.get("input_shape", ())) == 3 else None
    if ev is None or ev.mistakes is None or ev.mistake_x is None:
        raise TrainlabError(
            f"{run.name}: mistakes are drawn for image classification; this run's inputs have shape "
            f"{data.get('input_shape')}"
        )
    shown = list(zip(ev.mistake_x, ev.mistakes, strict=True))[:n]
    if not shown:
        raise TrainlabError(f"{run.name} made no mistakes on the test set")
    cols = min(len(shown), 8)
    rows = math.ceil(len(shown) / cols)
    height = 1.55 * rows + 0.35
    fig = plots.figure(1.3 * cols, height)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=1 - 0.55 / height, hspace=0.5)
    for k, (x, i) in enumerate(shown):
        ax = fig.add_subplot(rows, cols, k + 1)
        img = plots.to_display(x)
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None)
        ax.set_axis_off()
        ax.set_title(f"{classes[int(ev.y_true[i])]}\n→ {classes[int(ev.y_pred[i])]} {ev.confidence[i]:.0%}", fontsize=7)
    wrong = int((ev.y_true != ev.y_pred).sum())
    fig.suptitle(
        f"most confident mistakes: {len(shown)} of {wrong} wrong of {len(ev.y_true)} (true → predicted, probability)",
        fontsize=8,
    )
    return fig


@plots.themed
def weights(run: Run, units: int = 64) -> Any:
    """The first layer's weights: one image per unit for image inputs, else the weight matrix as a heat map."""
    from safetensors import safe_open  # lazy: only drawing weights reads the weights file

    if not (run.path / WEIGHTS).is_file():
        raise TrainlabError(f"{run.name} has no {WEIGHTS} ({missing_weights(run)})")
    input_shape = tuple(run.summary.get("data", {}).get("input_shape", ()))
    with safe_open(str(run.path / WEIGHTS), framework="np") as f:
        keys = [k for k in f.keys() if k.endswith(".weight") and len(f.get_slice(k).get_shape()) in (2, 4)]
        if not keys:
            raise TrainlabError(f"{run.name}: no linear or convolution weights in {WEIGHTS}")
        key = keys[0]
        w = f.get_tensor(key)
    if len(input_shape) == 3 and (w.ndim == 4 or w.shape[1] == int(np.prod(input_shape))):
        pixels, n = plots.weight_mosaic(w, input_shape, max_units=units)
        fig = plots.figure(min(pixels.shape[1] / 80, 10), min(pixels.shape[0] / 80, 10) + 0.4)
        ax = fig.add_axes((0, 0, 1, 0.92))
        ax.imshow(pixels, interpolation="nearest")
        ax.set_axis_off()
        fig.suptitle(
            f"{key}: {n} of {w.shape[0]} units (red positive, blue negative, each scaled to its own max |w|)",
            fontsize=8,
        )
        return fig
    w = w.reshape(w.shape[0], -1)[:units]
    lim = float(np.abs(w).max()) or 1.0
    fig = plots.figure(min(2 + 0.12 * w.shape[1], 10), min(1.5 + 0.12 * w.shape[0], 8))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(w, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto", interpolation="nearest")
    ax.grid(False)
    ax.set_xlabel("input")
    ax.set_ylabel("unit")
    ax.set_title(f"{key} ({w.shape[0]}x{w.shape[1]})")
    fig.colorbar(im, ax=ax, shrink=0.8)
    return fig


MAX_CM_CLASSES = 20  # a larger confusion matrix is left to run.confusion() and report.html


def html(run: Run) -> str:
    """The run as a notebook card (``Run._repr_html_``): results, learning curves, confusion matrix."""
    return pages.render("run_card.html", **card_context(run))


def card_context(run: Run) -> dict[str, Any]:
    """What a run's notebook card shows, as plain values for templates/run_card.html."""
    s = run.summary
    classes = [str(c) for c in s.get("data", {}).get("classes", [])]
    small = s.get("confusion_matrix") and 0 < len(classes) <= MAX_CM_CLASSES
    return {
        "name": run.name,
        "path": str(run.path),
        "header": s.get("header", ""),
        "kpis": kpis(s),
        "status": None if s.get("status") in (None, "completed") else s.get("status"),
        "status_reason": s.get("stop_reason") or s.get("error") or "",
        "curves": pages.image_uri(plots.learning_curves(run.history), "svg") if run.history else None,
        "confusion": s["confusion_matrix"] if small else None,
        "classes": classes,
    }


COLUMNS = (
    "name",
    "status",
    "data",
    "model",
    "epochs",
    "test_accuracy",
    "test_loss",
    "best_val_accuracy",
    "fit_seconds",
    "path",
)


def run_row(run: Run) -> dict[str, Any]:
    """One row of the run table: what a run was and how it ended."""
    s, cfg = run.summary, run.config
    return {
        "name": run.name,
        "status": s.get("status"),
        "data": cfg.data.name,
        "model": cfg.model.name,
        "epochs": s.get("epochs"),
        "test_accuracy": s.get("test_accuracy"),
        "test_loss": s.get("test_loss"),
        "best_val_accuracy": s.get("best_val_accuracy"),
        "fit_seconds": s.get("fit_seconds"),
        "path": str(run.path),
    }


def runs_table(parent: str | Path = "runs") -> Any:
    """Every run under ``parent`` as a table, oldest first: a pandas DataFrame when pandas is
    installed, else a list of dicts (the same columns)."""
    rows = [run_row(r) for r in list_runs(parent)]
    try:
        import pandas as pd  # optional: a DataFrame when pandas is installed
    except ImportError:
        return rows
    return pd.DataFrame(rows, columns=list(COLUMNS))


VIEWS.update(plot=plot, confusion=confusion, mistakes=mistakes, weights=weights, html=html)
show_figures()  # in a notebook, the Figures these return display as images
