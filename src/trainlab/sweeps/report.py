"""sweep.html and best.yaml: what a sweep found, readable in a browser and runnable with ``trainlab train``.

The page holds the optimization history (each trial's value and the best so far), the parameter
importances (Optuna's fANOVA evaluator), one slice plot per parameter (value against objective),
and a table of every trial with its state, reason, cross-validation spread and a link to its run
directory. This module draws the plots (matplotlib, Agg, themed like every report figure) and
builds the page's context; ``templates/sweep.html`` lays it out and the page engine
(``trainlab.report.pages``) renders it, with the plots inlined as PNG, so the page is one file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from trainlab.atomic import write_text
from trainlab.config import read_yaml
from trainlab.formatting import value as format_value
from trainlab.report import pages
from trainlab.report.plots import GREY, PALETTE, figure, themed
from trainlab.report.run_report import REPORT
from trainlab.sweeps.records import trial_reason

SWEEP_HTML, BEST_YAML = "sweep.html", "best.yaml"


def _png(fig: Any) -> str:
    """A figure as a PNG ``data:`` URI, cropped to what is drawn."""
    return pages.image_uri(fig, "png", dpi=100, bbox_inches="tight")


@themed
def history_plot(trials: list[Any], objective: str, maximize: bool) -> str:
    """Each completed trial's value by trial number, and the best so far (a data: URI)."""
    fig = figure(6.4, 3.2)
    ax = fig.add_subplot(1, 1, 1)
    done = [t for t in trials if t.state.name == "COMPLETE"]
    xs, ys = [t.number for t in done], [t.value for t in done]
    ax.scatter(xs, ys, s=18, color=PALETTE[0], label="trial")
    best, line = None, []
    for y in ys:
        best = y if best is None or (y > best if maximize else y < best) else best
        line.append(best)
    ax.step(xs, line, where="post", color=PALETTE[3], label="best so far")
    for t in trials:
        if t.state.name in ("PRUNED", "FAIL"):
            ax.axvline(t.number, color=GREY, lw=0.8, ls=":" if t.state.name == "PRUNED" else "-")
    # lazy: matplotlib loads with the first figure
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial")
    ax.set_ylabel(objective)
    ax.set_title("optimization history (grey: pruned ⋯ / failed —)", fontsize=10)
    ax.legend(fontsize=8)
    return _png(fig)


def importances(study: Any) -> dict[str, float]:
    """Parameter importances (fANOVA) or {} when there are too few completed trials to say."""
    # optional: Optuna comes with pip install 'trainlab[sweep]'
    import optuna

    done = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if len(done) < 3:
        return {}
    try:
        return dict(
            optuna.importance.get_param_importances(
                study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0)
            )
        )
    except (RuntimeError, ValueError, ZeroDivisionError):  # e.g. every parameter constant
        return {}


@themed
def importance_plot(imp: dict[str, float]) -> str:
    """Horizontal bars of the importances (a data: URI)."""
    keys = list(imp)[::-1]
    fig = figure(6.4, 0.45 * len(keys) + 1)
    ax = fig.add_subplot(1, 1, 1)
    ax.barh(keys, [imp[k] for k in keys], color=PALETTE[2])
    ax.set_xlabel("importance (fANOVA, share of the objective's variance)")
    ax.set_xlim(0, 1)
    return _png(fig)


@themed
def slice_plot(key: str, param: Any, trials: list[Any], objective: str) -> str:
    """Objective against one parameter's value, colored by trial number (a data: URI)."""
    done = [t for t in trials if t.state.name == "COMPLETE" and key in t.params]
    fig = figure(4.2, 3.0)
    ax = fig.add_subplot(1, 1, 1)
    if param.kind == "choice":
        labels = [str(v) for v in param.labels()]
        xs = [labels.index(str(t.params[key])) if str(t.params[key]) in labels else -1 for t in done]
        ax.set_xticks(
            range(len(labels)), labels, rotation=30 if max(map(len, labels), default=0) > 6 else 0, fontsize=8
        )
    else:
        # lazy: matplotlib loads with the first figure
        from matplotlib.ticker import NullFormatter

        xs = [t.params[key] for t in done]
        if param.log:
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels collide on narrow ranges
        ax.tick_params(axis="x", labelsize=8, labelrotation=30)
    sc = ax.scatter(xs, [t.value for t in done], c=[t.number for t in done], cmap="viridis", s=20)
    # lazy: matplotlib loads with the first figure
    from matplotlib.ticker import MaxNLocator

    fig.colorbar(sc, ax=ax, label="trial", ticks=MaxNLocator(integer=True))
    ax.set_xlabel(key)
    ax.set_ylabel(objective)
    return _png(fig)


def best_config_yaml(best: Any, objective: str) -> str | None:
    """The best trial's resolved config, ready for ``trainlab train --config``."""
    dirs = best.user_attrs.get("run_dirs") or []
    if not dirs or not (Path(dirs[0]) / "config.yaml").is_file():
        return None
    cfg = read_yaml(Path(dirs[0]) / "config.yaml")  # bounded: a run directory is not trusted input
    cfg.setdefault("output", {})
    cfg["output"].update(dir="runs", name=None)  # train it anew as an ordinary run
    head = f"# best trial {best.number}: {objective} {best.value:.4f}\n# trainlab train --config best.yaml\n"
    return head + yaml.safe_dump(cfg, sort_keys=False)


def show(value: Any) -> str:
    """A parameter value as the space writes it: 4 significant digits, lists as [256,128]."""
    return format_value(value, ".4g")


def _links(paths: list[str], sweep_dir: Path) -> list[dict[str, Any]]:
    """Links to a trial's run directories (their report.html when there is one)."""
    out = []
    for path in paths:
        p = Path(path)
        if not p.exists():  # written by a worker on another machine
            out.append({"text": path, "muted": True})
            continue
        rel = os.path.relpath(p.resolve(), sweep_dir.resolve())
        out.append({"text": p.name, "href": f"{rel}/{REPORT}" if (p / REPORT).is_file() else rel})
    return out


def trial_rows(trials: list[Any], params: dict[str, Any], sweep_dir: Path) -> list[list[Any]]:
    """One table row per trial: number, state, value (± fold sd), test accuracy, parameters, seconds, reason, runs."""
    rows = []
    for t in trials:
        cv = t.user_attrs.get("fold_values")
        value = (
            "" if t.value is None else f"{t.value:.4f}" + (f" ± {t.user_attrs.get('fold_std', 0):.4f}" if cv else "")
        )
        test = t.user_attrs.get("test_accuracy")
        secs = t.user_attrs.get("seconds", "")
        cells: list[Any] = [t.number, t.state.name.lower(), value, "" if test is None else f"{test:.4f}"]
        cells += [show(t.user_attrs.get("config", {}).get(k, t.params.get(k, ""))) for k in params]
        cells += [
            f"{secs:.1f}" if isinstance(secs, (int, float)) else str(secs),
            trial_reason(t),
            _links(t.user_attrs.get("run_dirs", []), sweep_dir),
        ]
        rows.append(cells)
    return rows


def write_report(result: Any, study: Any) -> tuple[Path, Path | None]:
    """Write sweep.html (and best.yaml when a trial completed) into the sweep directory."""
    best_path = None
    if result.best is not None:
        text = best_config_yaml(result.best, result.spec.objective)
        if text:
            best_path = result.dir / BEST_YAML
            write_text(best_path, text)
    path = pages.write_page(result.dir / SWEEP_HTML, "sweep.html", **context(result, study, best_path))
    return path, best_path


def card(result: Any) -> str:
    """The sweep as a notebook card (``SweepResult._repr_html_``): best trial, history, trials."""
    ctx = context(result, None)
    # links are relative to the sweep directory, not to the notebook: shown as plain names
    ctx["trial_rows"] = [[_unlinked(c) for c in row] for row in ctx["trial_rows"]]
    return pages.render("sweep_card.html", **ctx, path=str(result.dir))


def _unlinked(cell: Any) -> Any:
    """A table cell without its links (a mapping's href; a list's items)."""
    if isinstance(cell, dict):
        return {k: v for k, v in cell.items() if k != "href"}
    return [_unlinked(c) for c in cell] if isinstance(cell, list) else cell


def context(result: Any, study: Any, best_path: Path | None = None) -> dict[str, Any]:
    """What sweep.html shows, as plain values for templates/sweep.html."""
    spec, trials = result.spec, result.trials
    params = spec.params()
    best = result.best
    ctx: dict[str, Any] = {
        "title": f"sweep {result.name}",
        "name": result.name,
        "trials": len(trials),
        "counts": ", ".join(f"{n} {k}" for k, n in result.counts().items()),
        "objective": spec.objective,
        "direction": spec.direction,
        "sampler": str(spec.sampler),
        "pruner": str(spec.pruner),
        "cv": spec.cv,
        "seed": spec.seed,
        "storage": str(result.storage),
        "trained": result.trained,  # stacked in which batches, one by one and why
        "space": [[{"text": k, "code": True}, {"text": str(p), "code": True}] for k, p in params.items()],
        "best": None,
        "history": None,
        "importances": None,
        "slices": [],
        "trials_header": [
            "trial",
            "state",
            spec.objective + (" (mean ± sd)" if spec.cv else ""),
            "test acc",
            *params,
            "seconds",
            "reason",
            "run",
        ],
        "trial_rows": trial_rows(trials, params, result.dir),
        "best_row": None,
    }
    if best is not None:
        test = best.user_attrs.get("test_accuracy")
        ctx["best"] = {
            "number": best.number,
            "value": f"{best.value:.4f}",
            "test": None if test is None else f"{test:.4f}",
            "config": " ".join(f"{k}={show(v)}" for k, v in best.user_attrs.get("config", best.params).items()),
            "path": None if best_path is None else str(best_path),
            "href": BEST_YAML,
        }
        ctx["best_row"] = next(i for i, t in enumerate(trials) if t.number == best.number)
        ctx["history"] = history_plot(trials, spec.objective, spec.direction == "maximize")
        imp = importances(study) if study is not None else None  # fANOVA: only for the page
        if imp:
            ctx["importances"] = importance_plot(imp)
        ctx["slices"] = [slice_plot(k, p, trials, spec.objective) for k, p in params.items()]
    return ctx
