"""``trainlab lesson list`` and ``trainlab lesson NAME``: run a classic experiment and judge its claims."""

from __future__ import annotations

import argparse
import shutil
import sys
import textwrap
from collections.abc import Iterable, Iterator
from typing import Any

from trainlab import names

EPILOG = """examples:
  trainlab lesson list
  trainlab lesson init                       # the CS231n 10x500 experiment, about 30 s
  trainlab lesson nonlinearity --quick       # tiny data, a few seconds
  trainlab lesson optimizers seed=1 threads=1
  trainlab lesson batchnorm --out my-reports/bn
  trainlab lesson all --quick                # every lesson, then lessons-out/index-quick.html

Overrides (dotted key=value, as for `trainlab train`) apply on top of every config the lesson
builds: seed, threads, device, data.dir, train.epochs, ... Reports: report.md and report.html
(self-contained, plots inlined) in lessons-out/NAME (lessons-out/NAME-quick with --quick) unless
--out is given. Lessons run single-threaded (threads=1) unless overridden, so verdicts do not
depend on the core count."""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``lesson`` subcommand."""
    p = sub.add_parser(
        "lesson",
        usage="trainlab lesson [-h] NAME [--quick] [--out DIR] [--quiet] [--no-stack] [KEY=VALUE ...]",
        help="run a classic experiment (init, batchnorm, optimizers, ...) and judge its claims by measurement",
        description='Run a lesson: the classic claims of a course ("sigmoid kills gradients", "zero init\n'
        'never breaks symmetry", ...) run as experiments on this machine. Each writes a report with the\n'
        "claims, the experiment, a claim | measured | verdict table and plots; verdicts are computed from\n"
        "the measurements with the thresholds the table states. `trainlab lesson list` shows the lessons.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "name",
        metavar="NAME",
        help="a lesson name, `all` to run the whole course and write an index page, or `list` to list them",
    )
    # options and overrides in any order (`lesson init --quick seed=1`): the CLI's grammar (cli/grammar.py)
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="config overrides applied to every experiment of the lesson, e.g. seed=1 threads=1",
    )
    _add_options(p)
    p.set_defaults(func=run)


def _add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--quick",
        action="store_true",
        help="tiny data and few steps (seconds, for a first look and tests); numbers are indicative only",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="directory for report.md, report.html and the plots (default: lessons-out/NAME, or "
        "lessons-out/NAME-quick with --quick)",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines on stderr")
    p.add_argument(
        "--no-stack",
        action="store_true",
        help="train every run alone (by default runs that differ only in per-run values such as seed, lr or "
        "activation train as one stacked model; the report says which)",
    )


def run(args: argparse.Namespace) -> int:
    """List the lessons, or run one and print its verdict table."""
    if args.name == "list":  # from the light table (trainlab/names.py): listing loads no lesson, so no torch
        if args.overrides:
            # lazy: the CLI imports only what this command needs, so `trainlab --help` stays fast
            from trainlab.errors import ConfigError

            raise ConfigError(f"`trainlab lesson list` takes no overrides, got {' '.join(args.overrides)!r}")
        helps = {name: help_ for name, _, help_, _ in names.CATALOGUES["lessons"]}
        for name in names.LESSON_ORDER:
            print(f"{name:<16} {helps[name]}")
        return 0
    # lazy: running a lesson loads the library (torch); `lesson list` and --help do not
    from trainlab.lessons import run_all, run_lesson

    def log(msg: str) -> None:
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    if args.name == "all":
        entries, index = run_all(
            quick=args.quick,
            overrides=args.overrides,
            out_dir=args.out,
            log=log,
            stack=not args.no_stack,
        )
        held = total = unjudged = 0
        for e in entries:
            if "report" not in e:
                print(f"{e['name']:<16} did not run: {e['error']}")
                continue
            claims = e["report"].claims
            h, n, u = sum(c.held for c in claims), len(claims), sum(not c.judged for c in claims)
            held, total, unjudged = held + h, total + n, unjudged + u
            print(
                f"{e['name']:<16} {h} of {n} claims hold{f', {u} not judged at this size' if u else ''} "
                f"({e['report'].seconds:.1f}s)"
            )
            for line in verdict_lines([c for c in claims if not c.held], shutil.get_terminal_size((100, 24)).columns):
                print(line)
        print(
            f"{held} of {total} claims hold ({unjudged} not judged at this size) over "
            f"{sum('report' in e for e in entries)} of {len(entries)} lessons. Index: {index}"
        )
        return 0 if all("report" in e for e in entries) else 1
    report, paths = run_lesson(
        args.name,
        quick=args.quick,
        overrides=args.overrides,
        out_dir=args.out,
        log=log,
        stack=not args.no_stack,
    )
    print(f"lesson {report.name}: {report.title}")
    for line in verdict_lines(report.claims, shutil.get_terminal_size((100, 24)).columns):
        print(line)
    held, unjudged = sum(c.held for c in report.claims), sum(not c.judged for c in report.claims)
    print(
        f"{held} of {len(report.claims)} claims hold{f', {unjudged} not judged at this size' if unjudged else ''} "
        f"({report.seconds:.1f}s). Report: {paths['html']} and {paths['markdown']}"
    )
    if report.plan:
        print(f"runs: {report.plan}")
    return 0


def verdict_lines(claims: Iterable[Any], columns: int = 100) -> Iterator[str]:
    """The verdict table for a terminal: each claim and its measurement wrapped, never cut."""
    indent = " " * 16
    width = max(columns, 40)
    for c in claims:
        label = "NOT JUDGED" if not c.judged else c.verdict.upper()
        yield from textwrap.wrap(c.claim, width, initial_indent=f"  {label:<13} ", subsequent_indent=indent)
        yield from textwrap.wrap(
            f"measured: {c.measured}", width, initial_indent=indent, subsequent_indent=indent + "  "
        )
        if not c.held and getattr(c, "why", ""):
            yield from textwrap.wrap(f"why: {c.why}", width, initial_indent=indent, subsequent_indent=indent + "  ")
