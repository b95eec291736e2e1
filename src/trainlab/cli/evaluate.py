"""``trainlab eval RUN``: re-evaluate a saved run's weights on a split."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``eval`` subcommand."""
    p = sub.add_parser(
        "eval",
        help="re-evaluate a saved run on a split",
        description="Load a run's config and model.safetensors and evaluate on a split.",
    )
    p.add_argument("run", metavar="RUN", help="run directory")
    p.add_argument("--split", default="test", choices=("train", "val", "test"), help="which split (default: test)")
    p.add_argument("--data-dir", metavar="DIR", help="where the data set's files are, if not where they were")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate and print metrics."""
    # lazy: the CLI imports only what this command needs, so `trainlab --help` stays fast
    from trainlab.api import evaluate_run

    r = evaluate_run(args.run, args.split, args.data_dir)
    metrics = "  ".join(f"{k} {v:.4f}" for k, v in r.items() if isinstance(v, float))
    print(f"{r['run']}  {r['split']} ({r['examples']} examples)  {metrics}")
    return 0
