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
    verdicts = [
        [*row[:-1], {"text": row[-1], "cls": verdict_class(c)}]
        for row, c in zip(report.verdict_rows(), report.claims, strict=True)
    ]
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


def verdict_class(claim: Any) -> str:
    """The CSS class of a verdict: ``ok`` holds, ``bad`` does not hold, ``muted`` not judged at this size (not red)."""
    return "muted" if not claim.judged else "ok" if claim.holds else "bad"


def write_index(path: Any, entries: list[dict[str, Any]], quick: bool, overrides: list[str], seconds: float) -> Any:
    """Write the index page of `trainlab lesson all`: every lesson linked, with its verdict counts."""
    return pages.write_page(path, "lessons_index.html", **index_context(entries, quick, overrides, seconds))


def index_context(entries: list[dict[str, Any]], quick: bool, overrides: list[str], seconds: float) -> dict[str, Any]:
    """What the index shows; each entry: name, help, href, and report (a Report) or error (a message)."""
    rows, failures = [], []
    held = total = unjudged = 0
    for e in entries:
        report = e.get("report")
        link = {"text": e["name"], "href": e["href"]} if report is not None else {"text": e["name"], "muted": True}
        if report is None:
            rows.append([link, e["help"], {"text": f"did not run: {e['error']}", "cls": "bad"}, "—", "—", "—"])
            continue
        h, n = sum(c.held for c in report.claims), len(report.claims)
        f, u = sum(c.failed for c in report.claims), sum(not c.judged for c in report.claims)
        held, total, unjudged = held + h, total + n, unjudged + u
        rows.append(
            [
                link,
                e["help"],
                {"text": f"{h} of {n}", "cls": "ok" if h == n else "bad" if f else "muted"},
                f,
                u,
                f"{report.seconds:.1f} s",
            ]
        )
        bad = [
            {"claim": c.claim, "measured": c.measured, "verdict": c.verdict, "why": report.explanation(c)}
            for c in report.claims
            if not c.held
        ]
        if bad:
            failures.append({"name": e["name"], "claims": bad})
    ran = sum(e.get("report") is not None for e in entries)
    mode = " with `--quick` (tiny data, few steps: indicative only)" if quick else ""
    extra = f", overrides `{' '.join(overrides)}`" if overrides else ""
    return {
        "title": "trainlab lessons",
        "heading": "trainlab lessons: every claim, measured",
        "meta": f"{ran} of {len(entries)} lessons ran{mode}{extra} in {seconds:.1f} s; {held} of {total} claims hold"
        f"{f' ({unjudged} not judged at this size)' if unjudged else ''}. "
        f"Re-run: `trainlab lesson all{' --quick' if quick else ''}{' ' + ' '.join(overrides) if overrides else ''}`.",
        "kpis": [
            ("lessons run", f"{ran} of {len(entries)}"),
            ("claims holding", f"{held} of {total}"),
            ("not judged at this size", str(unjudged)),
            ("seconds", f"{seconds:.0f}"),
        ],
        "rows": rows,
        "failures": failures,
    }
