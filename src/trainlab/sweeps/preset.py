"""A sweep preset: the base config, the space, the objective, the sampler, the trials and the pruner.

```yaml
base: configs/seed-mlp.yaml        # a config file (relative to this file) or an inline mapping
overrides: {train.epochs: 5}       # dotted overrides on the base
space:
  optim.lr: loguniform(1e-4,1e-2)
  model.hidden: choice([128],[256],[512,256])
objective: val_accuracy            # val_accuracy (maximized) or val_loss (minimized)
sampler: tpe                       # grid, random, tpe, tpe(n_startup_trials=5) (trainlab list samplers)
trials: 20
pruner: median                     # none, median, asha, median(n_warmup_steps=2) (trainlab list pruners)
cv: 0                              # k-fold cross-validation on the training set (0 = off)
seed: 0                            # the sampler's seed
```
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainlab.config import Config, apply_overrides, config_path, read_yaml
from trainlab.errors import ConfigError, close_match
from trainlab.registry import parse_spec
from trainlab.sweeps.space import Param, parse_space
from trainlab.sweeps.strategies import PRUNERS, SAMPLERS

OBJECTIVES = {"val_accuracy": "maximize", "val_loss": "minimize"}
KEYS = ("name", "base", "overrides", "space", "objective", "sampler", "trials", "pruner", "cv", "seed")


@dataclass
class SweepSpec:
    """Everything a sweep needs; stored in the study so that joining workers need only its name."""

    base: dict[str, Any] = field(default_factory=dict)  # a nested config dict (resolved later)
    space: dict[str, str] = field(default_factory=dict)  # key -> distribution text
    objective: str = "val_accuracy"
    sampler: str = "tpe"
    trials: int | None = None  # None: the grid size (grid) or 20
    pruner: str = "none"
    cv: int = 0
    seed: int = 0
    name: str | None = None
    stack: bool = True  # how the sweep was created (--no-stack: False); a --resume or --join keeps it

    @property
    def direction(self) -> str:
        """``maximize`` or ``minimize``, from the objective."""
        return OBJECTIVES[self.objective]

    @property
    def is_grid(self) -> bool:
        """True for the grid sampler (its trials are the space's combinations)."""
        return parse_spec(self.sampler).name == "grid"

    def params(self) -> dict[str, Param]:
        """The parsed search space."""
        return parse_space(self.space)

    def base_config(self) -> Config:
        """The validated base config every trial starts from."""
        return apply_overrides(self.base)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (stored in the study and written as sweep.yaml)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepSpec:
        """Rebuild from ``to_dict`` output."""
        return cls(**{k: data[k] for k in (f.name for f in dataclasses.fields(cls)) if k in data})

    def validate(self) -> SweepSpec:
        """Check every field, naming the bad value and the valid choices; returns self."""
        if self.objective not in OBJECTIVES:
            raise ConfigError(
                f"objective={self.objective!r} is not allowed{close_match(self.objective, OBJECTIVES)}; choose one "
                f"of: {', '.join(OBJECTIVES)}"
            )

        SAMPLERS.bind(self.sampler)  # unknown names and parameters fail with the valid choices
        PRUNERS.bind(self.pruner)
        if self.trials is not None and (not isinstance(self.trials, int) or self.trials < 1):
            raise ConfigError(f"trials={self.trials!r} must be a positive integer")
        if not isinstance(self.cv, int) or self.cv == 1 or self.cv < 0:
            raise ConfigError(f"cv={self.cv!r} must be 0 (off) or a number of folds >= 2")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed={self.seed!r} must be a non-negative integer")
        if not self.space:
            raise ConfigError("the search space is empty; add e.g. optim.lr=loguniform(1e-4,1e-1) or a space: section")
        params = self.params()
        base = self.base_config()
        for key, p in params.items():  # every value the space can produce must make a valid config
            for probe in p.choices if p.kind == "choice" else (p.decode(p.low), p.decode(p.high)):
                try:
                    base.replace(**{key: probe})
                except ConfigError as exc:
                    raise ConfigError(f"search space {key}={p}: value {probe!r} is not valid: {exc}") from None
        if not base.data.val and not self.cv:  # with --cv the folds are the validation sets
            raise ConfigError(
                f"objective {self.objective} needs a validation split: set data.val (e.g. data.val=0.1) or use --cv K"
            )
        return self


def load_preset(path: str | Path | None) -> SweepSpec:
    """Read a sweep preset YAML file (``None``: an empty preset on the default config)."""
    if path is None:
        return SweepSpec()
    path = config_path(path, "trainlab sweep")  # a file, or a preset's name from any folder
    data = read_yaml(path)
    for key in data:
        if key not in KEYS:
            raise ConfigError(
                f"unknown sweep preset key {key!r}{close_match(str(key), KEYS)} in {str(path)!r}; valid keys: "
                f"{', '.join(KEYS)}"
            )
    base = data.get("base") or {}
    if isinstance(base, str):
        base_path = Path(base) if Path(base).is_absolute() else path.parent / base
        if not base_path.is_file() and Path(base).is_file():
            base_path = Path(base)  # relative to the working directory
        base = read_yaml(base_path)
    elif not isinstance(base, dict):
        raise ConfigError(f"base in {str(path)!r} must be a config file path or a mapping, got {base!r}")
    overrides = data.get("overrides") or {}
    if not isinstance(overrides, dict):
        raise ConfigError(f"overrides in {str(path)!r} must be a mapping of dotted keys to values")
    base = apply_overrides(base, overrides).to_dict() if overrides else base
    fields = {
        k: data[k] for k in ("space", "objective", "sampler", "trials", "pruner", "cv", "seed", "name") if k in data
    }
    return SweepSpec(base=base, **fields)
