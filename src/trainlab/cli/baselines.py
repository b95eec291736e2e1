"""``trainlab baselines``: scikit-learn classifiers by name, each fitted as an ordinary run on a network run's data."""

from __future__ import annotations

import argparse
import signal
import sys

from trainlab.cli.common import OVERRIDES_HELP


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``baselines`` subcommand."""
    p = sub.add_parser(
        "baselines",
        help="fit scikit-learn baselines (svc, knn, random_forest, ...) on the same data and split as a network run",
        description="Fit classical classifiers by name on the data a run config names (data.* keys, the same\n"
        "seeded split and preprocessing fitted on train as `trainlab train`; inputs flattened), one\n"
        "ordinary run directory each: config.yaml (model.name: baseline(NAME)), summary.json (kind:\n"
        "baseline, test/train accuracy, confusion matrix, per-class accuracy, fit seconds), report.html.\n"
        "All baselines share one loaded copy of the data. Estimator settings go inline: svc(C=10,kernel=rbf),\n"
        "knn(k=5). Only seed, threads (= n_jobs), data.* and output.* keys apply. Each fit runs in a\n"
        "worker process: Ctrl-C stops it at once (status interrupted, exit 130). Names: `trainlab list baselines`.",
        epilog="examples:\n  trainlab baselines svc,knn,random_forest data.name=fashion-mnist data.limit=5000\n"
        "  trainlab baselines 'svc(C=10,kernel=rbf),knn(k=5)' data.name=digits data.preprocess=standardize\n"
        "  trainlab baselines kmeans,gaussian_nb data.name=mnist1d threads=2\n"
        "  trainlab compare runs/*-svc-digits runs/*-mlp-digits     # networks and baselines in one table",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "names", metavar="NAMES", help="baselines, comma-separated, each with optional inline parameters: svc(C=10),knn"
    )
    p.add_argument(
        "--config",
        "-c",
        metavar="FILE",
        help="YAML config whose data section (and seed, threads, output) the baselines use",
    )
    p.add_argument("--data-dir", metavar="DIR", help="directory with the data set's files (same as data.dir=DIR)")
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help=OVERRIDES_HELP.split(",")[0] + "; only seed, threads, data.*, output.* apply",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Fit the baselines, printing progress per baseline, then a table."""
    # lazy: the CLI imports only what this command needs, so `trainlab --help` stays fast
    from trainlab.classical import baselines

    overrides = list(args.overrides) + ([f"data.dir={args.data_dir}"] if args.data_dir else [])
    tty = sys.stdout.isatty()

    def start(i: int, n: int, spec: str, data: object) -> None:
        print(f"[{i}/{n}] {spec}: fitting on {len(data.train):,} examples ({data.describe()})", flush=True)

    def tick(elapsed: float) -> None:
        if tty:
            print(f"\r  fitting... {elapsed:.0f} s (Ctrl-C stops)", end="", flush=True)

    def result(i: int, n: int, r: object) -> None:
        s = r.summary
        extra = f"  ARI {s['adjusted_rand_index']:.3f}" if "adjusted_rand_index" in s else ""
        print(
            ("\r" if tty else "")
            + (
                f"  test accuracy {s['test_accuracy']:.4f}  train {s['train_accuracy']:.4f}{extra}"
                f"  fit {s['fit_seconds']:.1f} s  -> {r.path}"
            ),
            flush=True,
        )

    try:
        runs = baselines(args.names, args.config, overrides, on_start=start, on_tick=tick, on_result=result)
    except KeyboardInterrupt as exc:
        print(
            "\ninterrupted: the current fit was stopped (its summary says interrupted); finished baselines are kept",
            file=sys.stderr,
        )
        return 128 + (signal.SIGTERM if str(exc) == "SIGTERM" else signal.SIGINT)
    if len(runs) > 1:
        width = max(len(r.summary["baseline"]) for r in runs)
        print(f"\n{'baseline':<{width}}  test acc  train acc   fit s")
        for r in runs:
            s = r.summary
            print(
                f"{s['baseline']:<{width}}  {s['test_accuracy']:8.4f}  {s['train_accuracy']:9.4f}  "
                f"{s['fit_seconds']:6.1f}"
            )
    return 0
