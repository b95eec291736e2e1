"""trainlab: neural-network fundamentals as software you run, on PyTorch."""

__version__ = "0.1.0"

from trainlab.api import evaluate_run, resume, train  # noqa: E402
from trainlab.compare import compare, compare_runs  # noqa: E402
from trainlab.config import Config, load_config  # noqa: E402
from trainlab.errors import TrainlabError  # noqa: E402
from trainlab.runs import Run, list_runs, load_run  # noqa: E402
from trainlab.sweep import sweep  # noqa: E402  (the function; the package stays importable as trainlab.sweep.*)

__all__ = ["Config", "Run", "TrainlabError", "compare", "compare_runs", "evaluate_run", "list_runs", "load_config", "load_run", "resume", "sweep", "train"]
