"""``trainlab reproduce``: verdicts against the tolerance and the spread, quick labels on every line,
the page through the engine, and reuse of completed runs (an interrupted reproduction continues)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import requires_fashion
from trainlab.cli import main
from trainlab.errors import ConfigError
from trainlab.report import pages
from trainlab.reproductions import TABLES, Context, Reproduction, Row, page_context, reproduce


def test_verdicts_use_the_tolerance_or_twice_the_spread() -> None:
    assert Row("a", 0.90, [0.89], 0.015).verdict == "matches"
    assert Row("b", 0.90, [0.85], 0.015).verdict == "differs"
    wide = Row("c", 0.90, [0.80, 0.90, 0.85], 0.015)  # std 0.05: allowed 0.10
    assert wide.allowed == pytest.approx(0.1) and wide.verdict == "matches"
    assert Row("d", None, [0.5]).verdict == "ours only" and Row("e", 0.5).verdict == "not run"


def test_quick_is_on_every_line_and_the_page_escapes() -> None:
    rep = Reproduction(
        "t",
        "<b>T</b>",
        "src",
        "test accuracy",
        True,
        "quick: 10 examples",
        [Row("<script>x</script>", 0.5, [0.52], 0.05, ["run-1"]), Row("m2", 0.7, [0.6], 0.05)],
    )
    lines = rep.lines()
    assert (
        all("[quick]" in line for line in lines[1:])
        and "matches" in lines[1]
        and "differs" in lines[2]
        and "-0.100" in lines[2]
    )
    html = pages.render("reproduce.html", **page_context(rep))
    assert "<script>x" not in html and "&lt;script&gt;" in html and "quick" in html and "&lt;b&gt;T" in html


def test_list_and_unknown_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert {"fashion-table3", "mnist1d", "cs231n-init", "seed-recipe"} <= set(TABLES.names())
    assert main(["reproduce", "list"]) == 0
    assert "fashion-table3" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="fashion-table3"):
        reproduce("fashion-table", out_dir="/nonexistent")
    assert main(["reproduce", "fashion_table3"]) == 2
    assert "fashion-table3" in capsys.readouterr().err


def test_completed_runs_are_reused(tmp_path: Path) -> None:
    ctx = Context(tmp_path / "r", threads=1)
    data = ["data.name=digits", "data.limit=300"]
    first = ctx.fit_baselines(["gaussian_nb"], data)
    again = ctx.fit_baselines(["gaussian_nb", "knn"], data)
    assert again[0].path == first[0].path and again[1].path != first[0].path
    net = {"data.name": "digits", "data.limit": 300, "model.hidden": [16], "train.epochs": 1, "train.checkpoint": False}
    assert ctx.train(net, "mlp").path == ctx.train(net, "mlp").path


@pytest.mark.slow
@requires_fashion
def test_babysitting_measures_the_lectures_four_numbers(tmp_path: Path) -> None:
    """`reproduce babysitting --quick`: the doctor's initial loss, overfit and update ratio, and an epoch at lr 1e-6."""
    result = reproduce("babysitting", quick=True, out_dir=tmp_path, threads=1)
    assert len(result.rows) == 4 and all(r.verdict in ("matches", "differs") for r in result.rows)
    first = result.rows[0]
    assert first.theirs == pytest.approx(2.302585, abs=1e-5) and first.mean is not None and first.mean > 0
    assert result.rows[1].mean == 1.0  # 20 examples overfit by the recipe's MLP
    assert result.rows[3].holds is not None and "->" in result.rows[3].measured
    assert (tmp_path / "reproduce" / "babysitting-quick" / "reproduce.json").is_file()
