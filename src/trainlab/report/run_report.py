"""``report.html`` for one run: what it was, how it learned, where it fails, what it learned.

Drawn from the run directory alone (config.yaml, metrics.csv, summary.json, model.safetensors and
report.npz), so ``trainlab report RUN`` can redraw it at any time (``trainlab.evaluate.build_report``
rebuilds the evidence through the run builder when report.npz is missing).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from trainlab.atomic import write_text
from trainlab.report import html as H
from trainlab.report.evidence import EVIDENCE, Evidence, collect
from trainlab.runs.rundir import WEIGHTS, Run, load_run

REPORT = "report.html"


def report_at_end(run_dir: Path, trainer: Any) -> float:
    """Save the evidence of a just-trained model and write report.html; returns the seconds it took."""
    t0 = time.perf_counter()
    ev = collect(trainer)
    ev.save(run_dir / EVIDENCE)
    write_run_report(run_dir, ev)
    return time.perf_counter() - t0


def write_run_report(run_dir: Path, ev: Evidence) -> Path:
    """Render the page and write it atomically."""
    run = load_run(run_dir)
    out = run_dir / REPORT
    write_text(out, render(run, ev))
    return out


def _first_layer(run: Run, ev: Evidence) -> np.ndarray | None:
    if not ev.first_layer or not (run.path / WEIGHTS).is_file():
        return None
    from safetensors import safe_open

    with safe_open(str(run.path / WEIGHTS), framework="np") as f:
        return f.get_tensor(ev.first_layer) if ev.first_layer in f.keys() else None


def render(run: Run, ev: Evidence) -> str:
    """The whole report page as HTML text."""
    from trainlab.report import plots

    s, cfg = run.summary, run.config
    data = s.get("data", {})
    classes = [str(c) for c in data.get("classes", [])]
    input_shape = tuple(data.get("input_shape", ()))
    parts = [f"<h1>{H.esc(run.name)}</h1><p class=sub>{H.esc(s.get('header', ''))}</p>"]
    parts.append(H.kpis(_kpis(s)))
    if s.get("status") not in (None, "completed"):
        parts.append(H.section("Status", f"<p>{H.esc(s.get('status'))}: {H.esc(s.get('stop_reason') or s.get('error') or '')}</p>"))
    if run.history:
        parts.append(H.section("Learning curves", H.img(plots.svg_uri(plots.learning_curves(run.history)), "loss, accuracy and learning rate per epoch")))
    if s.get("confusion_matrix") and classes:
        cm = H.section("Confusion matrix (test)", H.confusion_table(s["confusion_matrix"], classes), "rows: true class, columns: predicted; shade: share of the row")
        pc = H.section("Per-class accuracy (test)", H.accuracy_bars(s.get("per_class_accuracy", {})), "worst first")
        parts.append(f"<div class=grid2>{cm}{pc}</div>")
    if ev.mistakes is not None and len(ev.mistakes) and len(input_shape) == 3 and ev.mistake_x is not None:
        items = [
            (plots.png_uri(plots.to_display(x)), classes[int(ev.y_true[i])], classes[int(ev.y_pred[i])], float(ev.confidence[i]), int(i))
            for x, i in zip(ev.mistake_x, ev.mistakes, strict=True)
        ]
        wrong = int((ev.y_true != ev.y_pred).sum())
        note = f"{wrong} of {len(ev.y_true)} test examples are wrong; shown: the {len(items)} the model was most sure of (green: true, red: predicted, with its probability)"
        parts.append(H.section("Most confident mistakes", H.mistakes_grid(items), note))
    weights = _first_layer(run, ev)
    if weights is not None:
        pixels, n = plots.weight_mosaic(weights, input_shape)
        total = weights.shape[0]
        note = f"{ev.first_layer}: {n} of {total} units, each scaled to its own largest |w|; red positive, blue negative"
        parts.append(H.section("First-layer weights", H.img(plots.png_uri(pixels), f"first-layer weights of {n} units", pixels.shape[1], "weights"), note))
    if data.get("task") == "regression" and ev.y_true is not None and len(ev.y_true):
        fig = plots.regression_fit(ev.y_true, ev.y_pred, ev.x_1d)
        parts.append(H.section("Predictions", H.img(plots.svg_uri(fig), "test predictions against targets"), "test set; the dashed line is a perfect prediction"))
    if ev.boundary:
        parts.append(H.section("Decision boundary", H.img(plots.svg_uri(plots.decision_boundary(ev.boundary, classes)), "decision regions with the training data"), "inputs after preprocessing, as the model sees them"))
    parts.append(f"<div class=grid2>{_data_model(s, cfg, ev)}{_timings(s, run)}</div>")
    parts.append(H.section("Config", f"<details open><summary>config.yaml (resolved: reproduces this run)</summary><pre class=cols>{H.esc(cfg.to_yaml())}</pre></details>"))
    parts.append(f"<p class=note>Rebuild this page: <code>trainlab report {H.esc(run.path)}</code></p>")
    return H.page(f"trainlab · {run.name}", "\n".join(parts))


def _kpis(s: dict[str, Any]) -> list[tuple[str, str]]:
    items = []
    if "test_accuracy" in s:
        items.append(("test accuracy", H.fmt(s["test_accuracy"])))
    if "test_loss" in s:
        items.append(("test loss", H.fmt(s["test_loss"])))
    if s.get("best_val_accuracy") is not None:
        items.append(("best val accuracy", H.fmt(s["best_val_accuracy"])))
    if "test_r2" in s:
        items.append(("test R²", H.fmt(s["test_r2"])))
    if "epochs" in s:
        items.append(("epochs", str(s["epochs"])))
    if "fit_seconds" in s:
        items.append(("fit time", f"{s['fit_seconds']:.1f} s"))
    if "params" in s:
        items.append(("parameters", f"{s['params']:,}"))
    return items


def _data_model(s: dict[str, Any], cfg: Any, ev: Evidence) -> str:
    d = s.get("data", {})
    rows = [
        ("data set", d.get("name", cfg.data.name)),
        ("examples", f"{d.get('train', '?')} train / {d.get('val', '?')} val / {d.get('test', '?')} test"),
        ("input shape", "x".join(map(str, d.get("input_shape", [])))),
        ("task", f"{d.get('task', '?')}" + (f", {len(d.get('classes', []))} classes" if d.get("classes") else "")),
        ("preprocess", cfg.data.preprocess),
        ("augment", ", ".join(map(str, cfg.data.augment)) or "none"),
    ]
    layers = H.table([(n, t, sh, f"{p:,}") for n, t, sh, p in ev.layers], ("layer", "type", "output", "params"), numeric=(3,)) if ev.layers else ""
    return H.section("Data and model", H.table(rows, cls="facts") + layers)


def _timings(s: dict[str, Any], run: Run) -> str:
    rows: list[tuple[str, str]] = []
    for key, label in (("fit_seconds", "fit"), ("eval_seconds", "final evaluation"), ("report_seconds", "report at end of training")):
        if key in s:
            rows.append((label, f"{s[key]:.2f} s"))
    if s.get("epochs") and s.get("fit_seconds"):
        rows.append(("per epoch", f"{s['fit_seconds'] / s['epochs']:.2f} s"))
    for key in ("steps", "device", "threads", "started", "finished", "status", "stop_reason"):
        if s.get(key) not in (None, ""):
            rows.append((key.replace("_", " "), str(s[key])))
    if s.get("initial_loss") is not None:
        rows.append(("initial loss", f"{s['initial_loss']:.4f} (expected {H.fmt(s.get('expected_initial_loss'))})"))
    versions = [(k, v) for k, v in s.get("versions", {}).items()]
    return H.section("Timings and versions", H.table(rows + versions, cls=""))
