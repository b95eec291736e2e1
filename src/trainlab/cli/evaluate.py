"""``trainlab eval RUN``: re-evaluate a saved run's weights on a split."""

from __future__ import annotations

import argparse

from trainlab.cli.common import keys_apart, merged, typed_keys
from trainlab.errors import ConfigError

KEYS = ("threads", "device", "data.dir")  # how and where to evaluate; what the run is stays its own


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``eval`` subcommand."""
    p = sub.add_parser(
        "eval",
        help="re-evaluate a saved run on a split",
        description="Load a run's config and model.safetensors and evaluate on a split.",
    )
    p.add_argument("run", metavar="RUN", help="run directory")
    p.add_argument("--split", default="test", choices=("train", "val", "test"), help="which split (default: test)")
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        help="where the data set's files are, if not where they were (same as data.dir=DIR)",
    )
    p.add_argument("keys", nargs="*", metavar="KEY=VALUE", help="threads=N, device=cpu|cuda|..., data.dir=DIR")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate and print metrics."""
    # lazy: the CLI imports only what this command needs, so `trainlab --help` stays fast
    from trainlab.api import evaluate_run

    given, keys = keys_apart([args.run, *args.keys], "eval", KEYS)  # key=value may come first
    if len(given) != 1:
        raise ConfigError(
            f"trainlab eval takes one RUN, got {' '.join(given) or 'none'}; its keys: threads=, device=, data.dir="
        )
    keys = typed_keys(keys)
    data_dir = merged(args.data_dir, keys, "data.dir", "--data-dir")
    r = evaluate_run(given[0], args.split, data_dir, {k: v for k, v in keys.items() if k != "data.dir"})
    metrics = "  ".join(f"{k} {v:.4f}" for k, v in r.items() if isinstance(v, float))
    print(f"{r['run']}  {r['split']} ({r['examples']} examples)  {metrics}")
    return 0
