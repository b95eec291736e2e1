"""Hyperparameter search on Optuna: spaces, presets, the study loop, cross-validation, refine, report.

``trainlab.sweep(...)`` (in ``api.py``) is the entry point; ``trainlab sweep`` is its command line.
Optuna is imported only when a sweep runs, so ``import trainlab`` stays light.
"""

from trainlab.sweeps.api import SweepResult, open_sweep, sweep
from trainlab.sweeps.preset import SweepSpec, load_preset
from trainlab.sweeps.space import Param, parse_param, parse_space

__all__ = ["Param", "SweepResult", "SweepSpec", "load_preset", "open_sweep", "parse_param", "parse_space", "sweep"]
