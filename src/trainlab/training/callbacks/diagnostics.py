"""Diagnostics: per-layer statistics every K steps into ``stats.csv``, plotted when training ends.

Every ``every`` steps the callback arms forward hooks for the *next* step and snapshots the weights;
after that step it records, per layer, activation mean/std/zero/dead/saturated fractions and 1024
evenly spaced activation values (``trainlab.nn.stats``), the weight gradient norm and the
update/weight ratio of that step. The histograms are drawn at the end over one range per layer, so
they compare across time. Between measurements no hook is installed, so the other K-1 steps cost nothing; with
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
from typing import Any

import numpy as np
import torch

from trainlab.nn.stats import (
    ACT_FIELDS,
    ActivationRecorder,
    WeightSnapshot,
    gradient_norms,
    kind_of,
)
from trainlab.training.loop import Callback, Trainer

STATS = "stats.csv"
COLUMNS = ("step", "epoch", "layer", *ACT_FIELDS, "grad_norm", "weight_norm", "update_ratio")


class Diagnostics(Callback):
    """Record per-layer statistics of one step every ``every`` steps; write stats.csv and plots."""

    def __init__(self, run_dir: str | Path, every: int, bins: int = 40, sample: int = 1024):
        self.dir = Path(run_dir)
        self.every = every
        self.bins = bins
        self.sample = sample  # activation values kept per layer and measurement, for the histograms
        self.recorder: ActivationRecorder | None = None
        self.snapshot: WeightSnapshot | None = None
        self.rows: list[dict[str, float | str]] = []
        self.sample_steps: list[int] = []
        self.samples: dict[str, list[torch.Tensor]] = {}
        self.kinds: dict[str, str] = {}

    def on_fit_start(self, trainer: Trainer) -> None:
        self.recorder = ActivationRecorder(trainer.model, sample=self.sample)
        self.kinds = {n: kind_of(m) for n, m in trainer.model.named_modules() if n}
        if trainer.step % self.every == 0:
            self._arm(trainer)  # measure the very first step too (or, resumed, the step that was armed)

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
        if self.recorder.samples:
            self.sample_steps.append(trainer.step)
            for n, v in self.recorder.samples.items():
                self.samples.setdefault(n, []).append(v.cpu())
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

    def state_dict(self) -> dict[str, Any]:
        """Rows and activation samples so far, so a resumed run's stats.csv and plots cover the whole run."""
        return {"rows": self.rows, "sample_steps": self.sample_steps, "samples": self.samples}

    def check_state(self, state: Any, trainer: Trainer) -> None:
        """rows: per-layer statistics (mappings); sample_steps: step numbers; samples: lists per layer."""
        if not isinstance(state, dict):
            raise ValueError("expected a mapping")
        rows, steps, samples = state.get("rows", []), state.get("sample_steps", []), state.get("samples", {})
        if not isinstance(rows, list) or not all(
            isinstance(r, dict) and all(isinstance(k, str) for k in r) for r in rows
        ):
            raise ValueError("rows is not a list of per-layer records")
        if not isinstance(steps, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in steps):
            raise ValueError("sample_steps is not a list of step numbers")
        if not isinstance(samples, dict) or not all(
            isinstance(k, str) and isinstance(v, (list, tuple)) for k, v in samples.items()
        ):
            raise ValueError("samples is not a mapping of layer names to lists")

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` saved."""
        self.rows = list(state.get("rows", []))
        self.sample_steps = list(state.get("sample_steps", []))
        self.samples = {k: list(v) for k, v in state.get("samples", {}).items()}

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
            plot_stats(self.dir, self.rows, self.sample_steps, self.samples, self.kinds, self.bins)


def histograms(samples: list[torch.Tensor], kind: str, bins: int) -> tuple[list[list[float]], float, float]:
    """Counts per measurement over one range for all of them: the layer's output range for tanh/sigmoid,
    else the 0.1%..99.9% quantiles of every sampled value (values outside land in the end bins)."""
    every = torch.cat(samples)
    every = every[torch.isfinite(every)]
    every = every[:: max(1, every.numel() // 1_000_000)]  # torch.quantile's input limit; a million is plenty
    if kind == "tanh":
        lo, hi = -1.0, 1.0
    elif kind == "sigmoid":
        lo, hi = 0.0, 1.0
    elif every.numel():
        lo, hi = torch.quantile(every, torch.tensor([0.001, 0.999])).tolist()
        lo = 0.0 if kind == "relu" else lo
    else:
        lo, hi = 0.0, 1.0
    hi = hi if hi > lo else lo + 1e-6
    counts = [torch.histc(s.nan_to_num(0.0).clamp(lo, hi), bins=bins, min=lo, max=hi).tolist() for s in samples]
    return counts, lo, hi


def plot_stats(
    out_dir: Path,
    rows: list[dict],
    steps: list[int],
    samples: dict[str, list[torch.Tensor]],
    kinds: dict[str, str],
    bins: int = 40,
) -> list[Path]:
    """The three diagnostics figures as PNGs in ``out_dir``; returns their paths."""
    # lazy: matplotlib loads only when a figure is drawn (it costs ~0.3 s at start-up)
    import matplotlib

    matplotlib.use("Agg")
    # lazy: matplotlib loads only when a figure is drawn (it costs ~0.3 s at start-up)
    import matplotlib.pyplot as plt

    written = []
    if samples and len(steps) > 1:
        names = list(samples)
        cols = min(4, len(names))
        nrows = math.ceil(len(names) / cols)
        fig, axes = plt.subplots(nrows, cols, figsize=(3.2 * cols, 2.4 * nrows), dpi=100, squeeze=False)
        for ax, name in zip(axes.flat, names):
            counts, lo, hi = histograms(samples[name], kinds.get(name, ""), bins)
            h = np.log1p(np.asarray(counts).T)  # bins x time: the "colourful dimension" view
            ax.imshow(h, origin="lower", aspect="auto", cmap="viridis", extent=(steps[0], steps[-1], lo, hi))
            ax.set_title(name, fontsize=9)
            ax.tick_params(labelsize=7)
        for ax in list(axes.flat)[len(names) :]:
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
            ax.plot(
                xs,
                ys,
                color=plt.cm.viridis(i / max(len(series) - 1, 1)),
                lw=1.2,
                label=name,
                marker="." if len(xs) < 30 else None,
            )
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
    # lazy: matplotlib loads only when a figure is drawn (it costs ~0.3 s at start-up)
    import matplotlib.pyplot as plt

    fig.savefig(path)
    plt.close(fig)
    return path
