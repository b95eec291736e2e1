"""``compare.html``: overlaid learning curves, final metrics with error bars and the table of a comparison."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from trainlab.atomic import write_text
from trainlab.report import html as H


def write_compare_report(comp: Any) -> Path:
    """Render and write ``compare.html`` in the comparison directory (``comp``: compare.Comparison)."""
    from trainlab.comparisons import COMPARE_HTML

    out = comp.path / COMPARE_HTML
    write_text(out, render(comp))
    return out


def render(comp: Any) -> str:
    """The comparison page as HTML text."""
    from trainlab.report import plots

    groups = [g for g in comp.groups() if g["histories"]]
    runs = len(comp.members)
    ok = sum(1 for m in comp.members if m.run is not None)
    parts = [f"<h1>{H.esc(comp.path.name)}</h1><p class=sub>compared: {H.esc(', '.join(comp.keys) or 'runs')}</p>"]
    parts.append(H.kpis([("configurations", str(len(comp.groups()))), ("runs finished", f"{ok} / {runs}"), ("wall time", f"{comp.seconds:.1f} s"), ("worker processes", str(comp.workers))]))
    parts.append(H.section("Results", _table(comp), "mean ± std over seeds; best test accuracy in bold"))
    if groups:
        hist_keys = {k for g in groups for h in g["histories"] for m in h for k in m}
        metrics = [k for k in ("val_accuracy", "val_loss", "train_accuracy", "train_loss") if k in hist_keys][:3]
        if metrics:
            parts.append(H.section("Learning curves", H.img(plots.svg_uri(plots.compare_curves(groups, metrics)), "learning curves of every configuration"), "line: mean over seeds; band: lowest to highest seed"))
        bars = [m for m in ("test_accuracy", "test_loss", "test_r2") if any(g["values"].get(m) for g in groups)][:2]
        figs = "".join(H.section(f"Final {m.replace('_', ' ')}", H.img(plots.svg_uri(plots.compare_bars(groups, m)), f"final {m} per configuration")) for m in bars)
        parts.append(f"<div class=grid2>{figs}</div>")
    parts.append(H.section("Runs", _runs_table(comp)))
    parts.append(f"<p class=note>Rebuild this page: <code>trainlab report {H.esc(comp.path)}</code></p>")
    return H.page(f"trainlab · {comp.path.name}", "\n".join(parts))


def _table(comp: Any) -> str:
    rows = comp.rows()
    best = max((r["test_accuracy"][0] for r in rows if "test_accuracy" in r), default=None)
    keys = [k for k in ("test_accuracy", "test_loss", "best_val_accuracy", "test_r2", "epochs", "fit_seconds") if any(k in r for r in rows)]
    head = "<tr><th>config</th><th class=num>runs</th>" + "".join(f"<th class=num>{H.esc(k.replace('_', ' '))}</th>" for k in keys) + "</tr>"
    body = []
    for r in rows:
        failed = f" ({r['failed']} failed)" if r["failed"] else ""
        cells = [f"<td>{H.esc(r['config'])}</td><td class=num>{r['runs']}{failed}</td>"]
        for k in keys:
            if k not in r:
                cells.append("<td class=num>-</td>")
                continue
            mean, std = r[k]
            digits = 1 if k in ("fit_seconds", "epochs") else 4
            text = f"{mean:.{digits}f} ± {std:.{digits}f}" if r["runs"] > 1 else f"{mean:.{digits}f}"
            bold = k == "test_accuracy" and mean == best and len(rows) > 1
            cells.append(f"<td class=num>{'<b>' if bold else ''}{H.esc(text)}{'</b>' if bold else ''}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table class=lines>{head}{''.join(body)}</table>"


def _runs_table(comp: Any) -> str:
    rows = []
    for m in comp.members:
        if m.run is not None:
            rel = os.path.relpath(m.run.path, comp.path)
            link = f"<a href='{H.esc(Path(rel, 'report.html').as_posix())}'>{H.esc(m.run.name)}</a>" if (m.run.path / "report.html").is_file() else H.esc(m.run.name)
            acc = H.fmt(m.run.summary.get("test_accuracy"))
            status = m.run.summary.get("status", "?")
        else:
            link, acc, status = "-", "-", f"failed: {m.error}"
        rows.append(f"<tr><td>{H.esc(m.label)}</td><td class=num>{m.seed}</td><td class=num>{acc}</td><td>{H.esc(status)}</td><td>{link}</td></tr>")
    head = "<tr><th>config</th><th class=num>seed</th><th class=num>test accuracy</th><th>status</th><th>run (report)</th></tr>"
    return f"<table class=lines>{head}{''.join(rows)}</table>"
