"""Every lesson runs with --quick and writes a complete report; the CLI lists and runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import requires_fashion
from trainlab.cli import main
from trainlab.cli.lesson import verdict_lines
from trainlab.lessons import COURSE, default_out, lesson_names, run_all, run_lesson
from trainlab.lessons.base import FAILS, HOLDS, NOT_JUDGED, Claim, LessonContext

EXPECTED = [
    "definitions",
    "nonlinearity",
    "activations",
    "init",
    "batchnorm",
    "optimizers",
    "learning-rate",
    "losses",
    "regularization",
    "preprocessing",
    "imbalance",
    "self-supervised",
    "landscape",
    "capacity",
    "search",
    "cnn",
]


@pytest.mark.parametrize("name", [n for n in EXPECTED if n in lesson_names()])
def test_quick_lesson_writes_complete_report(name: str, tmp_path: Path) -> None:
    report, paths = run_lesson(name, quick=True, overrides=["threads=1"], out_dir=tmp_path)
    assert report.claims, "a lesson judges at least one claim"
    for c in report.claims:
        assert c.claim and c.test and c.measured.strip(), c
        assert c.verdict in (HOLDS, FAILS, NOT_JUDGED)
    md, page = paths["markdown"].read_text(), paths["html"].read_text()
    table = md.split("## Verdicts", 1)[1].split("\n\n", 2)[1].splitlines()
    assert len(table) == 2 + len(report.claims)  # header, rule, one row per claim
    for row, c in zip(table[2:], report.claims, strict=True):  # every verdict but `holds` carries its explanation
        assert row.rstrip().endswith(f"| {HOLDS} |") if c.held else f"| {c.verdict} — " in row, row
    saved = json.loads(paths["json"].read_text())
    assert [x["verdict"] for x in saved["claims"]] == [c.verdict for c in report.claims] and saved["quick"] is True
    assert page.count("<tr>") >= 1 + len(report.claims)
    assert report.figures and page.count("data:image/png;base64,") == len(report.figures)
    for f in report.figures:
        assert (tmp_path / f.name).read_bytes()[:4] == b"\x89PNG"


def test_every_lesson_of_the_issue_is_registered() -> None:
    names = lesson_names()
    assert set(EXPECTED) <= set(names)  # other issues' lessons may be registered too
    assert names[: len(COURSE)] == [n for n in COURSE if n in names]  # the course first, in order


# The full (not --quick) form of the lessons that run in seconds (docs/lessons.md: 5-16 s each on the
# project's machine, one thread): every claim must hold. The minute-long lessons (regularization,
# capacity, cnn, imbalance, ...) are measured by `trainlab lesson NAME` and recorded in docs/lessons.md.
FULL = {
    "losses": 4,
    "preprocessing": 4,
    "nonlinearity": 4,
    "activations": 4,
    "init": 7,
}


@requires_fashion
@pytest.mark.parametrize("name", list(FULL))
def test_fast_lessons_hold_in_full_form(name: str, tmp_path: Path) -> None:
    report, _ = run_lesson(name, out_dir=tmp_path)  # the default: threads=1
    assert [c.verdict for c in report.claims] == [HOLDS] * FULL[name], "\n".join(
        f"{c.verdict}: {c.claim}: {c.measured}" for c in report.claims
    )


def test_preprocessing_says_diverged_not_nan(tmp_path: Path) -> None:
    report, paths = run_lesson(
        "preprocessing", quick=True, overrides=["optim.lr=1000", "train.epochs=1"], out_dir=tmp_path
    )
    md = paths["markdown"].read_text()
    assert "diverged" in md and "| nan |" not in md and " nan" not in " ".join(c.measured for c in report.claims)


def test_lessons_are_single_threaded_unless_overridden() -> None:
    assert LessonContext().config().threads == 1
    assert LessonContext(overrides=["threads=2"]).config().threads == 2


def test_quick_writes_its_own_folder() -> None:
    assert default_out("init") == Path("lessons-out/init") and default_out("init", quick=True) == Path(
        "lessons-out/init-quick"
    )


def test_verdict_table_wraps_instead_of_cutting() -> None:
    long = "a claim " * 30
    lines = list(verdict_lines([Claim(long.strip(), "t", "measured " * 20, True)], columns=60))
    assert all(len(line) <= 60 for line in lines) and "…" not in "".join(lines)
    assert " ".join(w for line in lines for w in line.split()).startswith("HOLDS " + long.strip())


def test_lesson_all_writes_an_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import trainlab.lessons as lessons

    monkeypatch.setattr(lessons, "lesson_names", lambda: ["losses", "nonlinearity"])
    entries, index = run_all(quick=True, out_dir=tmp_path)
    html = index.read_text()
    assert [e["name"] for e in entries] == ["losses", "nonlinearity"]
    assert '<a href="losses/report.html">' in html and '<a href="nonlinearity/report.html">' in html
    assert (tmp_path / "losses" / "report.html").is_file()
    held = sum(c.held for e in entries for c in e["report"].claims)
    assert f"{held} of {sum(len(e['report'].claims) for e in entries)} claims hold" in html


def test_cli_list_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "lessons"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(lesson_names())
    assert main(["lesson", "list"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == lesson_names()
    assert main(["lesson", "inti"]) == 2
    assert "did you mean 'init'" in capsys.readouterr().err
    assert main(["lesson", "init", "optim.lr=-1"]) == 2
    assert "optim.lr" in capsys.readouterr().err


def test_report_renders_both_verdicts_and_escapes(tmp_path: Path) -> None:
    from trainlab.lessons.base import Report, new_figure

    r = Report("demo", "a <demo> lesson")
    r.claim("x | y holds", "a < b", "a=1, b=2", 1 < 2)
    r.claim("the sky is green", "green > 0.5", "0.1", 0.1 > 0.5)
    r.claim(
        "a tiny run overfits", "gap > 0.1", "gap 0.0", False, judged=False, why="the run never fit its training set"
    )
    r.table(["n", "value"], [[1, 1e-7], [2, float("nan")]])
    fig, ax = new_figure()
    ax[0][0].plot([0, 1], [1, 0])
    r.figure(fig, "demo-plot", "a line")
    paths = r.write(tmp_path)
    md, page = paths["markdown"].read_text(), paths["html"].read_text()
    assert "| x \\| y holds — *a < b* | a=1, b=2 | holds |" in md
    assert "| the sky is green — *green > 0.5* | 0.1 | does not hold — measured at the full lesson's size" in md
    assert (
        "| a tiny run overfits — *gap > 0.1* | gap 0.0 | not judged at this size — the run never fit its training set |"
        in md
    )
    assert (
        "1 of 3 claims hold on this run (1 do not, 1 not judged at this size)" in md
        and "| 1 | 1e-07 |" in md
        and "| 2 | nan |" in md
    )
    assert "&lt;demo&gt;" in page and "<demo>" not in page
    assert '<td class="ok">holds</td>' in page and '<td class="bad">does not hold — ' in page
    assert (
        '<td class="muted">not judged at this size — the run never fit its training set</td>' in page
    )  # apart, never red
    assert (tmp_path / "demo-plot.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_runs_a_lesson_with_options_after_overrides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lesson", "losses", "threads=1", "--quick", "-q", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "claims hold" in out and str(tmp_path / "report.html") in out
    assert (tmp_path / "report.md").is_file()
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["lesson", "losses", "--quick", "threads=1", "-q", "--out", str(blocker)]) == 2
    assert "cannot write the report" in capsys.readouterr().err


def test_cli_lesson_all_prints_counts_and_the_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import trainlab.lessons as lessons

    monkeypatch.setattr(lessons, "lesson_names", lambda: ["losses"])
    assert main(["lesson", "all", "--quick", "-q", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("losses ") and "claims hold" in out and str(tmp_path / "index.html") in out


def test_second_descent_is_judged_from_the_curve() -> None:
    from trainlab.lessons.capacity import second_descent

    widths = [4, 16, 64, 256]
    bump = second_descent(widths, [0.40, 0.30, 0.36, 0.28], [0.30, 0.10, 0.00, 0.00], [0.0] * 4)
    assert bump.startswith("a second descent shows") and "width 64" in bump
    assert second_descent(widths, [0.40, 0.30, 0.29, 0.28], [0.30, 0.10, 0.00, 0.00], [0.0] * 4).startswith(
        "no second descent"
    )
    # a rise within the spread over seeds is no peak; neither is one where the training error rose (a width that failed
    # to train)
    assert second_descent(
        widths, [0.40, 0.30, 0.33, 0.28], [0.30, 0.10, 0.00, 0.00], [0.0, 0.04, 0.04, 0.0]
    ).startswith("no second descent")
    assert second_descent(widths, [0.40, 0.30, 0.36, 0.28], [0.30, 0.10, 0.20, 0.00], [0.0] * 4).startswith(
        "no second descent"
    )


def test_self_supervised_compares_scratch_fine_tuned_and_frozen(tmp_path: Path) -> None:
    report, paths = run_lesson("self-supervised", quick=True, overrides=["threads=1"], out_dir=tmp_path)
    md = paths["markdown"].read_text()
    for row in (
        "trained from scratch",
        "SimCLR encoder, fine-tuned (`model.pretrained`)",
        "SimCLR encoder, frozen (`train.freeze=encoder`",
    ):
        assert md.count(row) == 2, row  # one few-label table per data set
    claims = [c.claim for c in report.claims]
    assert sum("fine-tuning the SimCLR encoder beats" in c for c in claims) == 2
    assert any(
        c.startswith("digits: the autoencoder's features land") for c in claims
    )  # the image part (digits under --quick)
    assert len(report.figures) == 2


def _runs(ctx: LessonContext) -> list:
    base = {"data.name": "digits", "data.val": 0.2, "model.hidden": [16], "optim.batch_size": 64, "train.epochs": 2}
    return [
        ctx.config(**base, **{"optim.lr": 1e-2}),
        ctx.config(**base, **{"optim.lr": 3e-3, "seed": 1}),
        ctx.config(**base, **{"model.act": "tanh"}),
        ctx.config(**base, **{"model.dropout": 0.2}),
    ]


def test_fit_many_stacks_like_runs_and_each_ends_as_its_own_fit() -> None:
    ctx = LessonContext(quick=True)
    cfgs = _runs(ctx)
    many = ctx.fit_many(cfgs, ["a", "b", "c", "dropout"])
    assert (
        ctx.plan() == "3 runs trained stacked in 1 stack; 1 one by one (dropout: model.dropout=0.2 "
        "(its masks cannot follow the single run's random draws))"
    )
    for cfg, got in zip(cfgs, many, strict=True):
        alone = ctx.fit(cfg)
        assert got.trainer.status == alone.trainer.status == "completed" and not got.error
        assert len(got.history) == len(alone.history) == 2
        for mine, theirs in zip(got.history, alone.history, strict=True):
            assert mine == pytest.approx(theirs, rel=1e-4, abs=1e-5)
        steps, single = (
            got.recorder.step_losses(),
            alone.recorder.step_losses(),
        )  # the Recorder hears every step of a stack too
        assert len(steps) == len(single) == 2 * alone.trainer.batches_per_epoch
        assert steps == pytest.approx(single, rel=1e-4, abs=1e-5)
        assert got.evaluate("test")["accuracy"] == pytest.approx(alone.evaluate("test")["accuracy"], abs=0.01)
    off = LessonContext(quick=True, stack=False)
    off.fit_many(_runs(off)[:2])
    assert off.plan() == "stacking off (--no-stack): every run alone"


def test_a_callback_that_reads_the_weights_every_step_keeps_its_run_alone() -> None:
    from trainlab.lessons.landscape import WeightPath

    ctx = LessonContext(quick=True)
    cfgs = _runs(ctx)[:2]
    path = WeightPath(every=5)
    first, _ = ctx.fit_many(cfgs, ["watched", "plain"], callbacks=[[path], []])
    assert "watched: callback WeightPath reads the model every step" in ctx.plan()
    assert len(path.points) == 1 + first.trainer.step // 5  # every 5th step's weights, as in a single run


def test_cli_lesson_says_how_its_runs_trained(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lesson", "losses", "--quick", "--out", str(tmp_path / "a"), "-q"]) == 0
    assert "runs: 2 runs trained stacked in 1 stack" in capsys.readouterr().out
    assert "Runs: 2 runs trained stacked in 1 stack." in (tmp_path / "a" / "report.md").read_text()
    assert main(["lesson", "losses", "--quick", "--no-stack", "--out", str(tmp_path / "b"), "-q"]) == 0
    assert "runs: stacking off (--no-stack): every run alone" in capsys.readouterr().out
