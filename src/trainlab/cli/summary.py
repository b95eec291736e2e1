"""``trainlab summary``: the model a config builds, layer by layer."""

from __future__ import annotations

import argparse

from trainlab.cli.common import add_config_args, config_from_args


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``summary`` subcommand."""
    p = sub.add_parser("summary", help="print the model's layers, output shapes and parameter counts", description="Build the model a config describes and print each layer with its output shape and parameters.")
    add_config_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build and summarize."""
    from trainlab.build import setup
    from trainlab.nn.summary import summarize

    s = setup(config_from_args(args))
    print(summarize(s.model, s.data.input_shape))
    return 0
