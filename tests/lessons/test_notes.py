"""The notes as data: every cited line exists in its note, every lesson claim cited exists; the notes page and JSON."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from trainlab.cli import main
from trainlab.lessons import lesson_names
from trainlab.lessons.notes import (
    KINDS,
    NoteClaim,
    load_notes,
    page_context,
)
from trainlab.report import pages

ROOT = Path(__file__).resolve().parents[2]
# ../shared/seeds beside the checkout (a worktree one level deeper: ../../shared/seeds)
SEEDS = next(
    (
        p
        for p in (ROOT.parent / "shared" / "seeds", ROOT.parent.parent / "shared" / "seeds", ROOT / "shared" / "seeds")
        if p.is_dir()
    ),
    ROOT.parent / "shared" / "seeds",
)
LESSONS_SRC = Path(__file__).resolve().parents[2] / "src" / "trainlab" / "lessons"


def lesson_texts(path: Path) -> str:
    """Every string a lesson module writes, adjacent literals joined as Python joins them (placeholders as {})."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            out.append(node.value)
        elif isinstance(node, ast.JoinedStr):
            out.append("".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values))
    return "\n".join(out)


def test_every_claim_is_well_formed_and_cites_existing_lesson_claims() -> None:
    notes, claims = load_notes()
    assert len(claims) >= 80 and set(notes) == {c.note for c in claims}
    names = set(lesson_names())
    for c in claims:
        assert c.kind in KINDS and c.claim.strip() and c.line >= 1, c
        if c.kind == "not checkable":
            assert c.why.strip() and not c.judged_by, c  # says why, cites nothing
            continue
        assert c.judged_by, c
        for j in c.judged_by:
            assert j["lesson"] in names, j
            source = lesson_texts(LESSONS_SRC / f"{j['lesson'].replace('-', '_')}.py")
            assert j["claim"] in source, f"{c.note}:{c.line}: {j['claim']!r} is not a claim of lesson {j['lesson']}"


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the study notes (../shared/seeds) are not beside this checkout")
def test_every_cited_line_exists_in_its_note() -> None:
    _, claims = load_notes()
    for c in claims:
        lines = (SEEDS / c.note).read_text(encoding="utf-8").splitlines()
        assert c.line <= len(lines), f"{c.note} has {len(lines)} lines, {c.line} cited"
        text = lines[c.line - 1].strip()
        assert text and not text.startswith("http"), f"{c.note}:{c.line} is empty or a bare link: {text!r}"
        assert c.claim not in text  # a paraphrase, not the note's sentence


def test_corrections_the_issue_names_are_recorded() -> None:
    _, claims = load_notes()
    by_text = " ".join(c.claim + " " + c.correction for c in claims)
    assert "kaiming_uniform" in by_text and "1/√fan_in" in by_text and "3,072" in by_text


def test_notes_judge_reuses_saved_reports_and_writes_json_and_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a saved definitions report (the one lesson run here); the other lessons' saved claims.json files are faked as
    # "measured at this size" so nothing else runs: their claims then match no evidence and say so
    assert (
        main(["lesson", "definitions", "--quick", "-q", "--out", str(tmp_path / "lessons" / "definitions-quick")]) == 0
    )
    capsys.readouterr()
    for name in lesson_names():
        folder = tmp_path / "lessons" / f"{name}-quick"
        if not (folder / "claims.json").exists():
            folder.mkdir(parents=True)
            (folder / "claims.json").write_text(
                json.dumps({"name": name, "quick": True, "overrides": [], "claims": []})
            )
    assert (
        main(["notes", "--quick", "-q", "--lessons", str(tmp_path / "lessons"), "--out", str(tmp_path / "notes")]) == 0
    )
    out = capsys.readouterr().out
    assert "0 run" in out and "THE NOTES ARE CORRECTED" in out
    saved = json.loads((tmp_path / "notes" / "notes.json").read_text())
    assert {"note", "line", "claim", "kind", "verdict", "lesson", "evidence"} <= set(saved[0])
    wrong = next(x for x in saved if "Xavier initialization and convolutions to He" in x["claim"])
    assert wrong["verdict"] == "the notes are corrected" and "1/√(3·fan_in)" in wrong["evidence"][0]["claim"]
    assert wrong["evidence"][0]["verdict"] == "holds" and "std 0.02" in wrong["evidence"][0]["measured"]
    html = (tmp_path / "notes" / "notes.html").read_text()
    assert 'href="../lessons/definitions-quick/report.html#verdicts"' in html


def test_notes_page_escapes_and_shows_unjudged_apart() -> None:
    hostile = "<script>alert(1)</script>"
    c = NoteClaim("000_x.txt", 3, hostile, "behaviour", [{"lesson": "init", "claim": "x"}], correction=hostile)
    c.evidence = [
        {
            "lesson": "init",
            "index": 0,
            "claim": hostile,
            "test": "t",
            "measured": hostile,
            "verdict": "not judged at this size",
            "why": hostile,
        }
    ]
    c.verdict = "not judged at this size"
    ctx = page_context([c], {"init": {"folder": Path("x/init"), "reused": True}}, Path("x/notes"), True)
    html = pages.render("notes.html", **ctx)
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert '<td class="muted">not judged at this size</td>' in html and 'class="bad"' not in html
