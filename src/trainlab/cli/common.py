"""Argument helpers shared by subcommands."""

from __future__ import annotations

import argparse
import difflib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainlab.errors import ConfigError

if TYPE_CHECKING:  # the config module loads YAML and NumPy: --help needs neither
    from trainlab.config import Config

OVERRIDES_HELP = "config overrides as dotted key=value, e.g. optim.lr=3e-4 model.hidden=[512,256] data.name=digits"
CONFIG_HELP = (
    "a preset by name from any folder (seed-mlp, cnn-fashion, line, ...: `trainlab list presets`) or a YAML file "
    "(default: the reference recipe, preset seed-mlp)"
)

# a dotted config key followed by '=': `threads=1`, `output.dir=out` (a path holding '=' is not one)
KEY_VALUE = re.compile(r"[A-Za-z_][\w.]*=")


def add_config_args(p: argparse.ArgumentParser) -> None:
    """--config FILE, --data-dir DIR and positional key=value overrides."""
    p.add_argument("--config", "-c", metavar="FILE", help=CONFIG_HELP)
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


def keys_apart(items: Sequence[str], command: str, allowed: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """The positional arguments of a command that takes a few config keys (``eval RUN threads=1``): the
    arguments that are not ``key=value``, and the ``key=value`` ones by key, each key one of ``allowed``."""
    rest: list[str] = []
    keys: dict[str, str] = {}
    for item in items:
        if not KEY_VALUE.match(item) or Path(item).exists():
            rest.append(item)
            continue
        key, _, value = item.partition("=")
        if key not in allowed:
            close = difflib.get_close_matches(key[:100], list(allowed), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(
                f"trainlab {command} takes no {key}={hint}; its keys: {', '.join(f'{k}=' for k in allowed)}"
            )
        keys[key] = value
    return rest, keys


def typed_keys(keys: dict[str, str]) -> dict[str, Any]:
    """``keys`` read and checked as config values (``threads=x`` fails as it does for ``trainlab train``)."""
    # lazy: only a command that runs needs the config schema
    from trainlab.config import flat_keys, load_config

    values = flat_keys(load_config(None, [f"{k}={v}" for k, v in keys.items()]).to_dict())
    return {k: values[k] for k in keys}


def merged(option: Any, keys: dict[str, Any], key: str, flag: str) -> Any:
    """One value given as ``--flag V`` or ``key=V`` (the same thing twice is fine; two values are refused)."""
    if key not in keys:
        return option
    if option is not None and option != keys[key]:
        raise ConfigError(f"{flag} {option} and {key}={keys[key]} disagree; give one of them")
    return keys[key]
