"""Argument helpers shared by subcommands."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the config module loads YAML and NumPy: --help needs neither
    from trainlab.config import Config

OVERRIDES_HELP = "config overrides as dotted key=value, e.g. optim.lr=3e-4 model.hidden=[512,256] data.name=digits"


def add_config_args(p: argparse.ArgumentParser) -> None:
    """--config FILE, --data-dir DIR and positional key=value overrides."""
    p.add_argument(
        "--config", "-c", metavar="FILE", help="YAML config (default: the reference recipe, configs/seed-mlp.yaml)"
    )
    p.add_argument("--data-dir", metavar="DIR", help="directory with the data set's files (same as data.dir=DIR)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help=OVERRIDES_HELP)


def config_from_args(args: argparse.Namespace) -> Config:
    """The validated Config from --config, --data-dir and overrides."""
    # lazy: only a command that runs needs the config schema (YAML, NumPy); --help does not
    from trainlab.config import load_config

    overrides = list(args.overrides)
    if getattr(args, "data_dir", None):
        overrides.append(f"data.dir={args.data_dir}")
    return load_config(args.config, overrides)
