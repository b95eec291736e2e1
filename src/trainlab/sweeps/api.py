"""``trainlab.sweep(...)``: start, join, resume or refine a sweep (its options a ``SweepOptions``); returns a
``SweepResult``."""

from __future__ import annotations

import dataclasses
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainlab.config import apply_overrides
from trainlab.errors import ConfigError
from trainlab.sweeps.options import SweepOptions
from trainlab.sweeps.plan import sweep_plan
from trainlab.sweeps.pool import local_workers, work_parallel
from trainlab.sweeps.preset import SweepSpec, load_preset
from trainlab.sweeps.queue import queue
from trainlab.sweeps.records import trained_line
from trainlab.sweeps.refine import refine_spec
from trainlab.sweeps.report import card, write_report
from trainlab.sweeps.run import work
from trainlab.sweeps.space import grid, split_args
from trainlab.sweeps.storage import make_storage, mask_url, sqlite_url
from trainlab.sweeps.study import (
    create_study,
    load_study,
    save_spec,
    unfinished_creation,
    write_spec_file,
)
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
    plan: str = ""  # how this process meant to train the trials (plan.sweep_plan); `trained` says how they did

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
    options: SweepOptions | None = None,
    **keywords: Any,
) -> SweepResult:
    """Run a hyperparameter sweep and write its report; see docs/sweep.md.

    ``keywords`` are ``SweepOptions`` fields (``trials=16, sampler="random"``, ``resume=NAME``, ...);
    ``options`` gives them as one object, and keywords given too replace its fields. ``progress``
    (``"auto"``, ``True``, ``False``): without ``on_trial``, the plan (``sweep_plan``: stacked or one by
    one, and why) and a line per finished trial (a growing output in a notebook, printed elsewhere).
    ``stack``: with the grid or random sampler, no cv and a space of per-run values, each worker (one,
    ``workers`` local ones, or those of a shared study) pops its fair share of the trials left, at most
    8, and trains them as one stacked model (docs/sweep.md); ``False`` trains every trial on its own.
    ``SweepResult.plan`` and ``.trained`` say which.

    >>> r = trainlab.sweep(None, ["data.name=digits", "optim.lr=loguniform(1e-4,1e-1)"], trials=4)  # doctest: +SKIP
    >>> r.best.params, r.report  # doctest: +SKIP
    """
    o = SweepOptions.build(options, **keywords)
    root = Path(o.root)
    existing = o.join or o.resume
    if existing and (preset is not None or args or o.space or o.refine):
        raise ConfigError(
            f"--{'join' if o.join else 'resume'} {existing} continues a sweep as it was defined; "
            "it takes no preset, space or --refine"
        )
    if existing:
        name, sweep_dir, url, study, spec = _open_existing(existing, root, o)
    else:
        name, sweep_dir, url, study, spec = _create(preset, args, root, o)
    # a sweep created with --no-stack never stacks later; --no-stack may still turn stacking off for this worker
    o = dataclasses.replace(o, stack=o.stack and spec.stack)
    workers, note = local_workers(o.workers, study.get_trials(deepcopy=False))
    if note:
        print(note, file=sys.stderr, flush=True)
    o = dataclasses.replace(o, workers=workers)
    if o.on_ready is not None:
        o.on_ready(name, sweep_dir, mask_url(url), spec, study.get_trials(deepcopy=False))
    plan = sweep_plan(spec, o.stack, o.workers, shared=o.storage is not None or bool(o.join))
    if o.on_trial is None and wants_progress(o.progress):
        lines = Lines()
        lines.add(plan)
        o = dataclasses.replace(o, on_trial=lambda t: lines.add(trial_line(t, spec)))
    if o.workers > 1:  # each process stacks its fair share of the trials left, knowing there are `workers`
        work_parallel(name, url, sweep_dir, o)
    else:  # in a shared study (--storage, --join) the other workers are counted from the trials they run
        work(study, spec, sweep_dir, o)
    result = SweepResult(name, sweep_dir, mask_url(url), spec, study.get_trials(deepcopy=False), plan=plan)
    if o.report:
        result.report, result.best_config = write_report(result, study)
    return result


def _open_existing(existing: str, root: Path, o: SweepOptions) -> tuple[str, Path, str, Any, SweepSpec]:
    """Join or resume the sweep ``existing``: (name, directory, storage URL, study, spec); ``--resume
    --trials N`` grows (never shrinks) it, and a plain resume queues again the trials an interruption lost."""
    _check_name(existing)
    sweep_dir = root / existing
    url = o.storage or sqlite_url(sweep_dir)
    if o.storage is None and not (sweep_dir / "study.db").is_file():
        raise ConfigError(
            f"no sweep {existing!r} in {root}/ (no {sweep_dir / 'study.db'}); give --storage URL for a shared study"
        )
    store = make_storage(url, o.heartbeat, o.grace)
    study, spec = load_study(existing, store)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    if o.trials is not None and o.resume:  # --resume --trials N: grow (never shrink) the sweep
        spec.trials = max(o.trials, spec.trials or 0)
        save_spec(study, spec)
        queue(study, spec, spec.trials)
    elif o.resume:
        queue(study, spec, spec.trials or 0)  # put back trials lost to an interruption
    if not (sweep_dir / "sweep.yaml").is_file():
        write_spec_file(sweep_dir, existing, spec, url)
    return existing, sweep_dir, url, study, spec


def _create(
    preset: str | Path | SweepSpec | None, args: list[str] | None, root: Path, o: SweepOptions
) -> tuple[str, Path, str, Any, SweepSpec]:
    """Create a new sweep (from a preset, items, or ``--refine``'s narrowed space): (name, directory,
    storage URL, study, spec)."""
    name = o.name
    if o.refine:
        old_url = o.storage or sqlite_url(root / _check_name(o.refine))
        if o.storage is None and not (root / o.refine / "study.db").is_file():
            raise ConfigError(f"--refine {o.refine}: no sweep {o.refine!r} in {root}/")
        old_study, old_spec = load_study(o.refine, make_storage(old_url, o.heartbeat, o.grace))
        base_spec = refine_spec(old_study, old_spec)
        if preset is not None:
            raise ConfigError("--refine SWEEP builds its preset from that sweep; give no preset file")
        preset = base_spec
        name = name or _unique(root, f"{o.refine}-refined")
    spec = build_spec(
        preset,
        args,
        o.space,
        trials=o.trials,
        sampler=o.sampler,
        pruner=o.pruner,
        objective=o.objective,
        cv=o.cv,
        seed=o.seed,
        stack=o.stack,
    )
    spec.validate()
    if spec.is_grid:
        size = len(grid(spec.params()))
        spec.trials = min(spec.trials or size, size)
    elif spec.trials is None:
        spec.trials = DEFAULT_TRIALS
    name = _check_name(name or spec.name or _unique(root, _default_name(preset)))
    spec.name = name
    sweep_dir = root / name
    exists = o.storage is None and (sweep_dir / "study.db").exists()
    if exists and not unfinished_creation(name, make_storage(sqlite_url(sweep_dir), o.heartbeat, o.grace)):
        raise ConfigError(
            f"sweep {name!r} already exists in {root}/; continue it with --resume {name} or pick another --name"
        )
    sweep_dir.mkdir(parents=True, exist_ok=True)
    url = o.storage or sqlite_url(sweep_dir)
    store = make_storage(url, o.heartbeat, o.grace)
    try:
        study = create_study(name, spec, store)
    except KeyboardInterrupt:  # the spec and the trials queued so far are in the study: --resume queues the rest
        where = "" if o.storage is None else " --storage URL"
        where += "" if root == Path("sweeps") else f" --dir {root}"
        print(
            f"interrupted while queueing trials; sweep {name!r} keeps those queued so far: "
            f"trainlab sweep --resume {name}{where} queues the rest and runs them",
            file=sys.stderr,
            flush=True,
        )
        raise
    write_spec_file(sweep_dir, name, spec, url)  # (after an interruption, --resume writes it)
    return name, sweep_dir, url, study, spec


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
        return stem[len("sweep-") :] if stem.startswith("sweep-") and len(stem) > 6 else stem
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
    study, spec = load_study(name, make_storage(url, write=False))
    return SweepResult(name, sweep_dir, mask_url(url), spec, study.get_trials(deepcopy=False))
