"""What a trial draws: the sampler and pruner of a spec, and the sampler reseeded per trial number.

The sampler is reseeded before every trial from (sweep seed, trial number), so what a trial draws
depends on neither the worker that runs it nor the session: a resumed sweep or a joining worker
continues the sequence instead of replaying it, and the same seed gives the same sweep.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trainlab.sweeps.preset import SweepSpec
from trainlab.sweeps.strategies import PRUNERS, SAMPLERS


def make_sampler(spec: SweepSpec, worker: int = 0) -> Any:
    """The sampler by name; the worker loop reseeds it before every trial (``trial_seed``), so its draws
    depend on the trial number, not on the worker (``worker`` is kept for callers) or the session."""
    return SAMPLERS.create(spec.sampler, seed=spec.seed, trials=spec.trials or 20)


def make_pruner(spec: SweepSpec) -> Any:
    """The pruner by name (none, median, asha), given the epochs of one run."""
    return PRUNERS.create(spec.pruner, epochs=int(spec.base.get("train", {}).get("epochs", 10)))


def trial_seed(seed: int, number: int) -> int:
    """The sampler's seed for trial ``number``: distinct per trial, the same in every process."""
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])


def reseed_sampler(sampler: Any, seed: int) -> None:
    """Reseed an Optuna sampler (and TPE's inner random sampler) in place.

    Optuna's public ``reseed_rng`` draws a fresh random seed; the deterministic seed goes to the
    samplers' ``_rng`` (a LazyRandomState), which tests/sweeps/test_sweep.py checks still exists."""
    for s in (sampler, getattr(sampler, "_random_sampler", None)):
        rng = getattr(s, "_rng", None)
        if rng is not None:
            rng.rng.seed(seed)
