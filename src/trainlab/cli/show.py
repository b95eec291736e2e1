"""``trainlab show``: a run's summary in the terminal (metrics, curves per epoch, per-class accuracy)."""

from __future__ import annotations

import argparse
import math
from typing import Any

from trainlab.cli.headline import baseline_params, headline, is_imbalanced


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``show`` subcommand."""
    p = sub.add_parser(
        "show",
        help="print a run's summary: final metrics, metrics per epoch, per-class accuracy, "
        "precision/recall/F1, confusion matrix",
        description="Print what a run directory holds: its setup, final metrics, timings, a table of\n"
        "metrics per epoch, per-class accuracy as bars (worst first), per-class precision, recall\n"
        "and F1 with balanced accuracy, macro-F1 and G-mean, and the confusion matrix.",
        epilog="examples:\n  trainlab show                 # the latest run under runs/\n"
        "  trainlab show runs/20250101-120000-mlp-fashion-mnist\n  trainlab show 20250101-120000-mlp-fashion-mnist "
        "--no-confusion",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "run",
        nargs="*",
        metavar="RUN",
        help="run directory, run name under runs/, or a comparison directory (default: the latest run); "
        "output.dir=DIR: where run names and the latest run are looked up (default runs)",
    )
    p.add_argument("--no-confusion", action="store_true", help="leave out the confusion matrix")
    p.set_defaults(func=run)


def bar(value: float, width: int = 24) -> str:
    """A horizontal bar of eighth-blocks for a value in [0, 1]."""
    if value != value:
        return ""
    eighths = round(max(0.0, min(1.0, value)) * width * 8)
    return "█" * (eighths // 8) + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[eighths % 8]


def _num(v: Any, digits: int = 4) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.{digits}f}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"
    return str(v)


def _cell(col: str, v: float, i: int) -> str:
    if col == "epoch":
        return str(int(v)) if v == v else str(i + 1)
    return f"{v:.3g}" if col == "lr" else _num(v)


def render(run: Any, confusion: bool = True) -> str:
    """The summary text of a loaded Run: its answer first (cli/headline.py), then the details."""
    s = run.summary
    lines = [
        f"run      {run.path}",
        f"status   {s.get('status', '?')}"
        + (f" ({s['stop_reason']})" if s.get("stop_reason") else "")
        + (f": {s['error']}" if s.get("error") else ""),
        f"answer   {headline(s, is_imbalanced(run.config))}",
    ]
    if s.get("header"):
        lines.append(f"setup    {s['header']}")
    if s.get("kind") == "baseline":  # the estimator's own parameters, not the MLP keys its config also holds
        lines.append(f"fitted   {baseline_params(s)}")
    rep = s.get("representation")
    if isinstance(rep, dict):  # pretraining: each encoder's probes beside the pretrained one's
        for name, r in rep.items():
            if isinstance(r, dict) and isinstance(r.get("linear_probe"), dict):
                probes = "  ".join(f"{k} {_num(v)}" for k, v in r["linear_probe"].items())
                knn = f"  kNN {_num(r['knn'])}" if "knn" in r else ""
                lines.append(f"probe    {name}: {probes}{knn}")
    final = [
        (k.replace("_", " "), _num(s[k]))
        for k in ("test_accuracy", "test_loss", "best_val_accuracy", "train_accuracy", "test_mae", "test_r2")
        if isinstance(s.get(k), (int, float))
    ]
    if final:
        lines.append("final    " + "   ".join(f"{k} {v}" for k, v in final))
    balance = [
        (k[5:].replace("_", " "), _num(s[k]))
        for k in ("test_balanced_accuracy", "test_macro_f1", "test_g_mean")
        if isinstance(s.get(k), (int, float))
    ]
    if balance:  # what accuracy hides on imbalanced data (docs/imbalance.md)
        lines.append("classes  " + "   ".join(f"{k} {v}" for k, v in balance))
    times = [
        f"{k} {s[k]:.2f} s"
        for k in ("fit_seconds", "eval_seconds", "report_seconds")
        if isinstance(s.get(k), (int, float))
    ]
    if times:
        lines.append(
            "time     "
            + "   ".join(t.replace("_seconds", "") for t in times)
            + (
                f"   ({s.get('epochs')} epochs, {s.get('steps')} steps, {s.get('device')}, {s.get('threads')} "
                f"thread{'s' if s.get('threads') != 1 else ''})"
                if "epochs" in s
                else ""
            )
        )
    if run.history:
        cols = [
            c
            for c in ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr")
            if any(c in m for m in run.history)
        ]
        rows = [[c.replace("_", " ") for c in cols]] + [
            [_cell(c, m.get(c, float("nan")), i) for c in cols] for i, m in enumerate(run.history)
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(len(cols))]
        lines += ["", *("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows)]
    per_class = s.get("per_class_accuracy") or {}
    if per_class:
        width = max(len(str(k)) for k in per_class)
        lines += ["", "per-class accuracy (test), worst first"]
        for name, acc in sorted(per_class.items(), key=lambda kv: kv[1] if kv[1] == kv[1] else 2.0):
            lines.append(f"  {str(name):<{width}}  {_num(acc, 3)}  {bar(acc)}")
    report = s.get("per_class") or {}
    if report:
        width = max(5, *(len(str(k)) for k in report))
        lines += [
            "",
            "per-class precision, recall and F1 (test)",
            f"  {'class':<{width}}  precision  recall      f1  support",
        ]
        for name, r in report.items():
            lines.append(
                f"  {str(name):<{width}}  {_num(r['precision'], 3):>9}  {_num(r['recall'], 3):>6}  "
                f"{_num(r['f1'], 3):>6}  {r['support']:>7}"
            )
    cm = s.get("confusion_matrix")
    if confusion and cm and per_class:
        names = list(per_class)
        cell = max(4, max(len(str(n)) for row in cm for n in row) + 1)
        width = max(len(str(k)) for k in names)
        lines += ["", "confusion matrix (rows: true class, columns: predicted, numbered as the rows)"]
        lines.append(" " * (width + 7) + "".join(f"{j:>{cell}}" for j in range(len(names))))
        for i, row in enumerate(cm):
            lines.append(f"  {i:>2} {names[i]:<{width}}  " + "".join(f"{n:>{cell}}" for n in row))
    report = run.path / "report.html"
    lines += ["", f"report   {report}" if report.is_file() else f"report   none yet: trainlab report {run.path}"]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print the summary of one run (or the table of a comparison directory)."""
    # lazy: the CLI imports only what this command needs, so `trainlab --help` stays fast
    from trainlab.cli.common import keys_apart
    from trainlab.cli.report import find_run_dir
    from trainlab.errors import ConfigError
    from trainlab.runs import load_run

    given, keys = keys_apart(args.run, "show", ("output.dir",))
    if len(given) > 1:
        raise ConfigError(f"trainlab show takes one RUN, got {len(given)}: {' '.join(given)}")
    path = find_run_dir(given[0] if given else None, keys.get("output.dir") or "runs")
    if (path / "compare.json").is_file():  # comparisons.COMPARE_JSON, named here so a run's show loads no torch
        # lazy: the comparisons package loads the run builder (torch); only a comparison directory needs it
        from trainlab.comparisons import format_table, load_comparison

        print(f"comparison {path}\n\n{format_table(load_comparison(path))}")
        return 0
    print(render(load_run(path), confusion=not args.no_confusion))
    return 0
