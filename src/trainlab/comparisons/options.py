"""``CompareOptions``: how ``trainlab.compare`` trains the grid, one frozen object checked once.

``trainlab.compare(grid, config, seeds=3, workers=1)`` maps its keywords onto the fields
(``CompareOptions.build``; an unknown keyword fails naming the close match), ``options=CompareOptions(...)``
gives them at once, and the command line (``cli/compare.py``) builds one from its flags.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainlab.config import build_options
from trainlab.errors import ConfigError

MAX_RUNS = 1000  # runs in one comparison unless max_runs (--max-runs, TRAINLAB_MAX_RUNS) says more
MAX_RUNS_ENV = "TRAINLAB_MAX_RUNS"
OnResult = Callable[[int, int, Any], None]  # (runs done, runs in all, the Member that just finished)
OnStart = Callable[[Any], None]  # the Comparison, before its first run


@dataclass(frozen=True)
class CompareOptions:
    """Everything ``trainlab.compare`` takes besides the grid and the base config; see docs/compare.md."""

    seeds: int = 1  # runs per combination, with seeds seed, seed+1, ...
    workers: int = 0  # parallel processes, one thread each (0: automatic, ``auto_workers``)
    out_dir: str | Path | None = None  # parent of the comparison directory (default: the config's output.dir)
    report: bool = True  # write compare.html and each run's report.html
    stack: bool = True  # runs that differ only in per-run values train as one stacked model (workers=1)
    progress: bool | str = "auto"  # without on_result: a line per finished run (True, False or "auto")
    on_result: OnResult | None = None  # called as each run finishes: (done, total, member)
    on_start: OnStart | None = None  # called with the Comparison before the first run trains
    max_runs: int | None = None  # most runs the grid x seeds may hold (None: $TRAINLAB_MAX_RUNS, else MAX_RUNS)

    def __post_init__(self) -> None:
        """Check every option, naming the bad value and the valid ones."""
        if isinstance(self.seeds, bool) or not isinstance(self.seeds, int) or self.seeds < 1:
            raise ConfigError(f"seeds={self.seeds!r} must be >= 1")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 0:
            raise ConfigError(f"workers={self.workers!r} must be >= 0 (0 = automatic)")
        if self.out_dir is not None and not isinstance(self.out_dir, (str, Path)):
            raise ConfigError(f"out_dir={self.out_dir!r} must be a directory path (str or Path) or None")
        for key in ("report", "stack"):
            if not isinstance(getattr(self, key), bool):
                raise ConfigError(f"{key}={getattr(self, key)!r} must be True or False")
        if self.progress not in (True, False, "auto"):
            raise ConfigError(f"progress={self.progress!r}: use True, False or 'auto'")
        if self.max_runs is not None and (
            isinstance(self.max_runs, bool) or not isinstance(self.max_runs, int) or self.max_runs < 1
        ):
            raise ConfigError(f"max_runs={self.max_runs!r} must be a positive integer")

    def run_limit(self) -> int:
        """The most runs one comparison may hold: ``max_runs``, else ``$TRAINLAB_MAX_RUNS``, else ``MAX_RUNS``."""
        if self.max_runs is not None:
            return self.max_runs
        text = os.environ.get(MAX_RUNS_ENV, "").strip()
        if not text:
            return MAX_RUNS
        if not text.isdigit() or int(text) < 1:
            raise ConfigError(f"{MAX_RUNS_ENV}={text!r} must be a positive integer")
        return int(text)

    @classmethod
    def build(cls, options: CompareOptions | None = None, **keywords: Any) -> CompareOptions:
        """``options`` (or the defaults) with ``keywords`` replacing its fields (``config.build_options``)."""
        return build_options(cls, "compare", options, keywords)
