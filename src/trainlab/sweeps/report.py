"""sweep.html and best.yaml: what a sweep found, readable in a browser and runnable with ``trainlab train``.

The page holds the optimization history (each trial's value and the best so far), the parameter
importances (Optuna's fANOVA evaluator), one slice plot per parameter (value against objective),
and a table of every trial with its state, reason, cross-validation spread and a link to its run
directory. Plots are drawn with matplotlib (Agg) and embedded as PNG data, so the page is one file.
"""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path
from typing import Any

import yaml

from trainlab.atomic import write_text
from trainlab.sweeps.run import trial_reason

STYLE = """body{font:14px/1.45 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px}td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}tr.best{background:#eef7ee}
.grid{display:flex;flex-wrap:wrap;gap:8px}code,pre{background:#f5f5f5;padding:2px 4px}
.muted{color:#777}"""


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _png(fig: Any) -> str:
    """A matplotlib figure as an inline <img> (PNG, base64), then closed."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return f'<img alt="" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def history_plot(trials: list[Any], objective: str, maximize: bool) -> str:
    """Each completed trial's value by trial number, and the best so far."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    done = [t for t in trials if t.state.name == "COMPLETE"]
    xs, ys = [t.number for t in done], [t.value for t in done]
    ax.scatter(xs, ys, s=18, color="#1f77b4", label="trial")
    best, line = None, []
    for y in ys:
        best = y if best is None or (y > best if maximize else y < best) else best
        line.append(best)
    ax.step(xs, line, where="post", color="#d62728", label="best so far")
    for t in trials:
        if t.state.name in ("PRUNED", "FAIL"):
            ax.axvline(t.number, color="#bbb", lw=0.8, ls=":" if t.state.name == "PRUNED" else "-")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial")
    ax.set_ylabel(objective)
    ax.set_title("optimization history (grey: pruned ⋯ / failed —)", fontsize=10)
    ax.legend(fontsize=8)
    return _png(fig)


def importances(study: Any) -> dict[str, float]:
    """Parameter importances (fANOVA) or {} when there are too few completed trials to say."""
    import optuna

    done = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if len(done) < 3:
        return {}
    try:
        return dict(optuna.importance.get_param_importances(study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0)))
    except (RuntimeError, ValueError, ZeroDivisionError):  # e.g. every parameter constant
        return {}


def importance_plot(imp: dict[str, float]) -> str:
    """Horizontal bars of the importances."""
    plt = _plt()
    keys = list(imp)[::-1]
    fig, ax = plt.subplots(figsize=(6.4, 0.45 * len(keys) + 1))
    ax.barh(keys, [imp[k] for k in keys], color="#2ca02c")
    ax.set_xlabel("importance (fANOVA, share of the objective's variance)")
    ax.set_xlim(0, 1)
    return _png(fig)


def slice_plot(key: str, param: Any, trials: list[Any], objective: str) -> str:
    """Objective against one parameter's value, colored by trial number."""
    plt = _plt()
    done = [t for t in trials if t.state.name == "COMPLETE" and key in t.params]
    fig, ax = plt.subplots(figsize=(4.2, 3.0))
    if param.kind == "choice":
        labels = [str(v) for v in param.labels()]
        xs = [labels.index(str(t.params[key])) if str(t.params[key]) in labels else -1 for t in done]
        ax.set_xticks(range(len(labels)), labels, rotation=30 if max(map(len, labels), default=0) > 6 else 0, fontsize=8)
    else:
        from matplotlib.ticker import NullFormatter

        xs = [t.params[key] for t in done]
        if param.log:
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels collide on narrow ranges
        ax.tick_params(axis="x", labelsize=8, labelrotation=30)
    sc = ax.scatter(xs, [t.value for t in done], c=[t.number for t in done], cmap="viridis", s=20)
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
    cfg = yaml.safe_load((Path(dirs[0]) / "config.yaml").read_text())
    cfg.setdefault("output", {})
    cfg["output"].update(dir="runs", name=None)  # train it anew as an ordinary run
    head = f"# best trial {best.number}: {objective} {best.value:.4f}\n# trainlab train --config best.yaml\n"
    return head + yaml.safe_dump(cfg, sort_keys=False)


def show(value: Any) -> str:
    """A parameter value as the space writes it: 4 significant digits, lists as [256,128]."""
    from trainlab.registry import _fmt

    return f"{value:.4g}" if isinstance(value, float) else _fmt(value)


def _link(path: str, sweep_dir: Path) -> str:
    p = Path(path)
    if not p.exists():
        return f'<span class="muted">{_esc(path)}</span>'  # written by a worker on another machine
    rel = os.path.relpath(p.resolve(), sweep_dir.resolve())
    target = f"{rel}/report.html" if (p / "report.html").is_file() else rel
    return f'<a href="{_esc(target)}">{_esc(p.name)}</a>'


def trial_rows(trials: list[Any], params: dict[str, Any], sweep_dir: Path, best: Any) -> str:
    """One table row per trial."""
    rows = []
    for t in trials:
        cv = t.user_attrs.get("fold_values")
        value = "" if t.value is None else f"{t.value:.4f}" + (f" ± {t.user_attrs.get('fold_std', 0):.4f}" if cv else "")
        test = t.user_attrs.get("test_accuracy")
        links = " ".join(_link(d, sweep_dir) for d in t.user_attrs.get("run_dirs", []))
        cells = [str(t.number), t.state.name.lower(), value, "" if test is None else f"{test:.4f}"]
        cells += [_esc(show(t.user_attrs.get("config", {}).get(k, t.params.get(k, "")))) for k in params]
        cells += [_esc(t.user_attrs.get("seconds", "")), _esc(trial_reason(t)), links]
        cls = ' class="best"' if best is not None and t.number == best.number else ""
        rows.append(f"<tr{cls}>" + "".join(f'<td class="n">{c}</td>' if i in (0, 2, 3) else f"<td>{c}</td>" for i, c in enumerate(cells)) + "</tr>")
    return "\n".join(rows)


def write_report(result: Any, study: Any) -> tuple[Path, Path | None]:
    """Write sweep.html (and best.yaml when a trial completed) into the sweep directory."""
    spec, trials, sweep_dir = result.spec, result.trials, result.dir
    params = spec.params()
    maximize = spec.direction == "maximize"
    best = result.best
    parts = [f"<h1>sweep {_esc(result.name)}</h1>"]
    counts = ", ".join(f"{n} {k}" for k, n in result.counts().items())
    parts.append(
        f"<p>{len(trials)} trials ({counts}) · objective <b>{spec.objective}</b> ({spec.direction}) · sampler {spec.sampler} · "
        f"pruner {spec.pruner}{f' · {spec.cv}-fold cross-validation' if spec.cv else ''} · seed {spec.seed} · storage <code>{_esc(result.storage)}</code></p>"
    )
    parts.append("<h2>search space</h2><table>" + "".join(f"<tr><td><code>{_esc(k)}</code></td><td><code>{_esc(p)}</code></td></tr>" for k, p in params.items()) + "</table>")
    best_path = None
    if best is not None:
        text = best_config_yaml(best, spec.objective)
        if text:
            best_path = sweep_dir / "best.yaml"
            write_text(best_path, text)
        cfg = " ".join(f"{k}={show(v)}" for k, v in best.user_attrs.get("config", best.params).items())
        test = best.user_attrs.get("test_accuracy")
        parts.append(
            f"<h2>best trial: {best.number}</h2><p>{spec.objective} <b>{best.value:.4f}</b>"
            + (f" (test accuracy {test:.4f}, not used for selection)" if test is not None else "")
            + f" with <code>{_esc(cfg)}</code></p>"
            + (f'<p>Train it again: <code>trainlab train --config {_esc(best_path)}</code> (<a href="best.yaml">best.yaml</a>)</p>' if best_path else "")
        )
        parts.append("<h2>optimization history</h2>" + history_plot(trials, spec.objective, maximize))
        imp = importances(study)
        if imp:
            parts.append("<h2>parameter importances</h2>" + importance_plot(imp))
        parts.append("<h2>slices</h2><div class='grid'>" + "".join(slice_plot(k, p, trials, spec.objective) for k, p in params.items()) + "</div>")
    else:
        parts.append("<p>No trial completed, so there is no best configuration yet.</p>")
    head = ["trial", "state", spec.objective + (" (mean ± sd)" if spec.cv else ""), "test acc", *params, "seconds", "reason", "run"]
    parts.append("<h2>trials</h2><table><tr>" + "".join(f"<th>{_esc(h)}</th>" for h in head) + "</tr>" + trial_rows(trials, params, sweep_dir, best) + "</table>")
    page = f"<!doctype html><html><head><meta charset='utf-8'><title>sweep {_esc(result.name)}</title><style>{STYLE}</style></head><body>{''.join(parts)}</body></html>"
    path = sweep_dir / "sweep.html"
    write_text(path, page)
    return path, best_path
