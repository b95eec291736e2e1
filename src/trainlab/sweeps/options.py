"""``SweepOptions``: how ``trainlab.sweep`` runs, one frozen object checked once.

``trainlab.sweep(preset, args, trials=16, sampler="random")`` maps its keywords onto the fields
(``SweepOptions.build``; an unknown keyword fails naming the close match), ``options=SweepOptions(...)``
gives them at once, and the command line (``cli/sweep.py``) builds one from its flags. The spec's own
fields (trials, sampler, pruner, objective, cv, seed, space) are checked again with the preset they
override (``SweepSpec.validate``); the rest are checked here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainlab.config import build_options
from trainlab.errors import ConfigError
from trainlab.sweeps.records import OnTrial
from trainlab.sweeps.storage import HEARTBEAT

MAX_SECONDS = 86400  # heartbeat and grace: a day at most (infinity would never find a dead worker, and overflows)
OnReady = Callable[[str, Path, str, Any, list[Any]], None]  # (name, sweep dir, storage (masked), spec, trials)


@dataclass(frozen=True)
class SweepOptions:
    """Everything ``trainlab.sweep`` takes besides the preset and its ``key=value`` items; see docs/sweep.md."""

    space: dict[str, str] | None = None  # search-space entries (key -> distribution) added to the preset's
    trials: int | None = None  # how many trials (default: the preset's, the grid size, or 20); with resume: grow to N
    sampler: str | None = None  # grid, random or tpe, inline parameters allowed (default: the preset's, else tpe)
    pruner: str | None = None  # none, median or asha: stop poor trials early (default: the preset's)
    objective: str | None = None  # val_accuracy (maximized) or val_loss (minimized) (default: the preset's)
    cv: int | None = None  # K-fold cross-validation on the training set, 0 off (default: the preset's)
    seed: int | None = None  # the sampler's seed (default: the preset's, else 0)
    workers: int = 1  # local worker processes, one thread each
    storage: str | None = None  # postgresql://..., sqlite:///PATH or journal:PATH (default ROOT/NAME/study.db)
    name: str | None = None  # the new sweep's name (default: the preset's name plus date and time)
    join: str | None = None  # join the running sweep NAME as another worker
    resume: str | None = None  # continue the interrupted sweep NAME
    refine: str | None = None  # a new sweep narrowed around sweep NAME's top trials
    root: str | Path = "sweeps"  # parent directory of sweep directories
    heartbeat: float = HEARTBEAT  # seconds between a running trial's heartbeats in the storage
    grace: float | None = None  # seconds without a heartbeat: a dead worker (default max(30, 4 x heartbeat))
    stack: bool = True  # where the sweep allows it, each worker trains its share of the trials as one stacked model
    report: bool = True  # write sweep.html and best.yaml at the end
    progress: bool | str = "auto"  # without on_trial: the plan and a line per finished trial (True, False or "auto")
    on_trial: OnTrial | None = None  # called with each finished trial (an Optuna FrozenTrial), this worker's or others'
    on_start: OnTrial | None = None  # called with each trial this process is about to train
    on_ready: OnReady | None = None  # called once the study is open, before the first trial

    def __post_init__(self) -> None:
        """Check the options that the spec does not check, naming the bad value and the valid ones."""
        if not _positive(self.workers, int):
            raise ConfigError(f"workers={self.workers!r} must be at least 1")
        if self.trials is not None and not _positive(self.trials, int):
            raise ConfigError(f"trials={self.trials!r} must be a positive integer")
        if self.join and self.resume:
            raise ConfigError("use either --join NAME or --resume NAME, not both")
        if not _positive(self.heartbeat, (int, float)) or self.heartbeat > MAX_SECONDS:
            raise ConfigError(f"heartbeat={self.heartbeat!r} must be a number of seconds > 0 and <= {MAX_SECONDS}")
        if self.grace is not None and (not _positive(self.grace, (int, float)) or self.grace > MAX_SECONDS):
            raise ConfigError(
                f"grace={self.grace!r} must be a number of seconds > 0 and <= {MAX_SECONDS}, "
                "or None (max(30, 4 x heartbeat))"
            )
        for key in ("stack", "report"):
            if not isinstance(getattr(self, key), bool):
                raise ConfigError(f"{key}={getattr(self, key)!r} must be True or False")
        if self.progress not in (True, False, "auto"):
            raise ConfigError(f"progress={self.progress!r}: use True, False or 'auto'")

    @classmethod
    def build(cls, options: SweepOptions | None = None, **keywords: Any) -> SweepOptions:
        """``options`` (or the defaults) with ``keywords`` replacing its fields (``config.build_options``)."""
        return build_options(cls, "sweep", options, keywords)


def _positive(value: Any, kind: type | tuple[type, ...]) -> bool:
    """Whether ``value`` is a number of ``kind`` above 0 (booleans are not numbers here; NaN is not above 0)."""
    return isinstance(value, kind) and not isinstance(value, bool) and value > 0
