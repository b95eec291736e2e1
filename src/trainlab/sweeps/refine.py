"""Coarse to fine: a new search space narrowed around the top trials of a finished sweep.

For each numeric parameter the new range is the span of the top trials' values, widened on each
side by a quarter of that span (at least 5% of the old range) and clipped to the old range; log
parameters are narrowed in log space, so ``loguniform(1e-4,1e-1)`` around 2e-3..6e-3 becomes about
``loguniform(1.5e-3,8e-3)``. A choice keeps only the values the top trials used.
"""

from __future__ import annotations

import math
from typing import Any

from trainlab.errors import ConfigError
from trainlab.sweeps.preset import SweepSpec
from trainlab.sweeps.space import Param


def top_trials(trials: list[Any], direction: str, fraction: float = 0.25, minimum: int = 3) -> list[Any]:
    """The best completed trials: the top ``fraction``, at least ``minimum`` (or all there are)."""
    done = [t for t in trials if t.state.name == "COMPLETE" and t.value is not None]
    done.sort(key=lambda t: t.value, reverse=direction == "maximize")
    return done[: max(minimum, math.ceil(fraction * len(done)))]


def narrow(param: Param, values: list[Any]) -> Param:
    """``param`` narrowed around ``values`` (Optuna parameter values of the top trials)."""
    if param.kind == "choice":
        kept = tuple(c for c in param.choices if any(param.decode(v) == c for v in values))
        return Param(param.key, "choice", choices=kept or param.choices)
    to = math.log if param.log else float
    back = math.exp if param.log else float
    lo_old, hi_old = to(param.low), to(param.high)
    lo, hi = min(to(v) for v in values), max(to(v) for v in values)
    margin = max(0.25 * (hi - lo), 0.05 * (hi_old - lo_old))
    lo, hi = max(lo_old, lo - margin), min(hi_old, hi + margin)
    low, high = back(lo), back(hi)
    if param.kind == "int":
        low, high = math.floor(low), math.ceil(high)
        if low >= high:  # all top trials used one value: keep a range of two around it
            low, high = (low, low + 1) if low + 1 <= param.high else (low - 1, low)
    else:
        low, high = float(f"{low:.3g}"), float(f"{high:.3g}")  # readable bounds in the new preset
        low, high = max(low, param.low), min(high, param.high)
    return Param(param.key, param.kind, low, high, param.log)


def refine_spec(study: Any, spec: SweepSpec) -> SweepSpec:
    """A new spec: ``spec`` with each parameter narrowed around the study's top trials."""
    top = top_trials(study.get_trials(deepcopy=False), spec.direction)
    if len(top) < 2:
        raise ConfigError(f"sweep {study.study_name!r} has {len(top)} completed trial(s); refining needs at least 2")
    space = {}
    for key, p in spec.params().items():
        values = [t.params[key] for t in top if key in t.params]
        space[key] = str(narrow(p, values)) if values else spec.space[key]
    new = SweepSpec.from_dict(spec.to_dict())
    new.space, new.name = space, None
    return new
