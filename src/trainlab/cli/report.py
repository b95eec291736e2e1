"""``trainlab report``: (re)build report.html of runs, or compare.html of comparisons."""

from __future__ import annotations

import argparse
from pathlib import Path

from trainlab.cli.common import keys_apart
from trainlab.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``report`` subcommand."""
    p = sub.add_parser(
        "report",
        help="(re)build report.html of runs (or compare.html of comparisons)",
        description="Write report.html in each run directory: config, data and model summary, learning\n"
        "curves, confusion matrix, per-class accuracy, the most confident mistakes, first-layer weights,\n"
        "the decision boundary of 2-D data, timings and versions: one self-contained file that opens\n"
        "offline. Every run writes one when it finishes (output.report=true); this rebuilds it. A\n"
        "comparison directory (runs/<date>-<time>-compare) gets its compare.html rebuilt.",
        epilog="examples:\n  trainlab report                       # the latest run under runs/\n"
        "  trainlab report runs/20250101-120000-mlp-fashion-mnist\n"
        "  trainlab report runs/*-mlp-* --recompute  # redo predictions from model.safetensors + data\n"
        "  trainlab report runs/20250101-130000-compare",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "runs",
        nargs="*",
        metavar="RUN",
        help="run or comparison directories, or run names under runs/ (default: the latest run); "
        "output.dir=DIR: where run names and the latest run are looked up (default runs)",
    )
    p.add_argument(
        "--recompute",
        action="store_true",
        help="recompute predictions, mistakes and boundary from config + model.safetensors "
        "+ data instead of report.npz",
    )
    p.set_defaults(func=run)


def find_run_dir(arg: str | None, parent: str | Path = "runs") -> Path:
    """A run directory from a path, a run name under ``parent``, or None for the latest run there."""
    if arg is None:
        # lazy: the CLI imports only what this command needs, so `trainlab --help` stays fast
        from trainlab.runs import list_runs

        runs = list_runs(parent)
        if not runs:
            raise ConfigError(f"no runs under {parent}/ yet; train one with `trainlab train` or name a run directory")
        return runs[-1].path
    path = Path(arg)
    if not path.is_dir() and (Path(parent) / path).is_dir():
        path = Path(parent) / path
    if not path.is_dir():
        raise ConfigError(f"{arg!r} is not a run directory (nor a run name under {parent}/)")
    return path


def run(args: argparse.Namespace) -> int:
    """Build each report and print where it is."""
    # lazy: the CLI imports only what this command needs, so `trainlab --help` stays fast
    from trainlab.comparisons import COMPARE_JSON, load_comparison, write_compare_page
    from trainlab.evaluate import build_report
    from trainlab.runs.rundir import CONFIG, SUMMARY

    given, keys = keys_apart(args.runs, "report", ("output.dir",))
    for arg in given or [None]:
        path = find_run_dir(arg, keys.get("output.dir") or "runs")
        if (path / COMPARE_JSON).is_file():
            print(write_compare_page(load_comparison(path)))
            continue
        if (path / CONFIG).is_file() and not (path / SUMMARY).is_file():
            # a report is drawn from the run's results: without them there is nothing to draw
            raise ConfigError(
                f"{path}: no {SUMMARY} (removed, or the run never started training); nothing to report - resume or "
                "retrain the run"
            )
        print(build_report(path, recompute=args.recompute))
    return 0
