"""trainlab: neural-network fundamentals as software you run, on PyTorch."""

import os as _os

from trainlab.version import __version__

# Before torch loads its OpenMP runtime: idle OpenMP threads sleep instead of spinning. With the
# default spinning, a 2-thread run on a 2-core machine whose other core is busy ran 10-70x slower
# (benchmarks/threads.py, BENCHMARKS.md). Only effective when trainlab is imported before torch;
# a value the user set wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from trainlab.api import (  # noqa: E402
    Config,
    Run,
    TrainlabError,
    compare,
    compare_runs,
    evaluate_run,
    list_runs,
    load_config,
    load_run,
    resume,
    sweep,
    train,
)

__all__ = ["Config", "Run", "TrainlabError", "__version__", "compare", "compare_runs", "evaluate_run", "list_runs", "load_config", "load_run", "resume", "sweep", "train"]
