"""The ``trainlab`` command: thin; each subcommand parses arguments and calls the library.

Each subcommand lives in its own module here and exposes ``register(subparsers)``, which adds its
parser and sets ``func``. User errors (TrainlabError) print one line and exit 2; Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from trainlab import cpu
from trainlab.cli.grammar import GRAMMAR, Parser, parse
from trainlab.errors import TrainlabError
from trainlab.version import __version__

# modules of trainlab.cli, one per command (group), in the order --help lists them
COMMANDS = (
    "train",
    "baselines",
    "evaluate",
    "runs",
    "show",
    "report",
    "compare",
    "plot",
    "summary",
    "catalog",
    "data",
    "sweep",
    "lesson",
    "notes",
    "reproduce",
    "doctor",
    "lr_find",
    "lab",
)

# commands that run a network or a baseline: the ones whose speed the thread decision sets
TRAINS = (
    "train",
    "baselines",
    "eval",
    "report",
    "compare",
    "sweep",
    "lesson",
    "notes",
    "reproduce",
    "doctor",
    "lr-find",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every subcommand."""
    parser = Parser(
        prog="trainlab",
        description="Train, diagnose, compare and sweep neural networks by name on PyTorch.",
        epilog=f"{GRAMMAR}\n\nRun `trainlab COMMAND --help` for a command's options. "
        "Config keys: `trainlab list keys`.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"trainlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"trainlab.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: run a subcommand and turn user errors into one line and exit code 2."""
    given = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in given if not a.startswith("-")), None)
    if command in TRAINS and not {"-h", "--help"} & set(given):
        # threads and OpenMP waiting decided before anything loads torch (building the parser may)
        cpu.prepare()
    parser = build_parser()
    try:
        args = parse(parser, given)  # options and key=value overrides in any order (cli/grammar.py)
    except TrainlabError as exc:  # argparse's errors as one line naming the valid choices
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    args.argv = given  # as given: `train --nproc N` passes it on to torchrun
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except TrainlabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
