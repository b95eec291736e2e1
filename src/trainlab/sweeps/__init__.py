"""Hyperparameter search on Optuna: spaces, presets, the study loop, cross-validation, refine, report.

``trainlab.sweep(...)`` (in ``api.py``, its options a ``SweepOptions``) is the entry point; ``trainlab sweep``
is its command line. The study loop: ``storage.py`` (where the study lives), ``study.py`` (create,
open), ``sampling.py`` (per-trial seeds), ``queue.py`` (waiting trials, fair shares), ``heartbeat.py``
(dead workers' trials retried), ``plan.py`` (stacked or not), ``trial.py`` (train one trial or a
stacked batch), ``run.py`` (the worker loop), ``pool.py`` (``--workers N``), ``records.py``
(what the trials' attributes say).
Optuna is imported only when a sweep runs, so ``import trainlab`` stays light.
"""

from trainlab.sweeps.api import SweepResult, open_sweep, sweep
from trainlab.sweeps.options import SweepOptions
from trainlab.sweeps.preset import SweepSpec, load_preset
from trainlab.sweeps.space import Param, parse_param, parse_space

__all__ = [
    "Param",
    "SweepOptions",
    "SweepResult",
    "SweepSpec",
    "load_preset",
    "open_sweep",
    "parse_param",
    "parse_space",
    "sweep",
]
