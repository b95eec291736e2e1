"""The public Python API in one place: what ``import trainlab`` exposes, gathered from the modules that do the work.

``train``/``resume`` live in ``runner.py``, ``evaluate_run`` in ``evaluate.py``, ``compare`` in
``comparisons``, ``baselines`` in ``classical``, ``reproduce`` in ``reproductions``, ``sweep`` in ``sweeps``; config
coercion (``as_config``) in ``config.py``.
"""

from __future__ import annotations

from trainlab.classical import baselines
from trainlab.comparisons import compare, compare_runs
from trainlab.config import Config, as_config, load_config
from trainlab.errors import TrainlabError
from trainlab.evaluate import evaluate_run
from trainlab.lessons.notes import notes
from trainlab.report.views import runs_table
from trainlab.reproductions import reproduce
from trainlab.runner import resume, train
from trainlab.runs import Run, list_runs, load_run
from trainlab.sweeps import sweep

__all__ = [
    "Config",
    "Run",
    "TrainlabError",
    "as_config",
    "baselines",
    "compare",
    "compare_runs",
    "evaluate_run",
    "list_runs",
    "load_config",
    "load_run",
    "notes",
    "reproduce",
    "resume",
    "runs_table",
    "sweep",
    "train",
]
