"""``trainlab.comparisons``: train the cartesian product of config values (× seeds) and put them side by side.

Each run is a normal run directory under ``runs/<date>-<time>-compare/``; the comparison adds
``compare.json`` (what was compared, which run is which) and ``compare.html`` (overlaid learning
curves, final metrics with error bars). Existing runs compare with ``compare_runs(paths)``. How
``compare`` trains (seeds, workers, stacking, callbacks) is a ``CompareOptions`` (``options.py``).

With ``workers`` > 1, runs go to parallel worker processes with one torch thread each; the default
picks that only on CPUs with more than two cores (on the 2-core machine it was measured on, one
process using both cores was faster: docs/compare.md).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainlab.atomic import write_json
from trainlab.bounded import read_json
from trainlab.build import check_names, default_threads, resolve_device, why_alone
from trainlab.comparisons.options import CompareOptions
from trainlab.comparisons.page import card, write_compare_page
from trainlab.config import Config, as_config, flat_keys
from trainlab.data.memo import DataCache, data_key
from trainlab.data.sources import DATASETS
from trainlab.errors import ConfigError, NotStackable, TrainlabError
from trainlab.formatting import value
from trainlab.registry import parse_value, split_top
from trainlab.report.plots import preload
from trainlab.runner import train
from trainlab.runs.rundir import Run, create_run_dir, load_run
from trainlab.stacking import train_stacked
from trainlab.training.callbacks.notebook import Lines, wants_progress

COMPARE_JSON = "compare.json"
# config keys that never make two runs different experiments
_NETWORK_KEYS = ("model.", "loss.", "optim.", "train.", "diagnostics.")  # keys a baseline run does not use
_IGNORED = ("output.", "threads", "device", "data.dir", "train.checkpoint", "train.eval_batch_size", "logging.")


@dataclass
class Member:
    """One run of a comparison: its configuration label, seed and outcome."""

    label: str
    params: dict[str, Any]
    seed: int
    path: Path | None = None
    run: Run | None = None
    error: str = ""
    seconds: float = 0.0


@dataclass
class Comparison:
    """All members, grouped by configuration (seeds of one configuration form a group)."""

    path: Path
    keys: list[str]
    members: list[Member]
    workers: int = 1
    seconds: float = 0.0
    plan: str = ""  # which runs train stacked and which one by one, and why (stack_plan)

    def __repr__(self) -> str:
        failed = sum(m.run is None or m.run.summary.get("status") not in FINISHED for m in self.members)
        return (
            f"Comparison({str(self.path)!r}, {len(self.members)} runs of "
            f"{', '.join(self.keys) or 'one configuration'}, {failed} failed)"
        )

    def _repr_html_(self) -> str:
        """Jupyter's rich display: the results table and learning curves (through the page engine)."""
        return card(self)

    def groups(self) -> list[dict[str, Any]]:
        """Per configuration (in the order given): label, histories and final values per seed."""
        out: dict[str, dict[str, Any]] = {}
        for m in self.members:
            g = out.setdefault(
                m.label, {"label": m.label, "params": m.params, "members": [], "histories": [], "values": {}}
            )
            g["members"].append(m)
            if m.run is None:
                continue
            g["histories"].append(m.run.history)
            for key in METRICS:
                value = m.run.summary.get(key)
                g["values"].setdefault(key, []).append(value if isinstance(value, (int, float)) else None)
        return list(out.values())

    def rows(self) -> list[dict[str, Any]]:
        """One row per configuration: mean and std over seeds of each final metric, and failures."""
        rows = []
        for g in self.groups():
            bad = [m for m in g["members"] if m.run is None or m.run.summary.get("status") not in FINISHED]
            row: dict[str, Any] = {"config": g["label"], "runs": len(g["members"]), "failed": len(bad)}
            for key in METRICS:
                vals = [v for v in g["values"].get(key, []) if v is not None and not math.isnan(v)]
                if vals:
                    row[key] = (statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0)
            if bad:  # the first reason: an error message, or the status a run ended with (e.g. diverged)
                row["error"] = bad[0].error or str(bad[0].run.summary.get("status"))
            rows.append(row)
        return rows


FINISHED = ("completed", "stopped")  # stopped: early stopping ended it, a normal finish
METRICS = (
    "test_accuracy",
    "test_loss",
    "best_val_accuracy",
    "train_accuracy",
    "test_r2",
    "epochs",
    "fit_seconds",
    "test_balanced_accuracy",
    "test_macro_f1",
    "test_g_mean",
    "test_mae",
)
LOWER_IS_BETTER = ("test_loss", "test_mae", "epochs", "fit_seconds")


def metric_key(name: str) -> str:
    """A ``--metric`` name as summary.json's key (``balanced_accuracy`` → ``test_balanced_accuracy``),
    or a ConfigError."""
    key = name if name in METRICS else f"test_{name}"
    if key not in METRICS:
        names = sorted({m.removeprefix("test_") for m in METRICS})
        raise ConfigError(f"--metric {name!r} is not a final metric; choose one of: {', '.join(names)}")
    return key


def parse_grid(items: Sequence[str]) -> dict[str, list[Any]]:
    """``['model.act=relu,tanh', 'model.hidden=[64],[128,64]']`` → ``{'model.act': ['relu', 'tanh'], ...}``.

    Values split on commas outside brackets and parentheses, so lists and inline specs such as
    ``leaky_relu(0.1)`` stay whole.
    """
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(
                f"cannot read {item!r}: expected KEY=v1,v2,... (e.g. model.act=relu,tanh) or a run directory"
            )
        values = [parse_value(v) for v in split_top(raw)]
        if not values:
            raise ConfigError(f"{key}= has no values; give one or more, separated by commas")
        if key in grid:
            raise ConfigError(f"{key} is given twice; list all its values once: {key}=a,b,c")
        grid[key] = values
    return grid


def _label(params: dict[str, Any]) -> str:
    """Short label from the varying keys: the last part of each key unless two would collide."""
    tails = [k.rsplit(".", 1)[-1] for k in params]
    names = [t if tails.count(t) == 1 else k for k, t in zip(params, tails, strict=True)]
    return " ".join(f"{n}={value(v, 'g')}" for n, v in zip(names, params.values(), strict=True)) or "base"


def run_folder_name(label: str, seed: int, limit: int = 60) -> str:
    """A member's run name, ``<label>-seed<N>``, at most ``limit`` characters: a longer label keeps its
    start and ends in a hash of the whole, so long values (a 150-layer ``model.hidden``) neither exceed
    the file system's 255-byte names nor collide when they share a start."""
    name = f"{label}-seed{seed}".replace(" ", "-")
    if len(name) <= limit:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:10]
    return f"{name[: limit - len(digest) - 1]}-{digest}"


def auto_workers(cfg: Config, runs: int) -> int:
    """Parallel processes to use when not given: one on an accelerator or on a machine with two
    cores or fewer (measured there: one process using both cores finished sooner than two
    single-threaded processes, docs/compare.md), else one per core, at most one per run."""
    cores = default_threads()
    if runs < 2 or cores <= 2 or resolve_device(cfg.device).type != "cpu":
        return 1
    return min(runs, cores)


def _check_names(cfg: Config) -> None:
    """Every catalogue name (data set, model, activation, ...) must exist before a run starts."""
    DATASETS.bind(cfg.data.name)
    check_names(cfg)


# data sets loaded by this process (and by each forked worker): runs that differ only in the model
# or the optimizer share one load (the split depends on the seed, so seeds do not share)
_DATA = DataCache(size=2)


def _data_key(config: dict[str, Any]) -> str:
    return data_key(config["data"], config["seed"], config["device"])


def _train_one(config: dict[str, Any]) -> tuple[str, str, float]:
    """Worker: train one config; returns (run dir, error message or '', seconds)."""
    t0 = time.perf_counter()
    try:
        run = train(config, handle_signals=False, cache=_DATA, progress=False)
        return str(run.path), "", time.perf_counter() - t0
    except TrainlabError as exc:
        return "", str(exc), time.perf_counter() - t0
    except Exception as exc:  # a crashed run is one failed member, not a lost comparison
        return "", f"{type(exc).__name__}: {exc}", time.perf_counter() - t0


def stack_plan(
    configs: Sequence[dict[str, Any]], stack: bool = True, workers: int = 1
) -> tuple[list[list[int]], list[int], str]:
    """Which configs train as stacked groups (``training/stacked.py``) and which one by one, and a line saying so.

    Returns (groups of indices, each of two or more; indices trained alone; the line). Configs that
    share everything but per-member values (seed, lr, weight decay, activation, init, ...) form a group.
    """
    everyone = list(range(len(configs)))
    if not stack:
        return [], everyone, "one by one (stacking off)"
    if workers > 1:
        return [], everyone, f"one by one in {workers} processes (stacking needs workers=1)"
    cfgs = [as_config(c) for c in configs]
    together: list[list[int]] = []  # configs that may share a stack (build.why_alone of a pair is None)
    alone: list[int] = []
    reasons: dict[str, int] = {}
    for i, cfg in enumerate(cfgs):
        why = why_alone([cfg])
        if why is not None:
            alone.append(i)
            reasons[why] = reasons.get(why, 0) + 1
            continue
        like = next((g for g in together if why_alone([cfgs[g[0]], cfg]) is None), None)
        if like is None:
            together.append([i])
        else:
            like.append(i)
    groups = [g for g in together if len(g) > 1]
    for g in together:
        if len(g) == 1:
            alone.append(g[0])
            reasons["no other run differs only in per-run values"] = (
                reasons.get("no other run differs only in per-run values", 0) + 1
            )
    parts = []
    for g in groups:
        flats = [flat_keys(cfgs[i].to_dict()) for i in g]
        differ = sorted(
            k
            for k in flats[0]
            if not k.startswith("output.")
            and len({json.dumps(f.get(k), sort_keys=True, default=str) for f in flats}) > 1
        )
        parts.append(f"stacked {len(g)} runs ({', '.join(differ) or 'nothing'} differ)")
    if alone:
        parts.append(
            f"{len(alone)} one by one: "
            + "; ".join(f"{why}" + (f" ({n} runs)" if n > 1 else "") for why, n in reasons.items())
        )
    return groups, sorted(alone), "; ".join(parts)


def _train_group(configs: list[dict[str, Any]]) -> list[tuple[str, str, float]] | str:
    """Train configs stacked; one result per config as ``_train_one`` gives, or the reason they cannot stack."""
    t0 = time.perf_counter()
    try:
        runs = train_stacked(configs, cache=_DATA, handle_signals=False)
    except NotStackable as exc:
        return str(exc)
    except TrainlabError as exc:
        return [("", str(exc), (time.perf_counter() - t0) / len(configs))] * len(configs)
    except Exception as exc:  # a crashed group is failed members, not a lost comparison
        return [("", f"{type(exc).__name__}: {exc}", (time.perf_counter() - t0) / len(configs))] * len(configs)
    share = (time.perf_counter() - t0) / len(configs)  # each member's share of the group's time
    return [(str(run.path), "", share) for run in runs]


def compare(
    grid: dict[str, Sequence[Any]] | Sequence[str],
    config: Config | dict[str, Any] | str | Path | None = None,
    *,
    options: CompareOptions | None = None,
    **keywords: Any,
) -> Comparison:
    """Train every combination of ``grid`` values, ``seeds`` times each, and write the comparison.

    ``grid`` maps dotted keys to value lists (or is a list of ``KEY=a,b`` strings); keys with a
    single value just set it for every run. ``keywords`` are ``CompareOptions`` fields (``seeds=3,
    workers=1``, ...); ``options`` gives them as one object, and keywords given too replace its
    fields. ``workers=0`` picks :func:`auto_workers`; with more than one, runs train in worker
    processes (on macOS and Windows spawned ones, so a script calling this there needs the usual
    ``if __name__ == "__main__":`` guard). ``on_start`` gets the Comparison before the first run;
    ``on_result(done, total, member)`` is called as each run finishes (for progress display).
    ``report=False`` skips compare.html and the runs' reports. ``progress`` (``"auto"``, ``True``,
    ``False``): without ``on_result``, a line per finished run (a growing output in a notebook,
    printed elsewhere). ``stack``: runs that differ only in per-run values (seed, lr, weight decay,
    activation, init, ...) train as one stacked model in this process (``training/stacked.py``;
    ``Comparison.plan`` says which and why the rest train one by one); ``False`` trains every run on
    its own.

    >>> c = trainlab.compare({"model.act": ["relu", "tanh"]}, {"data": {"name": "digits"}}, seeds=2)  # doctest: +SKIP
    """
    o = CompareOptions.build(options, **keywords)
    values = parse_grid(list(grid)) if not isinstance(grid, dict) else {k: list(v) for k, v in grid.items()}
    if not values:
        raise ConfigError("nothing to compare: give KEY=v1,v2 (e.g. model.act=relu,tanh) or run directories")
    if "seed" in values and o.seeds > 1:
        raise ConfigError("give either seed=a,b,... or --seeds N, not both")
    count = math.prod(len(v) for v in values.values()) * o.seeds  # before expanding: 10,000 configs cost GBs
    limit = o.run_limit()
    if count > limit:
        raise ConfigError(
            f"this comparison has {count} runs ({' x '.join(str(len(v)) for v in values.values())} values"
            f" x {o.seeds} seed(s)); the limit is {limit}: give fewer values or seeds, or raise it with --max-runs N "
            "(max_runs=N, or TRAINLAB_MAX_RUNS)"
        )
    base = as_config(config)
    varying = [k for k, v in values.items() if len(v) > 1]
    members, configs = _expand(values, varying, base, o.seeds)
    n_workers = o.workers or auto_workers(base, len(members))
    path = create_run_dir(Path(o.out_dir) if o.out_dir is not None else Path(base.output.dir), "compare")
    for m, c in zip(members, configs, strict=True):
        c["output"] = {**c["output"], "dir": str(path), "name": run_folder_name(m.label, m.seed)}
        if not o.report:
            c["output"]["report"] = False
        if n_workers > 1:
            c["threads"] = 1  # one core per process
    groups, _, plan = stack_plan(configs, o.stack, n_workers)
    comp = Comparison(path, varying, members, n_workers, plan=plan)
    on_result = o.on_result
    if on_result is None and wants_progress(o.progress):
        lines = Lines()
        on_result = lambda done, total, m: lines.add(member_line(done, total, m))  # noqa: E731
    _write_json(comp, values, o.seeds)
    if o.on_start is not None:
        o.on_start(comp)
    t0 = time.perf_counter()
    _train_all(comp, configs, groups, on_result, o.report)
    comp.seconds = time.perf_counter() - t0
    _write_json(comp, values, o.seeds)
    if o.report:
        write_compare_page(comp)
    return comp


def _expand(
    values: dict[str, list[Any]], varying: list[str], base: Config, seeds: int
) -> tuple[list[Member], list[dict[str, Any]]]:
    """One Member and one validated config per combination of ``values`` and seed (seed, seed+1, ...)."""
    members: list[Member] = []
    configs: list[dict[str, Any]] = []
    for combo in (dict(zip(values, c, strict=True)) for c in itertools.product(*values.values())):
        params = {k: combo[k] for k in varying}
        for i in range(seeds):
            cfg = base.replace(**combo)  # validates every value before anything trains
            _check_names(cfg)
            seed = cfg.seed + i
            members.append(Member(_label(params), params, seed))
            configs.append({**cfg.to_dict(), "seed": seed})
    return members, configs


def _train_all(
    comp: Comparison,
    configs: list[dict[str, Any]],
    groups: list[list[int]],
    on_result: Callable[[int, int, Member], None] | None,
    report: bool,
) -> None:
    """Train the stacked ``groups`` first, then the rest one by one, here or in ``comp.workers`` processes."""
    members, n = comp.members, len(comp.members)
    done = 0

    def finish(m: Member, result: tuple[str, str, float]) -> None:
        nonlocal done
        run_path, m.error, m.seconds = result
        if run_path:
            m.path = Path(run_path)
            m.run = load_run(m.path)
        done += 1
        if on_result is not None:
            on_result(done, n, m)

    # run in data order (seed, then data section), so consecutive runs share a loaded data set
    grouped = {i for g in groups for i in g}
    order = sorted((i for i in range(n) if i not in grouped), key=lambda i: (configs[i]["seed"], _data_key(configs[i])))
    jobs = [(members[i], configs[i]) for i in order]
    try:
        for g in groups:
            results = _train_group([configs[i] for i in g])
            if isinstance(results, str):  # found when built (e.g. layer shapes): these train one by one
                comp.plan += f"; {len(g)} runs one by one after all: {results}"
                jobs += [(members[i], configs[i]) for i in g]
                continue
            for i, result in zip(g, results, strict=True):
                finish(members[i], result)
        if comp.workers == 1:
            for m, c in jobs:
                finish(m, _train_one(c))
        else:
            if report:  # import matplotlib once here, so forked workers share it instead of each paying for it
                preload()
            _run_parallel(jobs, comp.workers, finish)
    finally:
        _DATA.clear()  # this process keeps no data sets after the comparison


def _run_parallel(
    jobs: list[tuple[Member, dict[str, Any]]], workers: int, finish: Callable[[Member, tuple[str, str, float]], None]
) -> None:
    """Train in ``workers`` processes: forked on Linux (no second import of torch, as PyTorch's
    DataLoader workers), spawned elsewhere (macOS and Windows cannot fork safely)."""

    env_threads = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = (
        "1"  # for spawned workers, before torch loads (forked ones get threads=1 from the config)
    )
    try:
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
        ) as pool:
            pending = {pool.submit(_train_one, c): m for m, c in jobs}
            try:
                while pending:
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        finish(pending.pop(fut), fut.result())
            except BrokenProcessPool:
                raise TrainlabError(
                    "a compare worker process died; when calling trainlab.comparisons from a script, put the call "
                    "under "
                    "`if __name__ == '__main__':` (worker processes re-import the script), or use workers=1"
                ) from None
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    finally:
        if env_threads is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = env_threads


def member_line(done: int, total: int, m: Member) -> str:
    """One progress line for a finished run of a comparison."""
    if m.run is None:
        return f"[{done}/{total}] {m.label} seed {m.seed}: failed: {m.error}"
    s = m.run.summary
    acc = (
        f"test accuracy {s['test_accuracy']:.4f}"
        if isinstance(s.get("test_accuracy"), float)
        else f"test loss {s.get('test_loss', float('nan')):.4f}"
    )
    status = "" if s.get("status") == "completed" else f" [{s.get('status')}]"
    return f"[{done}/{total}] {m.label} seed {m.seed}: {acc}{status} ({m.seconds:.1f} s)"


def compare_runs(paths: Sequence[str | Path], out_dir: str | Path = "runs", report: bool = True) -> Comparison:
    """Compare finished runs: grouped by the config keys that differ (seeds of one config together)."""
    if len(paths) < 1:
        raise ConfigError("give one or more run directories to compare")
    runs = [load_run(p) for p in paths]
    flats = [flat_keys(r.config.to_dict()) for r in runs]
    keys = sorted({k for f in flats for k in f})
    varying = [
        k
        for k in keys
        if k != "seed"
        and not k.startswith(_IGNORED)
        and len({json.dumps(f.get(k), sort_keys=True, default=str) for f in flats}) > 1
    ]
    members = []
    for r, f in zip(runs, flats, strict=True):
        params = {k: f.get(k) for k in varying}
        if r.summary.get("kind") == "baseline":  # a scikit-learn baseline: network keys mean nothing to it
            params = {k: v for k, v in params.items() if k == "model.name" or not k.startswith(_NETWORK_KEYS)}
        label = _label(params) if varying else "same config"  # differing only by seed: one group
        members.append(
            Member(
                label,
                params,
                int(f.get("seed", 0)),
                r.path,
                r,
                "" if r.summary.get("status") == "completed" else f"status {r.summary.get('status', 'unknown')}",
            )
        )
    path = create_run_dir(out_dir, "compare")
    comp = Comparison(path, varying, members, 1, sum(float(r.summary.get("fit_seconds", 0.0)) for r in runs))
    _write_json(comp, {}, 0)
    if report:
        write_compare_page(comp)
    return comp


def _write_json(comp: Comparison, grid: dict[str, list[Any]], seeds: int) -> None:
    members = [
        {
            "label": m.label,
            "params": m.params,
            "seed": m.seed,
            "run": os.path.relpath(m.path, comp.path) if m.path else None,
            "error": m.error,
            "seconds": round(m.seconds, 3),
        }
        for m in comp.members
    ]
    write_json(
        comp.path / COMPARE_JSON,
        {
            "keys": comp.keys,
            "grid": grid,
            "seeds": seeds,
            "workers": comp.workers,
            "seconds": round(comp.seconds, 3),
            "plan": comp.plan,
            "members": members,
        },
    )


def load_comparison(path: str | Path) -> Comparison:
    """Read a comparison directory back (compare.json and the runs it names)."""
    path = Path(path)
    if not (path / COMPARE_JSON).is_file():
        raise ConfigError(f"{path} is not a comparison directory (no {COMPARE_JSON})")
    where = str(path / COMPARE_JSON)
    data = read_json(path / COMPARE_JSON)  # bounded in size and nesting
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("members"), list)
        or not isinstance(data.get("keys"), list)
    ):
        raise ConfigError(f"{where} is not a comparison (a JSON object with keys and members)")
    members = []
    for i, m in enumerate(data["members"]):
        ok = (
            isinstance(m, dict)
            and isinstance(m.get("label"), str)
            and isinstance(m.get("params"), dict)
            and isinstance(m.get("seed"), int)
        )
        if not ok or not isinstance(m.get("run") or "", str) or not isinstance(m.get("seconds", 0.0), (int, float)):
            raise ConfigError(f"{where}: members[{i}] is not a member (label, params, seed, run)")
        run_path = (path / m["run"]).resolve() if m.get("run") else None
        error = m.get("error", "") if isinstance(m.get("error", ""), str) else ""
        run = None
        if run_path is not None and run_path.is_dir():
            try:
                run = load_run(run_path)
            except TrainlabError as exc:  # one damaged run is reported in its row, not fatal to the table
                error = f"unreadable: {exc}"
        members.append(
            Member(
                m["label"],
                m["params"],
                m["seed"],
                run_path,
                run,
                error or ("" if run else "run directory missing"),
                m.get("seconds", 0.0),
            )
        )
    workers, seconds, plan = data.get("workers", 1), data.get("seconds", 0.0), data.get("plan", "")
    return Comparison(
        path,
        [str(k) for k in data["keys"]],
        members,
        workers if isinstance(workers, int) else 1,
        seconds if isinstance(seconds, (int, float)) else 0.0,
        plan if isinstance(plan, str) else "",
    )


def format_table(comp: Comparison, metric: str = "test_accuracy") -> str:
    """The comparison as an aligned text table (mean ± std over seeds), the best by ``metric`` marked."""
    rows = comp.rows()
    metric = metric_key(metric)
    shown = [
        k
        for k in dict.fromkeys((metric, "test_accuracy", "test_loss", "best_val_accuracy", "test_r2", "fit_seconds"))
        if any(k in r for r in rows)
    ]
    pick = min if metric in LOWER_IS_BETTER else max
    best = pick((r[metric][0] for r in rows if metric in r), default=None)
    seeds = max((r["runs"] for r in rows), default=1)
    header = ["config", *(k.replace("_", " ") for k in shown)]
    lines = [header]
    for r in rows:
        cells = [
            r["config"] + (" *" if best is not None and r.get(metric, (None,))[0] == best and len(rows) > 1 else "")
        ]
        for k in shown:
            if k not in r:
                cells.append("-")
                continue
            mean, std = r[k]
            digits = 1 if k == "fit_seconds" else 4
            cells.append(f"{mean:.{digits}f} ± {std:.{digits}f}" if seeds > 1 else f"{mean:.{digits}f}")
        if r.get("error") or r["failed"]:
            cells[0] += f"  ({r['failed']} failed: {r.get('error', 'not completed')[:60]})"
        lines.append(cells)
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    text = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in lines
    ]
    notes = ([f"mean ± std over {seeds} seeds"] if seeds > 1 else []) + (
        [f"* best {metric.replace('_', ' ')}"] if best is not None and len(rows) > 1 else []
    )
    return "\n".join(text + (["; ".join(notes)] if notes else []))
