"""trainlab: neural-network fundamentals as software you run, on PyTorch."""

import os as _os

from trainlab.version import __version__

# Before torch loads its OpenMP runtime: idle OpenMP threads sleep instead of spinning. With the
# default spinning, a 2-thread run on a 2-core machine whose other core is busy ran 10-70x slower
# (benchmarks/threads.py, BENCHMARKS.md). Only effective when trainlab is imported before torch;
# a value the user set wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_PUBLIC = ("Config", "Run", "TrainlabError", "baselines", "compare", "compare_runs", "evaluate_run", "list_runs", "load_config", "load_run", "reproduce", "resume", "runs_table", "sweep", "train")


def __getattr__(name: str) -> object:
    """The public API (``trainlab.train``, ...), imported on first use: ``import trainlab.cli`` and
    ``trainlab --help`` do not pay for torch."""
    if name in _PUBLIC:
        from trainlab import api  # lazy: torch and the library load on first use of the API

        return getattr(api, name)
    raise AttributeError(f"module 'trainlab' has no attribute {name!r}")


__all__ = ["__version__", *_PUBLIC]
