"""Figures for reports, drawn with matplotlib's Agg backend (no pyplot, no display needed).

Every figure has a transparent background, mid-grey text and axes and mid-lightness colours, so the
same image reads on a light and on a dark page. Functions here return matplotlib Figures or pixel
arrays; ``pages.image_uri`` turns either into the ``data:`` URI a page inlines (SVG for plots, PNG
for pixel images).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from trainlab.errors import TrainlabError
from trainlab.nn.activations import ACTIVATIONS
from trainlab.training.callbacks.notebook import in_notebook

GREY = "#8b8b8b"
# Tableau-10 hues: mid lightness, distinguishable on white and on near-black
PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7", "#9c755f", "#bab0ac"]
RC = {
    "figure.facecolor": "none",
    "axes.facecolor": "none",
    "savefig.transparent": True,
    "text.color": GREY,
    "axes.labelcolor": GREY,
    "axes.edgecolor": GREY,
    "axes.titlecolor": GREY,
    "xtick.color": GREY,
    "ytick.color": GREY,
    "grid.color": GREY,
    "grid.alpha": 0.25,
    "axes.grid": True,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "font.size": 9,
    "axes.titlesize": 10,
    "lines.linewidth": 1.8,
    "svg.hashsalt": "trainlab",
}


def _matplotlib() -> Any:
    # lazy: matplotlib costs ~0.3 s to import; it loads with the first figure
    import matplotlib

    if not in_notebook():  # in Jupyter, Agg would stop the user's own pyplot figures from showing inline
        matplotlib.use("Agg", force=False)  # harmless if already Agg; never opens a window
    return matplotlib


def preload() -> None:
    """Import what drawing needs (matplotlib's Figure, Agg, colormaps) ahead of time."""
    _matplotlib()
    # lazy: this is the early load itself, called where forked workers should share the import
    import matplotlib.backends.backend_agg  # noqa: F401
    import matplotlib.figure  # noqa: F401
    from matplotlib import colormaps  # noqa: F401


def figure(width: float, height: float) -> Any:
    """A themed matplotlib Figure (not registered with pyplot, so it is freed with its last reference)."""
    # lazy: matplotlib costs ~0.3 s to import; it loads with the first figure
    from matplotlib.figure import Figure

    with theme():
        # fixed margins: constrained layout costs more than the drawing itself
        return Figure(figsize=(width, height))


@contextlib.contextmanager
def theme(**overrides: Any) -> Iterator[None]:
    """The report's rc settings (transparent, mid-grey, PALETTE) for what is drawn inside the block."""
    mpl = _matplotlib()
    # lazy: matplotlib costs ~0.3 s to import; it loads with the first figure
    from cycler import cycler

    with mpl.rc_context({**RC, "axes.prop_cycle": cycler(color=PALETTE), **overrides}):
        yield


def themed(draw: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: run a drawing function inside the report's rc settings."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with theme():
            return draw(*args, **kwargs)

    wrapper.__doc__, wrapper.__name__ = draw.__doc__, draw.__name__
    return wrapper


def retheme(fig: Any) -> Any:
    """Recolour what was drawn outside :func:`theme` (black text, white legends) so ``fig`` reads on light and dark.

    For figures drawn by other code (the lessons): texts, ticks and spines left at matplotlib's black
    turn mid-grey, backgrounds and legend boxes turn transparent; colours chosen on purpose stay.
    """
    # lazy: matplotlib costs ~0.3 s to import; the caller's figure means it has loaded
    from matplotlib.colors import same_color
    from matplotlib.legend import Legend
    from matplotlib.text import Text

    fig.patch.set_facecolor("none")
    for ax in fig.axes:
        ax.patch.set_facecolor("none")
        for spine in ax.spines.values():
            if same_color(spine.get_edgecolor(), "black"):
                spine.set_edgecolor(GREY)
        ax.tick_params(which="both", colors=GREY)
    for legend in fig.findobj(Legend):
        legend.get_frame().set_facecolor("none")
        legend.get_frame().set_edgecolor("none")
    for text in fig.findobj(Text):
        if same_color(text.get_color(), "black"):
            text.set_color(GREY)
    return fig


def to_display(x: np.ndarray) -> np.ndarray:
    """An input image (C, H, W) as uint8 (H, W) or (H, W, 3), min-max stretched for display."""
    x = np.asarray(x, dtype=np.float32)
    img = x[0] if x.shape[0] == 1 else np.moveaxis(x[:3], 0, -1)
    lo, hi = float(img.min()), float(img.max())
    return ((img - lo) / (hi - lo if hi > lo else 1.0) * 255).round().astype(np.uint8)


def weight_mosaic(
    w: np.ndarray, input_shape: Sequence[int], max_units: int = 64, tile_px: int = 48
) -> tuple[np.ndarray, int]:
    """First-layer weights as one RGB mosaic (blue < 0 < red, each unit scaled to its own max |w|).

    ``w`` is a Linear weight (units, C*H*W) or a Conv2d weight (out, in, k, k). Returns the pixels
    and the number of units shown.
    """
    # lazy: matplotlib costs ~0.3 s to import; it loads with the first figure
    from matplotlib import colormaps

    w = np.asarray(w, dtype=np.float32)
    tiles = w.reshape(w.shape[0], *input_shape) if w.ndim == 2 else w
    tiles = tiles[:max_units].mean(axis=1)  # one map per unit (average over input channels)
    n, h, wd = tiles.shape
    tiles = tiles / np.maximum(np.abs(tiles).reshape(n, -1).max(1), 1e-12)[:, None, None]
    cols = min(n, 16)
    rows = math.ceil(n / cols)
    gap = 1
    canvas = np.full((rows * (h + gap) - gap, cols * (wd + gap) - gap), np.nan, dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, cols)
        canvas[r * (h + gap) : r * (h + gap) + h, c * (wd + gap) : c * (wd + gap) + wd] = tiles[i]
    rgba = colormaps["RdBu_r"]((np.nan_to_num(canvas) + 1) / 2, bytes=True)
    rgba[np.isnan(canvas)] = 0  # transparent gaps
    scale = max(1, math.ceil(tile_px / max(h, wd)))  # whole-pixel upscaling keeps the pixels sharp
    return rgba.repeat(scale, 0).repeat(scale, 1), n


def _curve_panels(history: list[dict[str, float]]) -> list[tuple[str, str]]:
    """The (metric key, title) of each learning-curve panel: loss, accuracy (classification), learning rate."""
    has_acc = any("train_accuracy" in m or "val_accuracy" in m or "val_knn_accuracy" in m for m in history)
    return [("loss", "loss")] + ([("accuracy", "accuracy")] if has_acc else []) + [("lr", "learning rate")]


def _draw_curve(ax: Any, history: list[dict[str, float]], key: str, title: str) -> None:
    """One learning-curve panel: ``key`` per epoch (train, validation, kNN monitor), or the learning rate."""
    epochs = [m.get("epoch", i + 1) for i, m in enumerate(history)]
    dots = {"marker": "o", "ms": 3} if len(history) <= 30 else {}  # a dot per epoch while they stay apart
    if key == "lr":
        ax.plot(epochs, [m.get("lr", float("nan")) for m in history], color=PALETTE[4], **dots)
        lrs = [m["lr"] for m in history if m.get("lr", 0) > 0]
        if lrs and max(lrs) / min(lrs) > 20:
            ax.set_yscale("log")
        elif lrs and max(lrs) == min(lrs):  # constant: show it against zero, not as noise
            ax.set_ylim(0, lrs[0] * 1.5)
        if ax.get_yscale() == "linear":
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
    else:
        # val_knn: a pretraining run's kNN monitor (training/callbacks/knn.py)
        for split, color in (("train", PALETTE[0]), ("val", PALETTE[1]), ("val_knn", PALETTE[2])):
            ys = [m.get(f"{split}_{key}", float("nan")) for m in history]
            if not all(math.isnan(v) for v in ys):
                ax.plot(epochs, ys, color=color, label=split.replace("_", " "), **dots)
        ax.legend(loc="best")
    ax.set_title(title)
    ax.set_xlabel("epoch")
    _epoch_ticks(ax, epochs)


@themed
def learning_curves(history: list[dict[str, float]]) -> Any:
    """Loss, accuracy (classification) and learning rate per epoch, train and validation, side by side."""
    panels = _curve_panels(history)
    fig = figure(3.3 * len(panels), 2.8)
    fig.subplots_adjust(left=0.07, right=0.99, bottom=0.17, top=0.9, wspace=0.28)
    for i, (key, title) in enumerate(panels):
        _draw_curve(fig.add_subplot(1, len(panels), i + 1), history, key, title)
    return fig


@themed
def learning_curve_panels(history: list[dict[str, float]]) -> list[tuple[str, Any]]:
    """The panels of :func:`learning_curves` as one Figure each, (title, Figure), for a page to lay out."""
    out = []
    for key, title in _curve_panels(history):
        fig = figure(3.6, 2.7)
        fig.subplots_adjust(left=0.17, right=0.97, bottom=0.17, top=0.9)
        _draw_curve(fig.add_subplot(1, 1, 1), history, key, title)
        out.append((title, fig))
    return out


def _epoch_ticks(ax: Any, epochs: Sequence[float]) -> None:
    """Whole-number epoch ticks (every epoch when there are few, so one epoch is not 0.96..1.04)."""
    if len(epochs) <= 12:
        ax.set_xticks(list(epochs))
        ax.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)
    else:
        ax.xaxis.get_major_locator().set_params(integer=True)


@themed
def embedding(coords: np.ndarray, labels: np.ndarray | None, classes: Sequence[str], title: str) -> Any:
    """A 2-D picture of learned features: one dot per example, coloured by its class when there are labels."""
    fig = figure(5.2, 4.2)
    fig.subplots_adjust(left=0.1, right=0.78 if labels is not None else 0.97, bottom=0.1, top=0.92)
    ax = fig.add_subplot(1, 1, 1)
    if labels is None:
        ax.scatter(coords[:, 0], coords[:, 1], s=4, color=PALETTE[0], linewidths=0)
    else:
        for c, name in enumerate(classes):
            pts = coords[labels == c]
            ax.scatter(pts[:, 0], pts[:, 1], s=4, color=PALETTE[c % len(PALETTE)], linewidths=0, label=name)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, markerscale=3)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)
    return fig


@themed
def decision_boundary(b: dict[str, np.ndarray], classes: Sequence[str]) -> Any:
    """The predicted class over the plane (shaded by confidence) with the training points on top."""
    # lazy: matplotlib costs ~0.3 s to import; it loads with the first figure
    from matplotlib.colors import to_rgb

    fig = figure(4.6, 4.2)
    fig.subplots_adjust(left=0.11, right=0.97, bottom=0.08, top=0.92)
    ax = fig.add_subplot(1, 1, 1)
    colors = np.array([to_rgb(PALETTE[i % len(PALETTE)]) for i in range(len(classes))])
    rgba = np.concatenate(
        [colors[b["cls"].astype(int)], (0.15 + 0.4 * b["conf"].astype(np.float32)[..., None])], axis=-1
    )
    x0, x1, y0, y1 = (float(v) for v in b["extent"])
    ax.imshow(rgba, origin="lower", extent=(x0, x1, y0, y1), aspect="auto", interpolation="nearest")
    for c, name in enumerate(classes):
        pts = b["x"][b["y"] == c]
        ax.scatter(
            pts[:, 0], pts[:, 1], s=9, color=PALETTE[c % len(PALETTE)], edgecolors=GREY, linewidths=0.3, label=name
        )
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.grid(False)
    ax.legend(loc="upper right", fontsize=8, markerscale=1.5)
    ax.set_title("decision regions (shade = confidence) and training points")
    return fig


@themed
def regression_fit(y_true: np.ndarray, y_pred: np.ndarray, x: np.ndarray | None = None) -> Any:
    """Predicted against true targets (on the diagonal = perfect), and for one input the fitted curve."""
    panels = 2 if x is not None else 1
    fig = figure(4.2 * panels, 3.6)
    fig.subplots_adjust(left=0.1 if panels == 2 else 0.16, right=0.98, bottom=0.14, top=0.9, wspace=0.25)
    ax = fig.add_subplot(1, panels, 1)
    lo, hi = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
    ax.plot([lo, hi], [lo, hi], color=GREY, lw=1, ls="--", label="perfect")
    ax.scatter(y_true, y_pred, s=8, color=PALETTE[0], alpha=0.7, lw=0)
    ax.set_xlabel("true target")
    ax.set_ylabel("prediction")
    ax.set_title("test predictions")
    if x is not None:
        ax = fig.add_subplot(1, 2, 2)
        order = np.argsort(x)
        ax.scatter(x, y_true, s=8, color=PALETTE[0], alpha=0.7, lw=0, label="test data")
        ax.plot(x[order], y_pred[order], color=PALETTE[1], label="model")
        ax.set_xlabel("input (after preprocessing)")
        ax.set_title("fitted function")
        ax.legend(loc="best")
    return fig


def elementwise(module: Any, x: Any) -> bool:
    """True when ``module`` maps each input to one output on its own (so f and f' are curves).

    Checked by definition: on a few points the Jacobian of f must be diagonal (softmax, say, is not).
    """
    probe = x[:: max(1, len(x) // 7)][:7].detach().clone()
    try:
        jac = torch.autograd.functional.jacobian(module, probe)
    except RuntimeError:
        return False
    if jac.shape != (len(probe), len(probe)):
        return False
    return bool((jac - torch.diag(torch.diagonal(jac))).abs().max() == 0)


@themed
def activations_figure(lo: float = -4.0, hi: float = 4.0) -> tuple[Any, list[str]]:
    """Every registered elementwise activation (default parameters) and its autograd derivative."""
    x = torch.linspace(lo, hi, 801)
    curves = []
    for entry in ACTIVATIONS:
        try:
            module = ACTIVATIONS.create(entry.name)
        except TrainlabError:  # layer-type entries (maxout) need a model around them
            continue
        if not elementwise(module, x):
            continue
        xg = x.clone().requires_grad_(True)
        y = module(xg)
        (dy,) = torch.autograd.grad(y.sum(), xg)  # each y_i depends on x_i only, so this is f'(x_i)
        curves.append((entry.name, y.detach().numpy(), dy.numpy()))
    cols = 4
    rows = math.ceil(len(curves) / cols)
    fig = figure(2.6 * cols, 2.2 * rows)
    fig.subplots_adjust(left=0.05, right=0.99, bottom=0.06, top=0.95, wspace=0.22, hspace=0.45)
    for i, (name, y, dy) in enumerate(curves):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.axhline(0, color=GREY, lw=0.6)
        ax.axvline(0, color=GREY, lw=0.6)
        ax.plot(x.numpy(), y, color=PALETTE[0], label="f(x)")
        ax.plot(x.numpy(), dy, color=PALETTE[1], ls="--", label="f'(x)")
        ax.set_title(name)
        ax.set_ylim(max(-4.5, min(y.min(), dy.min()) - 0.3), min(4.5, max(y.max(), dy.max()) + 0.3))
        if i == 0:
            ax.legend(loc="upper left", fontsize=8)
    return fig, [c[0] for c in curves]


def _draw_compare(ax: Any, groups: list[dict[str, Any]], metric: str) -> None:
    """One metric of a comparison per epoch: a line per configuration (mean over seeds), band min..max."""
    for g, group in enumerate(groups):
        series = [[m.get(metric, float("nan")) for m in h] for h in group["histories"] if h]
        if not series:
            continue
        n = min(len(s) for s in series)
        arr = np.array([s[:n] for s in series], dtype=np.float64)
        epochs = np.arange(1, n + 1)
        color = PALETTE[g % len(PALETTE)]
        ax.plot(epochs, arr.mean(0), color=color, label=group["label"])
        if len(series) > 1:
            ax.fill_between(epochs, arr.min(0), arr.max(0), color=color, alpha=0.18, lw=0)
    ax.set_title(metric.replace("_", " "))
    ax.set_xlabel("epoch")
    longest = max((len(h) for group in groups for h in group["histories"]), default=0)
    if longest:
        _epoch_ticks(ax, range(1, longest + 1))
    ax.legend(loc="best", fontsize=7)


@themed
def compare_curve_panels(groups: list[dict[str, Any]], metrics: Sequence[str]) -> list[tuple[str, Any]]:
    """Overlaid per-epoch curves, one Figure per metric, (title, Figure): a line per configuration, band = min..max.

    One image per metric, each with its legend, so a page lays them out side by side or (phones) one per row.
    """
    out = []
    for metric in metrics:
        fig = figure(3.6, 2.9)
        fig.subplots_adjust(left=0.17, right=0.97, bottom=0.16, top=0.9)
        _draw_compare(fig.add_subplot(1, 1, 1), groups, metric)
        out.append((metric.replace("_", " "), fig))
    return out


@themed
def compare_bars(groups: list[dict[str, Any]], metric: str) -> Any:
    """Final ``metric`` per configuration: mean over seeds with ±1 std error bars and each seed as a dot."""
    fig = figure(max(4.0, 0.9 * len(groups) + 1.5), 3.2)
    fig.subplots_adjust(left=0.12, right=0.98, bottom=0.3 if len(groups) > 4 else 0.12, top=0.9)
    ax = fig.add_subplot(1, 1, 1)
    for g, group in enumerate(groups):
        vals = np.array([v for v in group["values"].get(metric, []) if v is not None], dtype=np.float64)
        if not len(vals):
            continue
        color = PALETTE[g % len(PALETTE)]
        ax.bar(
            g,
            vals.mean(),
            color=color,
            alpha=0.85,
            yerr=vals.std(ddof=1) if len(vals) > 1 else None,
            ecolor=GREY,
            capsize=4,
        )
        ax.scatter(np.full(len(vals), g), vals, s=10, color=GREY, zorder=3)
    ax.set_xticks(
        range(len(groups)),
        [g["label"] for g in groups],
        rotation=20 if len(groups) > 4 else 0,
        ha="right" if len(groups) > 4 else "center",
    )
    ax.set_title(f"final {metric.replace('_', ' ')} (mean ± std over seeds)")
    ax.grid(axis="x", visible=False)
    finite = [v for g in groups for v in g["values"].get(metric, []) if v is not None]
    if finite and "accuracy" in metric:
        spread = max(finite) - min(finite)
        ax.set_ylim(max(0.0, min(finite) - max(spread, 0.02) * 1.5), min(1.0, max(finite) + max(spread, 0.02) * 0.8))
    return fig
