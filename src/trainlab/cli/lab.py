"""``trainlab lab``: the local web app (start, watch, stop, resume and compare runs; the playground)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``lab`` subcommand."""
    p = sub.add_parser(
        "lab",
        help="a local web app: start runs from a form, watch them learn live, stop/resume, compare; a playground",
        description="Serve the lab on this machine: a runs table of --dir (runs the CLI made too), a form for a new "
        "run generated from the config (with the equivalent `trainlab train ...` command), live loss/accuracy/LR "
        "curves over server-sent events, safe Stop and Resume, compare of selected runs, and a playground for the "
        "toy sets (xor, circles, moons, spirals, blobs, line, sine) whose settings live in the URL. Runs train in "
        "subprocesses (at most half the cores' count at once, the rest queued) that outlive the server.",
        epilog="security: binds 127.0.0.1 by default; prints a URL with a random token (as Jupyter does) that every "
        "request needs (then kept in a cookie); state-changing requests are POSTs checked for the lab's own "
        "Origin; --host 0.0.0.0 warns and still needs the token. Needs the lab extra: pip install 'trainlab[lab]'.\n\n"
        "examples:\n  trainlab lab\n  trainlab lab --dir runs --port 8800 --open\n  trainlab lab --host 0.0.0.0   "
        "# reachable from other machines (warns)\n\nsee docs/lab.md",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--port", type=int, default=8765, help="TCP port (default 8765)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--dir", default="runs", help="the runs folder shown and written (default runs)")
    p.add_argument("--open", action="store_true", help="open the lab in the default web browser")
    p.add_argument(
        "--workers", type=int, metavar="N", help="runs training at once (default: half the cores, at least 1)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C."""
    # lazy: the web stack loads only for this command
    from trainlab.errors import ConfigError
    from trainlab.lab import serve

    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers {args.workers} must be at least 1")
    serve(args.host, args.port, args.dir, args.open, args.workers)
    return 0
