"""``trainlab notes``: the study notes claim by claim, each with the verdict of the lessons that measure it."""

from __future__ import annotations

import argparse
import shutil
import sys
import textwrap

EPILOG = """examples:
  trainlab notes --quick            # small runs (about a minute); reuses lessons-out/*-quick
  trainlab notes                    # the full lessons (minutes); reuses lessons-out/NAME
  trainlab notes --quick --rerun    # run every lesson again
  trainlab notes --out my-notes seed=1

Each claim of the study notes (trainlab/lessons/notes.yaml: note file, line, a paraphrase, its kind)
is judged by the lesson claims listed for it. Lesson reports already written for the same size
(claims.json in lessons-out/NAME or lessons-out/NAME-quick, same overrides) are reused; only the
missing lessons run. Verdicts: holds; does not hold; the notes are corrected (the notes state it
wrongly and the measurement shows what is true); not judged at this size (a --quick run too small to
show the effect); not checkable (why is given). Writes notes.html and notes.json (default
lessons-out/notes, or lessons-out/notes-quick with --quick)."""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``notes`` subcommand."""
    p = sub.add_parser(
        "notes",
        help="the study notes claim by claim, each judged by the lessons that measure it (notes.html, notes.json)",
        description="Judge every checkable claim of the study notes: definitions by a numeric check, behaviour by\n"
        "an experiment, through the lessons (`trainlab lesson`). Prints a table and writes notes.html\n"
        "(each claim with its verdict, the measurement and a link to the lesson) and notes.json.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="config overrides passed to every lesson that runs, e.g. seed=1 threads=1",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="the lessons' small runs (about a minute in all); claims they cannot show say 'not judged at this size'",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="directory for notes.html and notes.json (default lessons-out/notes, or lessons-out/notes-quick)",
    )
    p.add_argument(
        "--lessons",
        metavar="DIR",
        help="where lesson reports are read and written (default lessons-out, as `trainlab lesson`)",
    )
    p.add_argument(
        "--rerun",
        action="store_true",
        help="run every lesson again instead of reusing reports measured at the same size",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Judge the notes, print the table and the paths."""
    # lazy: judging loads the lessons (torch); --help does not
    from trainlab.api import notes

    def log(msg: str) -> None:
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    result = notes(
        quick=args.quick, out=args.out, overrides=args.overrides, lessons=args.lessons, rerun=args.rerun, log=log
    )
    width = max(shutil.get_terminal_size((100, 24)).columns, 60)
    for c in result.claims:
        head = f"{c.note[:3]}:{c.line:<4} {c.verdict.upper():<24}"
        for i, line in enumerate(textwrap.wrap(c.claim, width - len(head) - 1) or [""]):
            print((head if i == 0 else " " * len(head)) + " " + line)
        if c.correction and c.verdict != "not checkable":
            for line in textwrap.wrap(
                f"the notes are corrected: {c.correction}",
                width - 10,
                initial_indent=" " * 10,
                subsequent_indent=" " * 10,
            ):
                print(line)
    print(result.summary())
    print(f"notes: {result.paths['html']} and {result.paths['json']}")
    return 0
