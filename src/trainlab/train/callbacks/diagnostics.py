"""Diagnostics: per-layer statistics every K steps into ``stats.csv``, plotted when training ends.

Every ``every`` steps the callback arms forward hooks for the *next* step and snapshots the weights;
after that step it records, per layer, activation mean/std/zero/dead/saturated fractions and a
histogram (``trainlab.diagnose.stats``), the weight gradient norm and the update/weight ratio of that
step. Between measurements no hook is installed, so the other K-1 steps cost nothing; with
``diagnostics.every=0`` (the default) the callback is not created at all.

Files written in the run directory:
  stats.csv                    one row per (measured step, layer)
  stats_histograms.png         activation histograms over time per layer ("colourful dimension")
  stats_gradient_flow.png      weight-gradient norm per layer over time
  stats_update_ratio.png       update/weight ratio per layer over time (1e-3 marked)
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import torch

from trainlab.diagnose.stats import ACT_FIELDS, ActivationRecorder, WeightSnapshot, gradient_norms
from trainlab.train.loop import Callback, Trainer

STATS = "stats.csv"
COLUMNS = ("step", "epoch", "layer", *ACT_FIELDS, "grad_norm", "weight_norm", "update_ratio")


class Diagnostics(Callback):
    """Record per-layer statistics of one step every ``every`` steps; write stats.csv and plots."""

    order = 50  # after the guard and checkpoint: only healthy steps are measured

    def __init__(self, run_dir: str | Path, every: int, bins: int = 40):
        self.dir = Path(run_dir)
        self.every = every
        self.recorder: ActivationRecorder | None = None
        self.bins = bins
        self.snapshot: WeightSnapshot | None = None
        self.rows: list[dict[str, float | str]] = []
        self.hist_steps: list[int] = []
        self.hists: dict[str, list[list[float]]] = {}

    def on_fit_start(self, trainer: Trainer) -> None:
        self.recorder = ActivationRecorder(trainer.model, bins=self.bins)
        if trainer.step == 0:
            self._arm(trainer)  # measure the very first step too

    def _arm(self, trainer: Trainer) -> None:
        assert self.recorder is not None
        self.snapshot = WeightSnapshot(trainer.model)
        self.recorder.__enter__()

    def on_batch_end(self, trainer: Trainer) -> None:
        if self.snapshot is not None:
            self._collect(trainer)
        if trainer.step % self.every == 0:
            self._arm(trainer)  # the next step is measured

    def _collect(self, trainer: Trainer) -> None:
        assert self.recorder is not None and self.snapshot is not None
        self.recorder.__exit__(None, None, None)
        acts = self.recorder.results()
        grads = gradient_norms(trainer.model)
        updates = self.snapshot.update_ratios()
        self.snapshot = None
        hists = {n: h for n, h in self.recorder.hists.items()}
        if hists:
            names = list(hists)
            counts = torch.stack([hists[n] for n in names]).cpu().tolist()
            self.hist_steps.append(trainer.step)
            for n, c in zip(names, counts):
                self.hists.setdefault(n, []).append(c)
        layers = list(dict.fromkeys([*acts, *grads]))
        for name in layers:
            row: dict[str, float | str] = {"step": trainer.step, "epoch": trainer.epoch + 1, "layer": name}
            row.update(acts.get(name, {}))
            row.update({k: v for k, v in grads.get(name, {}).items() if k != "grad_ratio"})
            if name in updates:
                row["update_ratio"] = updates[name]
            self.rows.append(row)

    def on_epoch_end(self, trainer: Trainer) -> None:
        self.write_csv()

    def write_csv(self) -> Path:
        """Write stats.csv (all rows so far)."""
        path = self.dir / STATS
        with path.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=COLUMNS)
            w.writeheader()
            for row in self.rows:
                w.writerow({k: row.get(k, "") for k in COLUMNS})
        return path

    def on_fit_end(self, trainer: Trainer) -> None:
        self._finish()

    def on_error(self, trainer: Trainer) -> None:
        self._finish()

    def _finish(self) -> None:
        if self.recorder is not None:
            self.recorder.__exit__(None, None, None)
        self.snapshot = None
        if self.rows:
            self.write_csv()
            plot_stats(self.dir, self.rows, self.hist_steps, self.hists, self.recorder.ranges if self.recorder else {})


def plot_stats(out_dir: Path, rows: list[dict], hist_steps: list[int], hists: dict[str, list[list[float]]], ranges: dict[str, tuple[float, float]]) -> list[Path]:
    """The three diagnostics figures as PNGs in ``out_dir``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    written = []
    if hists and len(hist_steps) > 1:
        names = list(hists)
        cols = min(4, len(names))
        nrows = math.ceil(len(names) / cols)
        fig, axes = plt.subplots(nrows, cols, figsize=(3.2 * cols, 2.4 * nrows), dpi=100, squeeze=False)
        for ax, name in zip(axes.flat, names):
            h = np.log1p(np.asarray(hists[name]).T)  # bins x time: the "colourful dimension" view
            lo, hi = ranges.get(name, (0.0, 1.0))
            ax.imshow(h, origin="lower", aspect="auto", cmap="viridis", extent=(hist_steps[0], hist_steps[-1], lo, hi))
            ax.set_title(name, fontsize=9)
            ax.tick_params(labelsize=7)
        for ax in list(axes.flat)[len(names):]:
            ax.axis("off")
        fig.suptitle("activation histograms over steps (log counts)", fontsize=10)
        fig.supxlabel("step", fontsize=9)
        fig.tight_layout()
        written.append(_save(fig, out_dir / "stats_histograms.png"))
    for key, fname, title, ref in (
        ("grad_norm", "stats_gradient_flow.png", "weight-gradient norm per layer", None),
        ("update_ratio", "stats_update_ratio.png", "update / weight ratio per layer", 1e-3),
    ):
        series: dict[str, tuple[list[int], list[float]]] = {}
        for r in rows:
            v = r.get(key)
            if isinstance(v, float) and v > 0 and math.isfinite(v):
                xs, ys = series.setdefault(str(r["layer"]), ([], []))
                xs.append(int(r["step"]))
                ys.append(v)
        if not series:
            continue
        fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
        for i, (name, (xs, ys)) in enumerate(series.items()):
            ax.plot(xs, ys, color=plt.cm.viridis(i / max(len(series) - 1, 1)), lw=1.2, label=name, marker="." if len(xs) < 30 else None)
        if ref:
            ax.axhline(ref, color="0.4", ls="--", lw=1, label=f"{ref:g}")
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_title(title)
        ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        written.append(_save(fig, out_dir / fname))
    return written


def _save(fig, path: Path) -> Path:  # noqa: ANN001 - a matplotlib Figure
    import matplotlib.pyplot as plt

    fig.savefig(path)
    plt.close(fig)
    return path
