"""trainlab: neural-network fundamentals as software you run, on PyTorch."""

__version__ = "0.1.0"

import os as _os

# Before torch loads its OpenMP runtime: idle OpenMP threads sleep instead of spinning. With the
# default spinning, a 2-thread run on a 2-core machine whose other core is busy ran 10-70x slower
# (benchmarks/threads.py, BENCHMARKS.md). Only effective when trainlab is imported before torch;
# a value the user set wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from trainlab.api import evaluate_run, resume, train  # noqa: E402
from trainlab.comparisons import compare, compare_runs  # noqa: E402
from trainlab.config import Config, load_config  # noqa: E402
from trainlab.errors import TrainlabError  # noqa: E402
from trainlab.runs import Run, list_runs, load_run  # noqa: E402
from trainlab.sweeps import sweep  # noqa: E402  (the function; the package stays importable as trainlab.sweeps.*)

__all__ = ["Config", "Run", "TrainlabError", "compare", "compare_runs", "evaluate_run", "list_runs", "load_config", "load_run", "resume", "sweep", "train"]
