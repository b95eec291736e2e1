"""``compare.html``: overlaid learning curves, final metrics with error bars and the table of a comparison.

This module builds the page's context; ``templates/compare.html`` lays it out and the page engine
(``trainlab.report.pages``) renders and writes it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from trainlab.formatting import number
from trainlab.report import REPORT, pages, plots

# The Comparison is typed Any here: naming its class would import comparisons.core, which
# imports this module to write the page (a cycle).

COMPARE_HTML = "compare.html"
_RESULT_KEYS = ("test_accuracy", "test_loss", "best_val_accuracy", "test_r2", "epochs", "fit_seconds")


def write_compare_page(comp: Any) -> Path:
    """Render and write ``compare.html`` in the comparison directory (``comp``: a Comparison)."""
    return pages.write_page(comp.path / COMPARE_HTML, "compare.html", **context(comp))


def context(comp: Any) -> dict[str, Any]:
    """What compare.html shows, as plain values for templates/compare.html."""
    all_groups = comp.groups()
    groups = [g for g in all_groups if g["histories"]]
    finished = sum(1 for m in comp.members if m.run is not None)
    header, rows = _results(comp)
    ctx: dict[str, Any] = {
        "title": f"trainlab · {comp.path.name}",
        "name": comp.path.name,
        "compared": ", ".join(comp.keys) or "runs",
        "kpis": [
            ("configurations", str(len(all_groups))),
            ("runs finished", f"{finished} / {len(comp.members)}"),
            ("wall time", f"{comp.seconds:.1f} s"),
            ("worker processes", str(comp.workers)),
        ],
        "results_header": header,
        "results": rows,
        "results_numeric": tuple(range(1, len(header))),
        "curves": None,
        "bars": [],
        "runs": _runs(comp),
        "rebuild": f"trainlab report {comp.path}",
    }
    if groups:
        hist_keys = {k for g in groups for h in g["histories"] for m in h for k in m}
        metrics = [k for k in ("val_accuracy", "val_loss", "train_accuracy", "train_loss") if k in hist_keys][:3]
        if metrics:
            panels = plots.compare_curve_panels(groups, metrics)  # one image each: a phone stacks them
            ctx["curves"] = [
                {"uri": pages.image_uri(fig, "svg"), "alt": f"{title} per epoch, every configuration"}
                for title, fig in panels
            ]
        bars = [m for m in ("test_accuracy", "test_loss", "test_r2") if any(g["values"].get(m) for g in groups)][:2]
        ctx["bars"] = [
            {
                "title": f"Final {m.replace('_', ' ')}",
                "uri": pages.image_uri(plots.compare_bars(groups, m), "svg"),
                "alt": f"final {m} per configuration",
            }
            for m in bars
        ]
    return ctx


def card(comp: Any) -> str:
    """The comparison as a notebook card (``Comparison._repr_html_``): results table and curves."""
    return pages.render("compare_card.html", **context(comp), path=str(comp.path))


def _results(comp: Any) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of the results table: mean ± std per configuration, best accuracy in bold."""
    rows = comp.rows()
    best = max((r["test_accuracy"][0] for r in rows if "test_accuracy" in r), default=None)
    keys = [k for k in _RESULT_KEYS if any(k in r for r in rows)]
    out = []
    for r in rows:
        cells: list[Any] = [r["config"], f"{r['runs']}" + (f" ({r['failed']} failed)" if r["failed"] else "")]
        for k in keys:
            if k not in r:
                cells.append("-")
                continue
            mean, std = r[k]
            digits = 1 if k in ("fit_seconds", "epochs") else 4
            text = f"{mean:.{digits}f} ± {std:.{digits}f}" if r["runs"] > 1 else f"{mean:.{digits}f}"
            bold = k == "test_accuracy" and mean == best and len(rows) > 1
            cells.append({"text": text, "bold": True} if bold else text)
        out.append(cells)
    return ["config", "runs", *(k.replace("_", " ") for k in keys)], out


def _runs(comp: Any) -> list[list[Any]]:
    """One row per member: label, seed, test accuracy, status, and a link to the run's own report."""
    rows: list[list[Any]] = []
    for m in comp.members:
        if m.run is not None:
            rel = Path(os.path.relpath(m.run.path, comp.path), REPORT).as_posix()
            link: Any = {"text": m.run.name, "href": rel} if (m.run.path / REPORT).is_file() else m.run.name
            rows.append(
                [
                    m.label,
                    m.seed,
                    number(m.run.summary.get("test_accuracy")),
                    str(m.run.summary.get("status", "?")),
                    link,
                ]
            )
        else:
            rows.append([m.label, m.seed, "-", f"failed: {m.error}", "-"])
    return rows
