"""The study notes, judged: every claim of notes.yaml with the verdict of the lesson claims that measure it.

``notes.yaml`` (beside this module) lists the notes' claims by file and line, paraphrased, with their
kind and the lesson claims that judge them (a part of the claim's text). ``judge_notes`` reads the
lessons' ``claims.json`` already written for the same size (``--quick`` or not, same overrides) and runs
only the lessons that are missing; ``write_notes`` writes notes.json and notes.html (page engine,
templates/notes.html). ``trainlab notes`` and ``trainlab.notes`` call both.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from trainlab.atomic import write_text
from trainlab.bounded import read_json
from trainlab.errors import TrainlabError
from trainlab.report import pages

KINDS = ("definition", "behaviour", "not checkable")
CORRECTED, NOT_CHECKABLE, NOT_RUN = "the notes are corrected", "not checkable", "not judged: no lesson claim matched"


@dataclass
class NoteClaim:
    """One claim of the notes: where it is, what it says (paraphrased), its kind and how it was judged."""

    note: str
    line: int
    claim: str
    kind: str
    judged_by: list[dict[str, str]] = field(default_factory=list)
    why: str = ""
    correction: str = ""
    verdict: str = ""
    evidence: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The claim as plain values (one object of notes.json)."""
        return {
            "note": self.note,
            "line": self.line,
            "claim": self.claim,
            "kind": self.kind,
            "verdict": self.verdict,
            "lesson": sorted({j["lesson"] for j in self.judged_by}),
            "correction": self.correction,
            "why": self.why,
            "evidence": self.evidence,
        }


def load_notes() -> tuple[dict[str, str], list[NoteClaim]]:
    """The notes' descriptions and their claims, from the package's notes.yaml."""
    data = yaml.safe_load(resources.files("trainlab.lessons").joinpath("notes.yaml").read_text(encoding="utf-8"))
    claims = [
        NoteClaim(
            c["note"],
            int(c["line"]),
            c["claim"],
            c["kind"],
            list(c.get("judged_by") or []),
            c.get("why", ""),
            c.get("correction", ""),
        )
        for c in data["claims"]
    ]
    return data["notes"], claims


def lessons_needed(claims: list[NoteClaim]) -> list[str]:
    """The lessons that judge some claim, in course order."""
    # lazy: listing the lessons imports every lesson module (torch)
    from trainlab.lessons import lesson_names

    wanted = {j["lesson"] for c in claims for j in c.judged_by}
    return [n for n in lesson_names() if n in wanted]


def saved_report(folder: Path, quick: bool, overrides: list[str]) -> dict[str, Any] | None:
    """A lesson's claims.json in ``folder`` when it was measured at this size with these overrides, else None."""
    if not (folder / "claims.json").is_file():
        return None
    try:  # bounded: a lesson folder is untrusted input like any file read back
        saved = read_json(folder / "claims.json")
    except TrainlabError:
        return None
    if not isinstance(saved, dict):
        return None
    if saved.get("quick") is not quick or list(saved.get("overrides") or []) != list(overrides):
        return None
    return saved


def _aggregate(c: NoteClaim) -> str:
    """The note claim's verdict from its evidence (each a lesson claim's verdict)."""
    if c.kind == "not checkable":
        return NOT_CHECKABLE
    verdicts = [e["verdict"] for e in c.evidence]
    if not verdicts:
        return NOT_RUN
    if "does not hold" in verdicts:
        return "does not hold"
    if "not judged at this size" in verdicts:
        return "not judged at this size"
    return CORRECTED if c.correction else "holds"


def judge_notes(
    quick: bool = False,
    overrides: list[str] | None = None,
    lessons_dir: str | Path | None = None,
    rerun: bool = False,
    log: Callable[[str], None] | None = None,
) -> tuple[list[NoteClaim], dict[str, Any]]:
    """Every note claim with its verdict and evidence; lessons are reused from ``lessons_dir`` (default
    ``lessons-out``, where `trainlab lesson` writes) when measured at the same size, else run and saved
    there. Returns the claims and, per lesson, ``{"folder", "reused", "seconds"}``."""
    # lazy: running lessons loads the library (torch)
    from trainlab.lessons import default_out, run_lesson

    overrides = list(overrides or [])
    _, claims = load_notes()
    root = Path(lessons_dir) if lessons_dir is not None else None
    reports: dict[str, dict[str, Any]] = {}
    runs: dict[str, Any] = {}
    for name in lessons_needed(claims):
        # `trainlab lesson NAME` writes lessons-out/NAME[-quick]; `trainlab lesson all --out DIR` writes DIR/NAME
        folders = (
            [root / f"{name}-quick", root / name]
            if root is not None and quick
            else [root / name]
            if root is not None
            else [default_out(name, quick)]
        )
        found = (
            None
            if rerun
            else next(((f, s) for f in folders if (s := saved_report(f, quick, overrides)) is not None), None)
        )
        folder, saved = found if found is not None else (folders[0], None)
        reused = saved is not None
        if saved is None:
            if log:
                log(f"lesson {name}: running")
            report, _ = run_lesson(name, quick=quick, overrides=overrides, out_dir=folder, log=log)
            saved = report.to_json()
        elif log:
            log(f"lesson {name}: reusing {folder / 'claims.json'}")
        reports[name] = saved
        runs[name] = {"folder": folder, "reused": reused, "seconds": saved.get("seconds", 0.0)}
    for c in claims:
        for j in c.judged_by:
            for k, lc in enumerate(reports.get(j["lesson"], {}).get("claims", [])):
                if j["claim"] in lc["claim"]:
                    c.evidence.append(
                        {
                            "lesson": j["lesson"],
                            "index": k,
                            **{key: lc[key] for key in ("claim", "test", "measured", "verdict", "why")},
                        }
                    )
        c.verdict = _aggregate(c)
    return claims, runs


def write_notes(claims: list[NoteClaim], runs: dict[str, Any], out_dir: str | Path, quick: bool) -> dict[str, Path]:
    """notes.json (one object per claim) and notes.html (page engine) in ``out_dir``."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_text(out / "notes.json", json.dumps([c.as_dict() for c in claims], indent=1, ensure_ascii=False) + "\n")
        pages.write_page(out / "notes.html", "notes.html", **page_context(claims, runs, out, quick))
    except OSError as exc:
        raise TrainlabError(f"cannot write the notes page to {str(out)!r}: {exc.strerror or exc}") from None
    return {"json": out / "notes.json", "html": out / "notes.html"}


def tally(claims: list[NoteClaim]) -> dict[str, int]:
    """How many note claims got each verdict."""
    out: dict[str, int] = {}
    for c in claims:
        out[c.verdict] = out.get(c.verdict, 0) + 1
    return out


VERDICT_CLASS = {"holds": "ok", CORRECTED: "ok", "does not hold": "bad"}


def page_context(claims: list[NoteClaim], runs: dict[str, Any], out: Path, quick: bool) -> dict[str, Any]:
    """What notes.html shows: per note, each claim with its verdict, correction and evidence linked to its lesson."""
    descriptions, _ = load_notes()
    checkable = [c for c in claims if c.kind != "not checkable"]
    judged = [c for c in checkable if c.verdict in ("holds", "does not hold", CORRECTED)]
    sections = []
    for note in dict.fromkeys(c.note for c in claims):
        text = descriptions.get(note, "")
        rows = []
        for c in (c for c in claims if c.note == note):
            evidence = []
            for e in c.evidence:
                href = Path(os.path.relpath(runs[e["lesson"]]["folder"], out)).as_posix() + "/report.html#verdicts"
                evidence.append(
                    {
                        "lesson": e["lesson"],
                        "href": href,
                        "claim": e["claim"],
                        "measured": e["measured"],
                        "verdict": e["verdict"],
                        "why": e["why"],
                        "cls": VERDICT_CLASS.get(e["verdict"], "muted"),
                    }
                )
            rows.append(
                {
                    "line": c.line,
                    "claim": c.claim,
                    "kind": c.kind,
                    "verdict": c.verdict,
                    "cls": VERDICT_CLASS.get(c.verdict, "muted"),
                    "correction": c.correction,
                    "why": c.why,
                    "evidence": evidence,
                }
            )
        sections.append({"note": note, "text": text, "rows": rows})
    counts = tally(claims)
    mode = (
        " (`--quick`: small runs; a claim whose effect they cannot show says *not judged at this size*)"
        if quick
        else ""
    )
    return {
        "title": "trainlab notes",
        "heading": "The study notes, judged claim by claim",
        "meta": f"{len(claims)} claims of {len(descriptions)} notes; {len(checkable)} checkable, "
        f"{len(judged)} of them judged "
        f"({', '.join(f'{v}: {n}' for v, n in sorted(counts.items()))}){mode}. Re-run: `trainlab "
        f"notes{' --quick' if quick else ''}`.",
        "kpis": [
            ("claims", str(len(claims))),
            ("checkable", str(len(checkable))),
            ("judged", f"{len(judged)} of {len(checkable)}"),
            ("corrected", str(counts.get(CORRECTED, 0))),
            ("does not hold", str(counts.get("does not hold", 0))),
        ],
        "sections": sections,
    }


@dataclass
class NotesResult:
    """What ``trainlab.notes`` returns: the judged claims, the lessons used and the files written."""

    claims: list[NoteClaim]
    runs: dict[str, Any]
    paths: dict[str, Path]
    quick: bool

    def summary(self) -> str:
        """One line: how many claims, how many checkable and judged, and the verdict counts."""
        checkable = [c for c in self.claims if c.kind != "not checkable"]
        judged = sum(c.verdict in ("holds", "does not hold", CORRECTED) for c in checkable)
        reused = sum(r["reused"] for r in self.runs.values())
        counts = ", ".join(f"{v}: {n}" for v, n in sorted(tally(self.claims).items()))
        return (
            f"{len(self.claims)} claims, {len(checkable)} checkable, {judged} judged ({counts}); "
            f"{len(self.runs)} lessons, {reused} reused, {len(self.runs) - reused} run"
        )

    def __repr__(self) -> str:
        return f"NotesResult({self.summary()})"


def notes(
    quick: bool = False,
    out: str | Path | None = None,
    overrides: list[str] | None = None,
    lessons: str | Path | None = None,
    rerun: bool = False,
    log: Callable[[str], None] | None = None,
) -> NotesResult:
    """Judge every claim of the study notes and write notes.html and notes.json (``trainlab notes``).

    Lesson reports already written for the same size in ``lessons`` (default ``lessons-out``) are reused;
    the missing lessons run. ``out`` defaults to ``lessons-out/notes`` (``notes-quick`` with ``quick``)."""
    claims, runs = judge_notes(quick=quick, overrides=overrides, lessons_dir=lessons, rerun=rerun, log=log)
    folder = (
        Path(out)
        if out is not None
        else Path(lessons if lessons is not None else "lessons-out") / ("notes-quick" if quick else "notes")
    )
    return NotesResult(claims, runs, write_notes(claims, runs, folder, quick), quick)
