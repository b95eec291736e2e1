"""``trainlab plot``: classic course figures (activation functions and their derivatives)."""

from __future__ import annotations

import argparse
from pathlib import Path

from trainlab.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``plot`` subcommand."""
    p = sub.add_parser(
        "plot",
        help="draw a classic figure: every activation function and its derivative",
        description="Draw a figure to a PNG, SVG or PDF file (chosen by the file's extension).\n"
        "activations: every elementwise activation in the registry (`trainlab list activations`) with\n"
        "default parameters, f(x) solid and its derivative f'(x) dashed, computed by autograd.",
        epilog="examples:\n  trainlab plot activations\n  trainlab plot activations --out act.svg --range -6 6",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("what", choices=["activations"], help="the figure to draw")
    p.add_argument(
        "--out", "-o", default="activations.png", help="output file (.png, .svg or .pdf; default activations.png)"
    )
    p.add_argument(
        "--range", nargs=2, type=float, default=(-4.0, 4.0), metavar=("LO", "HI"), help="x range (default -4 4)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Draw and save."""
    # lazy: the CLI imports only what this command needs, so `trainlab --help` stays fast
    from trainlab.report.plots import activations_figure

    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise ConfigError(f"--out {args.out!r}: unknown file type {out.suffix or '(none)'!r}; use .png, .svg or .pdf")
    lo, hi = args.range
    if not lo < hi:
        raise ConfigError(f"--range {lo:g} {hi:g}: LO must be below HI")
    fig, names = activations_figure(lo, hi)
    try:
        fig.savefig(out, dpi=150)
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {exc.strerror or exc}") from None
    print(f"{out}: {len(names)} activations ({', '.join(names)})")
    return 0
