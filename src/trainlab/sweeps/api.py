"""``trainlab.sweep(...)``: start, join, resume or refine a sweep; returns a ``SweepResult``."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainlab.config import apply_overrides
from trainlab.errors import ConfigError
from trainlab.sweeps.preset import SweepSpec, load_preset
from trainlab.sweeps.refine import refine_spec
from trainlab.sweeps.report import card, write_report
from trainlab.sweeps.run import (
    HEARTBEAT,
    OnTrial,
    create_study,
    load_study,
    make_storage,
    mask_url,
    queue,
    sqlite_url,
    sweep_plan,
    trained_line,
    unfinished_creation,
    work,
    work_parallel,
    write_spec_file,
)
from trainlab.sweeps.space import grid, split_args
from trainlab.training.callbacks.notebook import Lines, wants_progress

DEFAULT_TRIALS = 20


@dataclass
class SweepResult:
    """A finished (or joined) sweep: where it lives, what was asked, and its trials."""

    name: str
    dir: Path
    storage: str  # password hidden
    spec: SweepSpec
    trials: list[Any]  # optuna FrozenTrial, in trial order
    report: Path | None = None
    best_config: Path | None = None
    plan: str = ""  # how this process meant to train the trials (run.sweep_plan); `trained` says how they did

    @property
    def trained(self) -> str:
        """How the trials trained, from their records: stacked in which batches, one by one and why."""
        return trained_line(self.trials)

    def __repr__(self) -> str:
        best = self.best
        tail = f", best {self.spec.objective} {best.value:.4f} (trial {best.number})" if best is not None else ""
        return f"SweepResult({self.name!r}, {len(self.trials)} trials{tail})"

    def _repr_html_(self) -> str:
        """Jupyter's rich display: best trial, optimization history, trials (through the page engine)."""
        return card(self)

    @property
    def completed(self) -> list[Any]:
        """The trials that finished with a value."""
        return [t for t in self.trials if t.state.name == "COMPLETE"]

    @property
    def best(self) -> Any:
        """The best completed trial (``None`` when none completed)."""
        done = self.completed
        if not done:
            return None
        pick = max if self.spec.direction == "maximize" else min
        return pick(done, key=lambda t: t.value)

    def ranked(self) -> list[Any]:
        """Completed trials, best first."""
        return sorted(self.completed, key=lambda t: t.value, reverse=self.spec.direction == "maximize")

    def counts(self) -> dict[str, int]:
        """How many trials ended in each state."""
        out: dict[str, int] = {}
        for t in self.trials:
            out[t.state.name.lower()] = out.get(t.state.name.lower(), 0) + 1
        return out


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def _check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ConfigError(f"sweep name {name!r} is not allowed; use letters, digits, '-', '_' and '.'")
    return name


def build_spec(
    preset: str | Path | SweepSpec | None = None,
    args: list[str] | None = None,
    space: dict[str, str] | None = None,
    **fields: Any,
) -> SweepSpec:
    """The spec from a preset, command-line ``key=value`` items (space or overrides) and fields."""
    spec = preset if isinstance(preset, SweepSpec) else load_preset(preset)
    cli_space, overrides = split_args(list(args or []))
    if overrides or cli_space or space:
        spec = SweepSpec.from_dict(spec.to_dict())
        if overrides:
            spec.base = apply_overrides(spec.base, overrides).to_dict()
        spec.space = {**spec.space, **(space or {}), **cli_space}
    for key, value in fields.items():
        if value is not None:
            setattr(spec, key, value)
    return spec


def sweep(
    preset: str | Path | SweepSpec | None = None,
    args: list[str] | None = None,
    *,
    space: dict[str, str] | None = None,
    trials: int | None = None,
    sampler: str | None = None,
    pruner: str | None = None,
    objective: str | None = None,
    cv: int | None = None,
    seed: int | None = None,
    workers: int = 1,
    storage: str | None = None,
    name: str | None = None,
    join: str | None = None,
    resume: str | None = None,
    refine: str | None = None,
    root: str | Path = "sweeps",
    on_trial: OnTrial | None = None,
    on_start: OnTrial | None = None,
    on_ready: Any = None,
    heartbeat: float = HEARTBEAT,
    grace: float | None = None,
    report: bool = True,
    stack: bool = True,
    progress: bool | str = "auto",
) -> SweepResult:
    """Run a hyperparameter sweep and write its report; see docs/sweep.md.

    ``progress`` (``"auto"``, ``True``, ``False``): without ``on_trial``, the plan (``sweep_plan``:
    stacked or one by one, and why) and a line per finished trial (a growing output in a notebook,
    printed elsewhere). ``stack``: with the grid or random sampler, no cv and a space of per-run
    values, each worker (one, ``workers`` local ones, or those of a shared study) pops its fair share
    of the trials left, at most 8, and trains them as one stacked model (docs/sweep.md); ``False``
    trains every trial on its own. ``SweepResult.plan`` and ``.trained`` say which.

    >>> r = trainlab.sweep(None, ["data.name=digits", "optim.lr=loguniform(1e-4,1e-1)"], trials=4)  # doctest: +SKIP
    >>> r.best.params, r.report  # doctest: +SKIP
    """
    if workers < 1:
        raise ConfigError(f"workers={workers} must be at least 1")
    root = Path(root)
    existing = join or resume
    if existing and (join and resume):
        raise ConfigError("use either --join NAME or --resume NAME, not both")
    if existing and (preset is not None or args or space or refine):
        raise ConfigError(f"--{'join' if join else 'resume'} {existing} continues a sweep as it was defined; it takes no preset, space or --refine")
    if existing:
        _check_name(existing)
        sweep_dir = root / existing
        url = storage or sqlite_url(sweep_dir)
        if storage is None and not (sweep_dir / "study.db").is_file():
            raise ConfigError(f"no sweep {existing!r} in {root}/ (no {sweep_dir / 'study.db'}); give --storage URL for a shared study")
        store = make_storage(url, heartbeat, grace)
        study, spec = load_study(existing, store)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if trials is not None and resume:  # --resume --trials N: grow (never shrink) the sweep
            spec.trials = max(trials, spec.trials or 0)
            study.set_user_attr("trainlab_sweep", spec.to_dict())
            queue(study, spec, spec.trials)
        elif resume:
            queue(study, spec, spec.trials or 0)  # put back trials lost to an interruption
        if not (sweep_dir / "sweep.yaml").is_file():
            write_spec_file(sweep_dir, existing, spec, url)
        name = existing
    else:
        if refine:
            old_url = storage or sqlite_url(root / _check_name(refine))
            if storage is None and not (root / refine / "study.db").is_file():
                raise ConfigError(f"--refine {refine}: no sweep {refine!r} in {root}/")
            old_study, old_spec = load_study(refine, make_storage(old_url, heartbeat, grace))
            base_spec = refine_spec(old_study, old_spec)
            if preset is not None:
                raise ConfigError("--refine SWEEP builds its preset from that sweep; give no preset file")
            preset = base_spec
            name = name or _unique(root, f"{refine}-refined")
        spec = build_spec(preset, args, space, trials=trials, sampler=sampler, pruner=pruner, objective=objective, cv=cv, seed=seed)
        spec.validate()
        if spec.is_grid:
            size = len(grid(spec.params()))
            spec.trials = min(spec.trials or size, size)
        elif spec.trials is None:
            spec.trials = DEFAULT_TRIALS
        name = _check_name(name or spec.name or _unique(root, _default_name(preset)))
        spec.name = name
        sweep_dir = root / name
        if storage is None and (sweep_dir / "study.db").exists() and not unfinished_creation(name, make_storage(sqlite_url(sweep_dir), heartbeat, grace)):
            raise ConfigError(f"sweep {name!r} already exists in {root}/; continue it with --resume {name} or pick another --name")
        sweep_dir.mkdir(parents=True, exist_ok=True)
        url = storage or sqlite_url(sweep_dir)
        store = make_storage(url, heartbeat, grace)
        study = create_study(name, spec, store)
        write_spec_file(sweep_dir, name, spec, url)
    if on_ready is not None:
        on_ready(name, sweep_dir, mask_url(url), spec, study.get_trials(deepcopy=False))
    plan = sweep_plan(spec, stack, workers, shared=storage is not None or bool(join))
    if on_trial is None and wants_progress(progress):
        lines = Lines()
        lines.add(plan)
        on_trial = lambda t: lines.add(trial_line(t, spec))  # noqa: E731
    if workers > 1:  # each process stacks its fair share of the trials left, knowing there are `workers`
        work_parallel(name, url, sweep_dir, workers, on_trial, heartbeat, grace, stack=stack)
    else:  # in a shared study (--storage, --join) the other workers are counted from the trials they run
        work(study, spec, sweep_dir, on_trial=on_trial, on_start=on_start, stack=stack)
    result = SweepResult(name, sweep_dir, mask_url(url), spec, study.get_trials(deepcopy=False), plan=plan)
    if report:
        result.report, result.best_config = write_report(result, study)
    return result


def trial_line(t: Any, spec: SweepSpec) -> str:
    """One progress line for a finished trial: number, state, objective, parameters, time."""
    line = f"trial {t.number:>3}  {t.state.name.lower():<8}"
    if t.value is not None:
        line += f"  {spec.objective} {t.value:.4f}"
    params = t.user_attrs.get("config", t.params)
    line += "  " + "  ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
    if "seconds" in t.user_attrs:
        line += f"  {t.user_attrs['seconds']:.1f}s"
    return line


def _default_name(preset: Any) -> str:
    if isinstance(preset, (str, Path)):
        stem = Path(preset).stem
        return stem[len("sweep-"):] if stem.startswith("sweep-") and len(stem) > 6 else stem
    return "sweep"


def _unique(root: Path, stem: str) -> str:
    """``stem-YYYYMMDD-HHMMSS`` (plus a counter if taken)."""
    base = f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    name, i = base, 1
    while (root / name).exists():
        i += 1
        name = f"{base}-{i}"
    return name


def open_sweep(name: str, root: str | Path = "sweeps", storage: str | None = None) -> SweepResult:
    """A SweepResult for an existing sweep, read from its storage (no trials run)."""
    sweep_dir = Path(root) / _check_name(name)
    if storage is None and not (sweep_dir / "study.db").is_file():
        raise ConfigError(f"no sweep {name!r} in {root}/")
    url = storage or sqlite_url(sweep_dir)
    study, spec = load_study(name, make_storage(url))
    return SweepResult(name, sweep_dir, mask_url(url), spec, study.get_trials(deepcopy=False))


