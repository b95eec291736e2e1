"""``trainlab data get NAME``: download and verify a data set; ``trainlab data where NAME``."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``data`` subcommand group."""
    p = sub.add_parser("data", help="download, verify and locate data sets", description="Manage data set files.")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    g = dsub.add_parser(
        "get",
        help="download NAME (mnist, fashion-mnist) into the cache, verifying sha256",
        description="Download a data set's IDX files, verify each file's sha256, and store them atomically.",
    )
    g.add_argument("name", help="mnist or fashion-mnist")
    g.add_argument("--dir", help="where to store the files (default: the user cache, ~/.cache/trainlab/NAME)")
    g.set_defaults(func=get)
    w = dsub.add_parser(
        "where",
        help="print where NAME's files are found",
        description="Show the directory the data set is loaded from, or where trainlab looked.",
    )
    w.add_argument("name")
    w.add_argument(
        "--data-dir", metavar="DIR", help="look only in this directory (as data.dir=DIR does) and say what it lacks"
    )
    w.set_defaults(func=where)


def get(args: argparse.Namespace) -> int:
    """Download and verify."""
    # lazy: the CLI imports only what this command needs, so `trainlab --help` stays fast
    from trainlab.data.locate import download

    path = download(args.name, args.dir, report=print)
    print(f"{args.name} ready in {path}")
    return 0


def where(args: argparse.Namespace) -> int:
    """Locate."""
    # lazy: the CLI imports only what this command needs, so `trainlab --help` stays fast
    from trainlab.data.locate import find_idx_files

    files = find_idx_files(args.name, args.data_dir)
    for f in files.values():
        print(f)
    return 0
