"""Samplers, pruners and distributions by name, so ``trainlab list samplers`` shows them all.

Samplers and pruners take inline parameters like every other name: ``tpe(n_startup_trials=5)``,
``median(n_warmup_steps=2)``, ``asha(reduction_factor=2)``. Their factories receive the sweep's
context (sampler seed, trial count, epochs per run) from the study loop.
"""

from __future__ import annotations

import warnings
from typing import Any

from trainlab.errors import ConfigError
from trainlab.registry import Registry

SAMPLERS = Registry("sampler")
PRUNERS = Registry("pruner")
DISTRIBUTIONS = Registry("distribution")


def optuna_module() -> Any:
    """Optuna, imported on first use (an optional dependency: trainlab[sweep]), quiet."""
    try:
        with warnings.catch_warnings():  # Optuna imports tqdm.auto, which warns in a notebook without ipywidgets
            warnings.filterwarnings("ignore", message="IProgress not found")
            # optional: Optuna comes with pip install 'trainlab[sweep]'
            import optuna
    except ImportError:
        raise ConfigError("trainlab sweep needs Optuna: pip install 'trainlab[sweep]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the CLI reports trials itself
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


_optuna = optuna_module


@SAMPLERS.register("grid", "every combination of choice(...) values, each exactly once (trials = grid size)")
def grid_sampler(seed: int, trials: int) -> Any:
    """Grid search: the combinations are put in the trial queue, so the sampler itself never draws."""
    return _optuna().samplers.RandomSampler(seed=seed)


@SAMPLERS.register("random", "independent uniform draws from the space (log scale where asked); seeded")
def random_sampler(seed: int, trials: int) -> Any:
    """Random search (Bergstra & Bengio 2012: better than grid when few parameters matter)."""
    return _optuna().samplers.RandomSampler(seed=seed)


@SAMPLERS.register("tpe", "Tree-structured Parzen Estimator: random at first, then models good vs bad trials")
def tpe_sampler(seed: int, trials: int, n_startup_trials: int | None = None, multivariate: bool = False) -> Any:
    """TPE (Bergstra et al. 2011); ``n_startup_trials`` random trials first (default a third, 3..10)."""
    startup = n_startup_trials if n_startup_trials is not None else min(10, max(3, trials // 3))
    return _optuna().samplers.TPESampler(seed=seed, n_startup_trials=startup, multivariate=multivariate)


@PRUNERS.register("none", "never stop a trial early (diverged runs still stop)")
def no_pruner(epochs: int) -> Any:
    """No pruning."""
    return _optuna().pruners.NopPruner()


@PRUNERS.register("median", "stop a trial whose value is below the median of earlier trials at the same epoch")
def median_pruner(epochs: int, n_startup_trials: int = 3, n_warmup_steps: int | None = None) -> Any:
    """Median stopping; no pruning in the first third of the epochs (early epochs say little)."""
    warmup = n_warmup_steps if n_warmup_steps is not None else max(1, epochs // 3)
    return _optuna().pruners.MedianPruner(n_startup_trials=n_startup_trials, n_warmup_steps=warmup)


@PRUNERS.register("asha", "asynchronous successive halving: keep the top 1/reduction_factor at each rung")
def asha_pruner(epochs: int, min_resource: int = 1, reduction_factor: int = 3) -> Any:
    """ASHA (Li et al. 2020): rungs at min_resource * reduction_factor^k epochs."""
    return _optuna().pruners.SuccessiveHalvingPruner(min_resource=min_resource, reduction_factor=reduction_factor)


for _name, _help in (
    ("uniform", "uniform(a,b): a float, uniform on [a, b], e.g. model.dropout=uniform(0,0.5)"),
    ("loguniform", "loguniform(a,b): a float, uniform in log space, e.g. optim.lr=loguniform(1e-4,1e-1)"),
    ("int", "int(a,b) or int(a,b,log): an integer, e.g. optim.batch_size=int(32,512,log)"),
    ("choice", "choice(v1,v2,...): one of the values, lists too, e.g. model.hidden=choice([128],[256,128])"),
):
    DISTRIBUTIONS.add(_name, lambda: None, _help)
