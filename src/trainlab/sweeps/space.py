"""Search spaces written where configs are written: ``optim.lr=loguniform(1e-4,1e-1)``.

A space maps dotted config keys to distributions:

- ``uniform(a,b)``: a float drawn uniformly from [a, b];
- ``loguniform(a,b)``: a float whose logarithm is uniform on [log a, log b] (learning rates);
- ``int(a,b)`` / ``int(a,b,log)``: an integer in [a, b], optionally on a log scale (batch sizes);
- ``choice(v1,v2,...)``: one of the values, which may be lists: ``choice([128],[256,128])``.

Optuna's categorical distribution holds scalars only, so list choices travel as their text form
(``"[256,128]"``) and are turned back into lists when the config is built.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

from trainlab.config import describe_keys
from trainlab.errors import ConfigError, close_match
from trainlab.formatting import value as format_value
from trainlab.registry import Spec, parse_spec

KINDS = ("uniform", "loguniform", "int", "choice")


@dataclass(frozen=True)
class Param:
    """One searched config key and its distribution."""

    key: str
    kind: str  # uniform | loguniform | int | choice
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    choices: tuple = ()

    def __str__(self) -> str:
        if self.kind == "choice":
            return f"choice({','.join(format_value(c) for c in self.choices)})"
        if self.kind == "int":
            return f"int({int(self.low)},{int(self.high)}{',log' if self.log else ''})"
        return f"{self.kind}({self.low:g},{self.high:g})"

    def labels(self) -> list[Any]:
        """The choices as Optuna categorical values (scalars; lists become their text)."""
        return [_label(c) for c in self.choices]

    def decode(self, value: Any) -> Any:
        """The config value for an Optuna parameter value."""
        if self.kind == "choice":
            for c in self.choices:
                if _label(c) == value:
                    return c
            raise ConfigError(f"{self.key}: stored value {value!r} is not one of the choices {self}")
        if self.kind == "int":
            return int(value)
        return float(value)

    def distribution(self) -> Any:
        """The Optuna distribution for this parameter."""
        # optional: Optuna comes with pip install 'trainlab[sweep]'
        import optuna.distributions as d

        if self.kind == "choice":
            return d.CategoricalDistribution(self.labels())
        if self.kind == "int":
            return d.IntDistribution(int(self.low), int(self.high), log=self.log)
        return d.FloatDistribution(self.low, self.high, log=self.log)

    def suggest(self, trial: Any) -> Any:
        """Draw this parameter in an Optuna trial; returns the config value."""
        if self.kind == "choice":
            return self.decode(trial.suggest_categorical(self.key, self.labels()))
        if self.kind == "int":
            return trial.suggest_int(self.key, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.key, self.low, self.high, log=self.log)


def _label(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return format_value(value)


def is_distribution(value: Any) -> bool:
    """True when ``value`` is written as one of the distributions (``loguniform(...)``, ...)."""
    if not isinstance(value, str):
        return False
    try:
        spec = parse_spec(value)
    except ConfigError:
        return False
    return spec.name in KINDS and "(" in value


def parse_param(key: str, text: Any) -> Param:
    """Parse one distribution; a YAML list is shorthand for ``choice(...)``."""
    if isinstance(text, (list, tuple)):
        spec = Spec("choice", tuple(text))
    elif is_distribution(text):
        spec = parse_spec(text)
    else:
        raise ConfigError(
            f"search space {key}={text!r} is not a distribution; write one of "
            "uniform(a,b), loguniform(a,b), int(a,b), int(a,b,log), choice(v1,v2,...)"
        )
    if spec.kwargs:
        raise ConfigError(f"search space {key}={text!r}: write the bounds positionally, e.g. uniform(0,0.5)")
    args = spec.args
    if spec.name == "choice":
        if not args:
            raise ConfigError(f"search space {key}={text!r}: choice needs at least one value")
        if len({repr(_label(a)) for a in args}) != len(args):
            raise ConfigError(f"search space {key}={text!r}: choice values must be distinct")
        return Param(key, "choice", choices=tuple(args))
    log = spec.name == "loguniform"
    if spec.name == "int" and len(args) == 3:
        if args[2] != "log":
            raise ConfigError(f"search space {key}={text!r}: the third value of int(a,b,log) may only be 'log'")
        args, log = args[:2], True
    if len(args) != 2 or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args):
        raise ConfigError(
            f"search space {key}={text!r}: {spec.name} takes two numbers, e.g. {spec.name}(1e-4,1e-1)"
            if spec.name != "int"
            else f"search space {key}={text!r}: int takes two integers and an optional log, e.g. int(32,512,log)"
        )
    low, high = float(args[0]), float(args[1])
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise ConfigError(f"search space {key}={text!r}: needs finite bounds with low < high")
    if log and low <= 0:
        raise ConfigError(f"search space {key}={text!r}: a log scale needs a positive lower bound")
    if spec.name == "int" and not (low.is_integer() and high.is_integer()):
        raise ConfigError(f"search space {key}={text!r}: int bounds must be whole numbers")
    return Param(key, "int" if spec.name == "int" else ("loguniform" if log else "uniform"), low, high, log)


def parse_space(space: dict[str, Any] | None) -> dict[str, Param]:
    """Parse a ``{key: distribution}`` mapping (from YAML or the command line)."""
    if space is None:
        return {}
    if not isinstance(space, dict):
        raise ConfigError(f"space must be a mapping of config keys to distributions, got {space!r}")

    valid = {k for k, _, _ in describe_keys()}
    out = {}
    for key, text in space.items():
        if key not in valid:
            raise ConfigError(
                f"search space key {key!r} is not a config key{close_match(key, valid)}; see `trainlab list keys`"
            )
        out[key] = parse_param(key, text)
    return out


def grid(space: dict[str, Param]) -> list[dict[str, Any]]:
    """Every combination of a space of choices, as Optuna parameter values (labels)."""
    continuous = [str(p.key) for p in space.values() if p.kind != "choice"]
    if continuous:
        raise ConfigError(
            f"the grid sampler needs choice(...) values; {', '.join(continuous)} "
            "is a range (use --sampler random or tpe, or write choice(v1,v2,...))"
        )
    keys = list(space)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(space[k].labels() for k in keys))]


def split_args(items: list[str]) -> tuple[dict[str, str], list[str]]:
    """Split command-line ``key=value`` items into space entries and plain config overrides."""
    space, overrides = {}, []
    for item in items:
        key, sep, raw = item.partition("=")
        if sep and is_distribution(raw.strip()):
            space[key.strip()] = raw.strip()
        else:
            overrides.append(item)
    return space, overrides
