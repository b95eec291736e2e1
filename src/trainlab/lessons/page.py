"""report.html of a lesson: the Report's claims, prose, tables and figures as one page.

This module builds the page's context; ``templates/lesson.html`` lays it out and the page engine
(``trainlab.report.pages``) renders it. Lesson text may hold `code` and *emphasis*; the template's
``inline`` filter escapes it first and only then marks those up.
"""

from __future__ import annotations

from typing import Any

from trainlab.report import pages

# The Report is typed Any here: naming its class would import lessons.base, which imports this
# module for Report.to_html (a cycle).


def render(report: Any) -> str:
    """A lessons.base.Report as one self-contained HTML page (figures inlined as PNG)."""
    return pages.render("lesson.html", **context(report))


def card(report: Any) -> str:
    """The lesson's report as a notebook card (``Report._repr_html_``): verdicts and figures."""
    return pages.render("lesson_card.html", **context(report))


def context(report: Any) -> dict[str, Any]:
    """What a lesson page shows, as plain values for templates/lesson.html."""
    verdicts = [[*row[:-1], {"text": row[-1], "cls": "ok" if c.holds else "bad"}] for row, c in zip(report.verdict_rows(), report.claims, strict=True)]
    blocks: list[dict[str, Any]] = []
    for kind, body in report.blocks:
        if kind in ("h2", "p"):
            blocks.append({"kind": kind, "text": body})
        elif kind == "table":
            columns, rows = body
            blocks.append({"kind": kind, "columns": columns, "rows": rows})
        elif kind == "figure":
            blocks.append({"kind": kind, "uri": pages.image_uri(body.png), "caption": body.caption})
    return {
        "title": f"trainlab lesson {report.name}",
        "name": report.name,
        "heading": report.title,
        "meta": report.meta(),
        "verdicts": verdicts,
        "blocks": blocks,
    }
