"""``trainlab reproduce NAME``: a published table re-run as one command, ours beside theirs."""

from __future__ import annotations

import argparse
import signal
import sys

from trainlab.cli.common import keys_apart, merged, typed_keys
from trainlab.errors import ConfigError

KEYS = ("threads", "output.dir")  # the keys a reproduction takes; its methods fix the rest


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``reproduce`` subcommand."""
    p = sub.add_parser(
        "reproduce",
        help="re-run a published table (fashion-table3, ...) and print ours beside theirs with a verdict",
        description="Run our version of a published table (numbers from shared/REFERENCES.md) as ordinary runs\n"
        "under OUT/reproduce/NAME[-quick]/, print each method's published figure, ours, the difference\n"
        "and a verdict against the stated tolerance (twice the spread over seeds if larger), and write\n"
        "reproduce.json and reproduce.html there. Completed runs there are reused: after Ctrl-C, run the\n"
        "same command again to continue with the next method. `trainlab reproduce list` names them.",
        epilog="examples:\n  trainlab reproduce list\n"
        "  trainlab reproduce fashion-table3 --quick     # a labelled subset, a few minutes on 2 cores\n"
        "  trainlab reproduce babysitting threads=1\n"
        "  trainlab reproduce fashion-table3             # the full table (kernel SVC on 60,000 examples: slow)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", metavar="NAME", help="a reproduction (see `trainlab reproduce list`), or list")
    p.add_argument("--quick", action="store_true", help="a labelled subset (fewer examples and methods)")
    p.add_argument(
        "--out",
        metavar="DIR",
        help="parent of reproduce/NAME (default: runs; same as output.dir=DIR)",
    )
    p.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="CPU threads (0 = all this process may use; same as threads=N)",
    )
    p.add_argument("keys", nargs="*", metavar="KEY=VALUE", help="threads=N (default 0: all), output.dir=DIR")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the reproduction and print the table."""
    # lazy: the CLI imports only what this command needs, so `trainlab --help` stays fast
    from trainlab.reproductions import TABLES, reproduce

    given, keys = keys_apart([args.name, *args.keys], "reproduce", KEYS)  # key=value may come first
    if len(given) != 1:
        raise ConfigError(
            f"trainlab reproduce takes one NAME, got {' '.join(given) or 'none'}; its keys: threads=, output.dir="
        )
    args.name = given[0]
    keys = typed_keys(keys)
    threads = merged(args.threads, keys, "threads", "--threads")
    out = merged(args.out, keys, "output.dir", "--out")
    if args.name == "list":
        for line in TABLES.help_lines():
            print(line)
        return 0
    tty = sys.stdout.isatty()

    def progress(message: str) -> None:
        print(("\r" if tty else "") + f"{'[quick] ' if args.quick else ''}{message}", flush=True)

    def tick(elapsed: float) -> None:
        if tty:
            print(
                f"\r  fitting... {elapsed:.0f} s (Ctrl-C stops; run again to continue)",
                end="",
                flush=True,
            )

    try:
        result = reproduce(args.name, args.quick, out or "runs", threads or 0, progress, tick)
    except KeyboardInterrupt as exc:
        print(
            "\ninterrupted: completed methods are kept; run the same command again to continue",
            file=sys.stderr,
        )
        return 128 + (signal.SIGTERM if str(exc) == "SIGTERM" else signal.SIGINT)
    print(f"\n{result.title} — {result.source}")
    if result.quick:
        print(result.quick_note)
    print("\n".join(result.lines()))
    for note in result.notes:
        print(f"note: {note}")
    print(f"\n{result.seconds:.0f} s; runs and reproduce.json in {result.path}")
    return 0
