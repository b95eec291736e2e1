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
from safetensors import safe_open

from trainlab.formatting import number, seconds
from trainlab.report import pages, plots
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
    return pages.write_page(run_dir / REPORT, "run.html", **context(run, ev))


def _first_layer(run: Run, ev: Evidence) -> np.ndarray | None:
    if not ev.first_layer or not (run.path / WEIGHTS).is_file():
        return None
    with safe_open(str(run.path / WEIGHTS), framework="np") as f:
        return f.get_tensor(ev.first_layer) if ev.first_layer in f.keys() else None


def render(run: Run, ev: Evidence) -> str:
    """The whole report page as HTML text."""
    return pages.render("run.html", **context(run, ev))


def context(run: Run, ev: Evidence) -> dict[str, Any]:
    """What report.html shows, as plain values for templates/run.html."""
    s, cfg = run.summary, run.config
    data = s.get("data", {})
    classes = [str(c) for c in data.get("classes", [])]
    input_shape = tuple(data.get("input_shape", ()))
    ctx: dict[str, Any] = {
        "title": f"trainlab · {run.name}",
        "name": run.name,
        "header": s.get("header", ""),
        "kpis": kpis(s),
        "status": None if s.get("status") in (None, "completed") else s.get("status"),
        "status_reason": s.get("stop_reason") or s.get("error") or "",
        "curves": _curves(run.history),
        "confusion": s.get("confusion_matrix") if classes else None,
        "classes": classes,
        "per_class": _class_bars(s.get("per_class_accuracy", {})),
        "class_pr": _class_pr(s.get("per_class") or {}, classes),
        "mistakes": None,
        "mistakes_note": "",
        "weights": None,
        "predictions": None,
        "boundary": None,
        "embedding": None,
        "representation": _representation(s.get("representation")),
        "facts": _facts(s, cfg),
        "layers": [(n, t, sh, f"{p:,}") for n, t, sh, p in ev.layers],
        "timings": _timings(s),
        "config_blocks": yaml_blocks(cfg.to_yaml()),
        "rebuild": f"trainlab report {run.path}",
    }
    if ev.mistakes is not None and len(ev.mistakes) and len(input_shape) == 3 and ev.mistake_x is not None:
        ctx["mistakes"] = [
            {
                "uri": pages.image_uri(plots.to_display(x)),
                "truth": classes[int(ev.y_true[i])],
                "predicted": classes[int(ev.y_pred[i])],
                "confidence": float(ev.confidence[i]),
                "index": int(i),
            }
            for x, i in zip(ev.mistake_x, ev.mistakes, strict=True)
        ]
        wrong = int((ev.y_true != ev.y_pred).sum())
        ctx["mistakes_note"] = (
            f"{wrong} of {len(ev.y_true)} test examples are wrong; shown: the {len(ctx['mistakes'])} the model was "
            "most sure of (green: true, red: predicted, with its probability)"
        )
    weights = _first_layer(run, ev)
    if weights is not None:
        pixels, n = plots.weight_mosaic(weights, input_shape)
        note = (
            f"{ev.first_layer}: {n} of {weights.shape[0]} units, each scaled to its own largest |w|; "
            "red positive, blue negative"
        )
        ctx["weights"] = {
            "uri": pages.image_uri(pixels),
            "alt": f"first-layer weights of {n} units",
            "width": pixels.shape[1],
            "note": note,
        }
    if data.get("task") == "regression" and ev.y_true is not None and len(ev.y_true):
        ctx["predictions"] = pages.image_uri(plots.regression_fit(ev.y_true, ev.y_pred, ev.x_1d), "svg")
    if ev.embedding is not None and len(ev.embedding):
        names = classes
        if ev.embedding_y is not None and not names:  # an older summary without class names
            names = [str(c) for c in range(int(ev.embedding_y.max()) + 1)]
        fig = plots.embedding(
            ev.embedding, ev.embedding_y, names, f"encoder features of {len(ev.embedding)} test examples, PCA"
        )
        ctx["embedding"] = pages.image_uri(fig, "png", dpi=90)  # PNG: 2,000 dots would make a heavy SVG
    if ev.boundary:
        ctx["boundary"] = pages.image_uri(plots.decision_boundary(ev.boundary, classes), "svg")
    return ctx


def _curves(history: list[dict[str, float]]) -> list[dict[str, str]]:
    """The learning curves, one image per panel, so a narrow page stacks them at full width."""
    return (
        [
            {"uri": pages.image_uri(fig, "svg"), "alt": f"{title} per epoch"}
            for title, fig in plots.learning_curve_panels(history)
        ]
        if history
        else []
    )


def _representation(rep: dict[str, Any] | None) -> dict[str, Any] | None:
    """A pretraining run's probes (summary.json ``representation``) as table rows: features × label fractions."""
    if not rep:
        return None
    sets = [k for k, v in rep.items() if isinstance(v, dict)]
    fractions = list(rep[sets[0]]["linear_probe"]) if sets else []
    header = ["features", "dimensions", *(f"linear probe, {f} labels" for f in fractions), "kNN"]
    rows = [
        [
            k.replace("_", " "),
            str(rep[k]["features"]),
            *(number(rep[k]["linear_probe"][f]) for f in fractions),
            number(rep[k].get("knn")),
        ]
        for k in sets
    ]
    note = (
        f"test accuracy ({rep.get('test', '?')} examples) of classifiers on frozen features, "
        f"trained on the train split's labels ({rep.get('train_labels', '?')} at 100%)"
    )
    return {"header": header, "rows": rows, "numeric": tuple(range(1, len(header))), "note": note}


def yaml_blocks(text: str) -> list[str]:
    """YAML text cut before each top-level key, so a page can flow the blocks in columns without splitting one."""
    blocks: list[str] = []
    for line in text.splitlines():
        if blocks and line[:1] in (" ", "-", "#", ""):  # an indented child, a list item or a blank: same block
            blocks[-1] += "\n" + line
        else:
            blocks.append(line)
    return blocks


def kpis(s: dict[str, Any]) -> list[tuple[str, str]]:
    """The headline figures of a run's summary, as (label, text) pairs (the page's and the notebook card's)."""
    items = []
    if "test_accuracy" in s:
        items.append(("test accuracy", number(s["test_accuracy"])))
    if "test_loss" in s:
        items.append(("test loss", number(s["test_loss"])))
    if s.get("best_val_accuracy") is not None:
        items.append(("best val accuracy", number(s["best_val_accuracy"])))
    for key, label in (("test_balanced_accuracy", "balanced accuracy"), ("test_macro_f1", "macro-F1")):
        if key in s:  # what accuracy hides on imbalanced data (docs/imbalance.md)
            items.append((label, number(s[key])))
    if s.get("kind") == "baseline":  # a scikit-learn baseline: no epochs, but train accuracy tells over/underfit
        items.append(("train accuracy", number(s.get("train_accuracy"))))
        if "adjusted_rand_index" in s:
            items.append(("adjusted Rand index", number(s["adjusted_rand_index"])))
    if "test_r2" in s:
        items.append(("test R²", number(s["test_r2"])))
    if "epochs" in s:
        items.append(("epochs", str(s["epochs"])))
    if "fit_seconds" in s:
        items.append(("fit time", seconds(s["fit_seconds"])))
    if "params" in s:
        items.append(("parameters", f"{s['params']:,}"))
    return items


def _class_bars(per_class: dict[str, float]) -> list[dict[str, Any]]:
    """Per-class accuracy rows for the bars, worst first (NaN last)."""
    items = sorted(per_class.items(), key=lambda kv: kv[1] if kv[1] == kv[1] else 2.0)
    return [
        {"name": str(name), "accuracy": acc, "width": 0.0 if acc != acc else max(0.0, min(1.0, acc)) * 100}
        for name, acc in items
    ]


def _class_pr(report: dict[str, dict[str, Any]], classes: list[str]) -> list[dict[str, Any]]:
    """Per-class recall/precision bar rows (summary.json's ``per_class``, in class order), worst recall first."""
    if len(report) != len(classes):
        return []  # a run from before per-class precision was recorded: the accuracy bars instead

    def pct(v: float) -> float:
        return 0.0 if v != v else max(0.0, min(1.0, v)) * 100

    rows = [
        {"name": name, **r, "rw": pct(r["recall"]), "pw": pct(r["precision"])}
        for name, r in zip(classes, report.values(), strict=True)
    ]
    return sorted(rows, key=lambda r: r["recall"] if r["recall"] == r["recall"] else 2.0)


def _facts(s: dict[str, Any], cfg: Any) -> list[tuple[str, str]]:
    d = s.get("data", {})
    return [
        ("data set", str(d.get("name", cfg.data.name))),
        ("examples", f"{d.get('train', '?')} train / {d.get('val', '?')} val / {d.get('test', '?')} test"),
        ("input shape", "x".join(map(str, d.get("input_shape", [])))),
        ("task", f"{d.get('task', '?')}" + (f", {len(d.get('classes', []))} classes" if d.get("classes") else "")),
        ("preprocess", str(cfg.data.preprocess)),
        ("augment", ", ".join(map(str, cfg.data.augment)) or "none"),
    ] + (
        [  # a scikit-learn baseline (trainlab baselines): the estimator instead of layers
            ("baseline", str(s.get("baseline", ""))),
            (
                "estimator",
                f"{s.get('estimator', '')}({', '.join(f'{k}={v}' for k, v in s.get('estimator_params', {}).items())})",
            ),
        ]
        if s.get("kind") == "baseline"
        else []
    )


def _timings(s: dict[str, Any]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, label in (
        ("fit_seconds", "fit"),
        ("eval_seconds", "final evaluation"),
        ("report_seconds", "report at end of training"),
    ):
        if key in s:
            rows.append((label, seconds(s[key], 2)))
    if s.get("epochs") and s.get("fit_seconds"):
        rows.append(("per epoch", seconds(s["fit_seconds"] / s["epochs"], 2)))
    for key in ("steps", "device", "threads", "started", "finished", "status", "stop_reason"):
        if s.get(key) not in (None, ""):
            rows.append((key.replace("_", " "), str(s[key])))
    if s.get("initial_loss") is not None:
        rows.append(("initial loss", f"{s['initial_loss']:.4f} (expected {number(s.get('expected_initial_loss'))})"))
    return rows + [(str(k), str(v)) for k, v in s.get("versions", {}).items()]
