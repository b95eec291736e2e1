"""Creating or opening a sweep's Optuna study, its spec stored in it, and sweep.yaml.

A sweep lives in ``sweeps/<name>/``: ``study.db`` (the default SQLite storage), ``sweep.yaml`` (what
was asked), ``runs/trial-NNNN/`` (one run directory per trial), ``sweep.html`` and ``best.yaml``.
The study itself (the spec, the trials, their values and attributes) lives in the storage, so any
process that can reach the storage can join the sweep or resume it: nothing else is shared.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from trainlab.atomic import write_text
from trainlab.errors import ConfigError, unknown
from trainlab.sweeps.preset import SweepSpec
from trainlab.sweeps.queue import queue
from trainlab.sweeps.sampling import make_pruner, make_sampler
from trainlab.sweeps.storage import mask_url
from trainlab.sweeps.strategies import optuna_module as _optuna

SPEC_ATTR = "trainlab_sweep"  # study user attribute holding the SweepSpec


def load_study(name: str, storage: Any, worker: int = 0) -> tuple[Any, SweepSpec]:
    """Open an existing sweep's study and its spec."""
    optuna = _optuna()
    try:
        summaries = optuna.study.get_all_study_summaries(storage, include_best_trial=False)
    except Exception as exc:
        raise ConfigError(f"cannot read studies from the storage: {str(exc).splitlines()[0]}") from None
    names = [s.study_name for s in summaries]
    if name not in names:
        if names:
            raise unknown("sweep", name, names)
        raise ConfigError(f"no sweep {name!r} in this storage (it holds no studies)")
    probe = optuna.load_study(study_name=name, storage=storage)
    if SPEC_ATTR not in probe.user_attrs:
        if not probe.get_trials(deepcopy=False):  # killed between create_study and set_user_attr
            raise ConfigError(
                f"sweep {name!r} was interrupted while being created; run the command that "
                "created it again (same --name) to create it afresh"
            )
        raise ConfigError(f"study {name!r} was not made by trainlab sweep (no {SPEC_ATTR} attribute)")
    spec = SweepSpec.from_dict(probe.user_attrs[SPEC_ATTR])
    study = optuna.load_study(
        study_name=name, storage=storage, sampler=make_sampler(spec, worker), pruner=make_pruner(spec)
    )
    return study, spec


def create_study(name: str, spec: SweepSpec, storage: Any) -> Any:
    """Create the study, store the spec in it and queue exactly ``spec.trials`` trials."""
    optuna = _optuna()
    try:
        study = optuna.create_study(
            study_name=name,
            storage=storage,
            direction=spec.direction,
            sampler=make_sampler(spec),
            pruner=make_pruner(spec),
        )
    except optuna.exceptions.DuplicatedStudyError:
        if unfinished_creation(name, storage):  # a creator killed before storing the spec: start afresh
            optuna.delete_study(study_name=name, storage=storage)
            return create_study(name, spec, storage)
        raise ConfigError(
            f"a sweep named {name!r} already exists in this storage; continue it with "
            f"--resume {name} (or --join {name}), or pick another --name"
        ) from None
    study.set_user_attr(SPEC_ATTR, spec.to_dict())
    queue(study, spec, spec.trials or 0)
    return study


def unfinished_creation(name: str, storage: Any) -> bool:
    """Whether the study ``name`` is missing, or was left without its spec and trials by a creator that died."""
    try:
        study = _optuna().load_study(study_name=name, storage=storage)
    except KeyError:  # no such study
        return True
    return SPEC_ATTR not in study.user_attrs and not study.get_trials(deepcopy=False)


def save_spec(study: Any, spec: SweepSpec) -> None:
    """Store a changed spec (``--resume --trials N`` grows the sweep) in the study."""
    study.set_user_attr(SPEC_ATTR, spec.to_dict())


def write_spec_file(sweep_dir: Path, name: str, spec: SweepSpec, url: str) -> None:
    """sweep.yaml: what was asked, and where the study lives (password hidden)."""
    data = {"name": name, "storage": mask_url(url), **{k: v for k, v in spec.to_dict().items() if k != "name"}}
    write_text(sweep_dir / "sweep.yaml", yaml.safe_dump(data, sort_keys=False))
