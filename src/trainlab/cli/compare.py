"""``trainlab compare``: train every combination of values (× seeds) side by side, or compare runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from trainlab.cli.headline import headline, is_imbalanced
from trainlab.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``compare`` subcommand."""
    p = sub.add_parser(
        "compare",
        help="train the cartesian product of config values (x seeds) and compare, or compare existing runs",
        description="With KEY=v1,v2,... arguments: train every combination of the values (a key with one value\n"
        "applies to all runs), --seeds times each, as normal run directories under\n"
        "runs/<date>-<time>-compare/; print a table (final metrics, mean ± std over seeds, time) and write\n"
        "compare.html there (overlaid learning curves, final metrics with error bars, links to each run's\n"
        "report). Values split on commas outside brackets: model.hidden=[64],[128,64] is two values.\n"
        "With run directories: compare those runs, grouped by the config keys that differ.\n\n"
        "--workers N trains N runs at a time in processes with one thread each; by default that happens\n"
        "only on CPUs with more than 2 cores (on 2 cores one process using both was faster; docs/compare.md).\n\n"
        "Runs that differ only in per-run values (seed, optim.lr, optim.weight_decay, optimizer parameters,\n"
        "model.act, model.init, schedule, epochs, early stopping) train as stacked models (measured on an\n"
        "idle 2-core CPU: 2.65-3.07x faster for 8 small MLPs, 1.65-1.85x for 8 reference MLPs differing in\n"
        "lr, about 1x for 4 reference MLPs differing in model.act; BENCHMARKS.md);\n"
        "the first line says which runs stack and why the others train one by one.\n"
        "--no-stack trains every run on its own.",
        epilog="examples:\n  trainlab compare model.act=sigmoid,tanh,relu,gelu train.epochs=3\n"
        "  trainlab compare optim.name=sgd,adam optim.lr=0.01,0.001 --seeds 3\n"
        "  trainlab compare model.hidden=[64],[128,64] data.name=digits --workers 2\n"
        "  trainlab compare data.sampler=uniform,balanced data.imbalance='exp(ratio=100)' --metric balanced_accuracy\n"
        "  trainlab compare runs/20250101-120000-mlp-fashion-mnist runs/20250101-121500-mlp-fashion-mnist",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "items",
        nargs="+",
        metavar="KEY=VALUES|RUN",
        help="KEY=v1,v2,... values to cross, or run directories to compare",
    )
    p.add_argument(
        "--config",
        "-c",
        metavar="FILE",
        help="base YAML config the values are applied to (default: the reference recipe)",
    )
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        help="directory with the data set's files (same as data.dir=DIR)",
    )
    p.add_argument(
        "--seeds",
        type=int,
        default=1,
        metavar="N",
        help="runs per combination, with seeds seed, seed+1, ... (default 1)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        metavar="N",
        help="parallel processes, one thread each (default 0: automatic, "
        "1 on a GPU or on <= 2 cores, else one per core)",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="parent of the comparison directory (default: output.dir, i.e. runs)",
    )
    p.add_argument(
        "--metric",
        default="test_accuracy",
        metavar="NAME",
        help="the final metric that marks the best row and comes first: accuracy, balanced_accuracy, macro_f1, g_mean, "
        "loss, ... (default test_accuracy)",
    )
    p.add_argument(
        "--max-runs",
        type=int,
        metavar="N",
        help="most runs one comparison may hold (default 1000, or $TRAINLAB_MAX_RUNS); "
        "a bigger grid x seeds is refused",
    )
    p.add_argument("--no-report", action="store_true", help="skip compare.html and the runs' report.html")
    p.add_argument(
        "--no-stack",
        action="store_true",
        help="train every run on its own, never as one stacked model (docs/compare.md)",
    )
    p.set_defaults(func=run)


def member_line(done: int, total: int, m: Any) -> str:
    """One finished run: its answer (cli/headline.py) and its fit seconds, the figure the table shows."""
    if m.run is None:
        return f"[{done}/{total}] {m.label} seed {m.seed}: failed: {m.error}"
    s = m.run.summary
    status = "" if s.get("status") == "completed" else f" [{s.get('status')}]"
    fit = s.get("fit_seconds")
    took = f" (fit {fit:.1f} s)" if isinstance(fit, (int, float)) else ""
    return f"[{done}/{total}] {m.label} seed {m.seed}: {headline(s, is_imbalanced(m.run.config))}{status}{took}"


def _progress(done: int, total: int, m: object) -> None:
    print(member_line(done, total, m), flush=True)


def threads_said(items: list[str], base: Any, workers: int) -> str:
    """How many threads each run trains on, as the runs were told: ``1 thread each`` with worker
    processes, else the ``threads=`` given (or the base config's), 0 meaning all this process may use."""
    if workers > 1:
        return "1 thread each"
    given = [i.split("=", 1)[1] for i in items if i.startswith("threads=")]
    value = given[-1] if given else str(base.threads)
    if value == "0":
        # lazy: stdlib only; the count threads=0 stands for, decided before torch loaded
        from trainlab.cpu import prepare

        return f"threads=0: all {prepare().threads} usable threads"
    return f"{value} thread{'' if value == '1' else 's'} per run" if "," not in value else f"threads {value}"


def _is_dir(item: str) -> bool:
    """Whether ``item`` names a run directory; a KEY=VALUES longer than a file name may be is not one."""
    try:
        return Path(item).is_dir()
    except (OSError, ValueError):  # "File name too long", a NUL byte
        return False


def run(args: argparse.Namespace) -> int:
    """Run the comparison and print the table."""
    # lazy: the CLI imports only what this command needs, so `trainlab --help` stays fast
    from trainlab.comparisons import CompareOptions, compare, compare_runs, format_table
    from trainlab.comparisons.core import metric_key
    from trainlab.config import load_config

    metric_key(args.metric)  # a bad name fails before any run starts

    dirs = [i for i in args.items if _is_dir(i)]
    if dirs and len(dirs) != len(args.items):
        bad = next(i for i in args.items if not _is_dir(i))
        raise ConfigError(f"{bad!r}: give either KEY=VALUES arguments or run directories, not both")
    if dirs:
        comp = compare_runs(dirs, args.out or "runs", report=not args.no_report)
    else:
        base = load_config(args.config, [f"data.dir={args.data_dir}"] if args.data_dir else None)

        def start(c: object) -> None:
            n = len(c.members)
            threads = threads_said(args.items, base, c.workers)
            print(
                f"comparing {n} runs ({', '.join(c.keys) or 'one configuration'}) in {c.workers} "
                f"process{'es' if c.workers > 1 else ''}, {threads}: {c.path}",
                flush=True,
            )
            print(c.plan, flush=True)  # which runs train stacked, which one by one and why

        options = CompareOptions(
            seeds=args.seeds,
            workers=args.workers,
            out_dir=args.out,
            on_result=_progress,
            report=not args.no_report,
            on_start=start,
            stack=not args.no_stack,
            max_runs=args.max_runs,
        )
        comp = compare(args.items, base, options=options)
        print(f"{len(comp.members)} runs in {comp.seconds:.1f} s of wall clock (data, reports and stacking included)")
    print()
    print(format_table(comp, args.metric))
    if not args.no_report:
        print(f"\nreport: {comp.path / 'compare.html'}")
    sys.stdout.flush()
    return 0
