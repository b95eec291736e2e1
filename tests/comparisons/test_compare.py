"""trainlab.comparisons: value grids, parallel runs, mean ± std over seeds, compare.html, comparing runs."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

import trainlab
from tests.conftest import quick
from tests.report.chromium import Browser, find_chromium
from trainlab.cli import main
from trainlab.comparisons import (
    Comparison,
    Member,
    compare_runs,
    format_table,
    load_comparison,
    parse_grid,
)
from trainlab.config import Config
from trainlab.errors import ConfigError
from trainlab.runs import Run


def test_parse_grid_keeps_lists_and_specs_whole() -> None:
    grid = parse_grid(
        ["model.hidden=[64],[128,64]", "model.act=leaky_relu(0.1),tanh", "optim.lr=1e-3,0.01", "train.epochs=3"]
    )
    assert grid == {
        "model.hidden": [[64], [128, 64]],
        "model.act": ["leaky_relu(0.1)", "tanh"],
        "optim.lr": [0.001, 0.01],
        "train.epochs": [3],
    }
    for bad in (["model.act"], ["=relu"], ["model.act="], ["model.act=relu", "model.act=tanh"]):
        with pytest.raises(ConfigError):
            parse_grid(bad)


@pytest.fixture(scope="module")
def comparison(tmp_path_factory: pytest.TempPathFactory) -> Comparison:
    """2 x 2 configurations x 2 seeds on digits, in 2 worker processes."""
    out = tmp_path_factory.mktemp("cmp")
    base = quick(out, data__limit=400, model__hidden=[16])
    seen: list[tuple[int, int]] = []
    comp = trainlab.compare(
        ["model.act=relu,tanh", "optim.lr=0.01,0.003"],
        base,
        seeds=2,
        workers=2,
        out_dir=out,
        on_result=lambda done, total, m: seen.append((done, total)),
    )
    assert seen == [(i, 8) for i in range(1, 9)]
    return comp


def test_compare_runs_every_combination_and_seed(comparison: Comparison) -> None:
    comp = comparison
    assert comp.workers == 2 and comp.keys == ["model.act", "optim.lr"]
    assert all(m.run is not None and m.run.summary["status"] == "completed" for m in comp.members)
    combos = {(m.run.config.model.act, m.run.config.optim.lr, m.run.config.seed) for m in comp.members}
    assert combos == {(a, lr, s) for a in ("relu", "tanh") for lr in (0.01, 0.003) for s in (0, 1)}
    assert all(m.run.config.threads == 1 and m.run.path.parent == comp.path for m in comp.members)
    rows = comp.rows()
    assert [r["config"] for r in rows] == [
        "act=relu lr=0.01",
        "act=relu lr=0.003",
        "act=tanh lr=0.01",
        "act=tanh lr=0.003",
    ]
    for row in rows:
        accs = [m.run.test_accuracy for m in comp.members if m.label == row["config"]]
        assert row["runs"] == 2 and row["test_accuracy"] == pytest.approx(
            (statistics.fmean(accs), statistics.stdev(accs))
        )
    table = format_table(comp)
    assert "act=tanh lr=0.003" in table and "±" in table and "mean ± std over 2 seeds" in table


def test_compare_report_and_json(comparison: Comparison, capsys: pytest.CaptureFixture[str]) -> None:
    page = (comparison.path / "compare.html").read_text()
    # overlaid curves (one image per metric: val accuracy, val loss, train accuracy), test accuracy and loss bars
    assert page.count("<img ") == 3 + 2
    assert page.split('<div class="curves">', 1)[1].split("</div>", 1)[0].count("<img ") == 3
    for label in ("act=relu lr=0.01", "act=tanh lr=0.003"):
        assert label in page
    assert page.count('report.html"') == 8  # a link to every run's own report
    data = json.loads((comparison.path / "compare.json").read_text())
    assert len(data["members"]) == 8 and data["seeds"] == 2
    again = load_comparison(comparison.path)
    assert again.rows() == comparison.rows()
    assert main(["show", str(comparison.path)]) == 0 and "act=tanh lr=0.003" in capsys.readouterr().out


@pytest.mark.skipif(
    find_chromium() is None,
    reason="Chromium is not installed (Debian: apt-get install chromium; `make test` installs it when root)",
)
def test_compare_report_renders_in_headless_chromium(comparison: Comparison, tmp_path: Path) -> None:
    browser = Browser(find_chromium())
    try:
        page = browser.open(comparison.path / "compare.html")
        assert page.eval("[...document.images].filter(i => i.complete && i.naturalWidth > 0).length") == 3 + 2
        assert page.errors() == []
        assert page.screenshot(tmp_path / "compare.png").stat().st_size > 20_000
    finally:
        browser.close()


def test_compare_existing_runs_groups_by_what_differs(
    comparison: Comparison, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = [m.run.path for m in comparison.members if m.label.startswith("act=relu")]
    comp = compare_runs(paths, tmp_path, report=False)
    assert comp.keys == ["optim.lr"]  # act is the same for all four; seeds group together
    assert [(r["config"], r["runs"]) for r in comp.rows()] == [("lr=0.01", 2), ("lr=0.003", 2)]
    assert main(["compare", *map(str, paths[1:3]), "--out", str(tmp_path), "--no-report"]) == 0
    out = capsys.readouterr().out
    assert "lr=0.01" in out and "lr=0.003" in out
    same = compare_runs(paths[:2], tmp_path, report=False)  # two seeds of one config: one group
    assert [(r["config"], r["runs"]) for r in same.rows()] == [("same config", 2)]


def test_compare_validates_before_training(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "model.act=relu,nosuch", "--out", str(tmp_path)]) == 2
    assert "nosuch" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing was created
    assert main(["compare", "model.act=relu,tanh", str(tmp_path)]) == 2  # grid and runs mixed


def test_compare_in_process_shares_data_without_changing_results(tmp_path: Path) -> None:
    base = quick(tmp_path, data__limit=200, train__epochs=1, threads=1, output__report=False)
    comp = trainlab.compare({"model.hidden": [[8], [8, 8]]}, base, workers=1, out_dir=tmp_path, report=False)
    assert [m.run.config.model.hidden for m in comp.members] == [[8], [8, 8]]
    assert not (comp.path / "compare.html").exists()
    # the second run reused the first one's data set; a run loading its own gives the same numbers
    alone = trainlab.train(
        quick(tmp_path, data__limit=200, train__epochs=1, threads=1, output__report=False, model__hidden=[8, 8])
    )
    assert comp.members[1].run.summary["test_loss"] == alone.summary["test_loss"]


def test_rows_count_diverged_and_failed_runs(tmp_path: Path) -> None:
    def member(label: str, seed: int, status: str | None, acc: float = 0.5) -> Member:
        run = (
            None
            if status is None
            else Run(tmp_path / f"{label}{seed}", Config(), {"status": status, "test_accuracy": acc})
        )
        return Member(label, {}, seed, run=run, error="boom" if status is None else "")

    comp = Comparison(
        tmp_path,
        ["optim.lr"],
        [
            member("a", 0, "completed", 0.8),
            member("a", 1, "diverged", 0.1),
            member("b", 0, None),
            member("b", 1, "completed", 0.6),
        ],
    )
    a, b = comp.rows()
    assert (a["failed"], a["error"], a["test_accuracy"][0]) == (1, "diverged", pytest.approx(0.45))
    assert (b["failed"], b["error"], b["test_accuracy"]) == (1, "boom", (0.6, 0.0))
    assert "(1 failed: diverged)" in format_table(comp)


def test_compare_options_object_keywords_and_one_line_errors(tmp_path: Path) -> None:
    from trainlab.comparisons import CompareOptions

    with pytest.raises(ConfigError) as err:
        trainlab.compare(["model.act=relu,tanh"], None, seed=2, out_dir=tmp_path)
    assert "'seed'" in str(err.value) and "did you mean 'seeds'" in str(err.value) and "\n" not in str(err.value)
    for bad, words in (
        ({"seeds": 0}, "seeds=0 must be >= 1"),
        ({"workers": -1}, "workers=-1 must be >= 0"),
        ({"progress": "yes"}, "use True, False or 'auto'"),
        ({"report": 1}, "report=1 must be True or False"),
    ):
        with pytest.raises(ConfigError, match=words):
            CompareOptions(**bad)
    assert not any(tmp_path.iterdir())  # nothing was created
    base = quick(tmp_path, data__limit=200, train__epochs=1, threads=1, output__report=False)
    options = CompareOptions(workers=1, out_dir=tmp_path, report=False, progress=False)
    comp = trainlab.compare({"optim.lr": [0.01, 0.003]}, base, options=options, stack=False)  # a keyword on top
    assert comp.workers == 1 and comp.plan == "one by one (stacking off)" and len(comp.members) == 2
    assert all(m.run is not None and m.run.summary["status"] == "completed" for m in comp.members)
    assert not (comp.path / "compare.html").exists() and options.stack  # the object itself is unchanged
