"""Reading run directories: a damaged summary.json is one line, and one bad run never hides the others (issue 13, B)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import trainlab
from trainlab.cli import main
from trainlab.runs.rundir import list_runs


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = {
        "data": {"name": "xor"},
        "model": {"hidden": [4]},
        "train": {"epochs": 1},
        "threads": 1,
        "output": {"dir": str(tmp_path_factory.mktemp("runs")), "report": False},
    }
    return trainlab.train(cfg, handle_signals=False).path


@pytest.fixture
def runs(finished: Path, tmp_path: Path) -> Path:
    """Three copies of a finished run under one parent: a, b (to be damaged), c."""
    parent = tmp_path / "runs"
    for name in ("20260101-000000-a", "20260101-000001-b", "20260101-000002-c"):
        shutil.copytree(finished, parent / name)
    return parent


SUMMARIES = {
    "a list": "[1, 2]",
    "a string": '"done"',
    "a number": "3.5",
    "null": "null",
    "text fit_seconds": '{"status": "completed", "fit_seconds": "slow"}',
    "text test_accuracy": '{"status": "completed", "test_accuracy": "high"}',
    "per-class strings": '{"per_class_accuracy": {"0": "x"}}',
    "ragged confusion": '{"per_class_accuracy": {"0": 1.0, "1": 0.5}, "confusion_matrix": [[1, 2], [3]]}',
    "5000-digit integer": '{"steps": ' + "9" * 5000 + "}",
    "100000-deep": "[" * 100_000 + "]" * 100_000,
    "not json": "{status: completed",
}


@pytest.mark.parametrize("content", list(SUMMARIES.values()), ids=list(SUMMARIES))
def test_show_and_runs_with_a_damaged_summary(runs: Path, content: str, capsys: pytest.CaptureFixture) -> None:
    bad = runs / "20260101-000001-b"
    (bad / "summary.json").write_text(content)
    assert main(["show", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bad / 'summary.json'}") and err.count("\n") == 1 and len(err) < 300, err
    assert main(["runs", str(runs)]) == 0
    out = capsys.readouterr().out
    assert "20260101-000000-a" in out and "20260101-000002-c" in out  # the others are still listed
    row = next(line for line in out.splitlines() if line.startswith("20260101-000001-b"))
    assert (
        row.split() == ["20260101-000001-b", "-", "-", "unreadable", "-", "-"]
        and f"unreadable: {bad / 'summary.json'}" in out
    )
    unreadable: list = []
    assert [r.name for r in list_runs(runs, unreadable)] == ["20260101-000000-a", "20260101-000002-c"]
    assert [p.name for p, _ in unreadable] == ["20260101-000001-b"]


def test_good_runs_still_show(runs: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["show", str(runs / "20260101-000000-a")]) == 0
    assert "status   completed" in capsys.readouterr().out
    s = json.loads((runs / "20260101-000000-a" / "summary.json").read_text())
    assert isinstance(s["fit_seconds"], float)


def test_report_after_summary_was_removed(runs: Path, capsys: pytest.CaptureFixture) -> None:
    run = runs / "20260101-000000-a"
    (run / "summary.json").unlink()
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: {run}: no summary.json (removed, or the run never started training); "
        "nothing to report - resume or retrain the run\n"
    )


def test_damaged_metrics_csv_is_one_line(runs: Path, capsys: pytest.CaptureFixture) -> None:
    run = runs / "20260101-000000-a"
    (run / "metrics.csv").write_text("epoch,train_loss\n1,abc\n")
    assert main(["show", str(run)]) == 2
    assert "metrics.csv: not a metrics table" in capsys.readouterr().err


@pytest.mark.parametrize(
    "content", ["[]", '"x"', '{"keys": [], "members": [5]}', '{"keys": "a", "members": []}', "[" * 50_000]
)
def test_show_a_damaged_comparison_is_one_line(tmp_path: Path, content: str, capsys: pytest.CaptureFixture) -> None:
    comp = tmp_path / "20260101-000000-compare"
    comp.mkdir()
    (comp / "compare.json").write_text(content)
    assert main(["show", str(comp)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {comp / 'compare.json'}") and err.count("\n") == 1


def test_a_damaged_run_in_a_comparison_is_reported_in_its_row(
    finished: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    comp = tmp_path / "20260101-000000-compare"
    comp.mkdir()
    for name in ("a", "b"):
        shutil.copytree(finished, comp / name)
    (comp / "b" / "summary.json").write_text('{"fit_seconds": "slow"}')
    members = [
        {"label": n, "params": {"model.hidden": [4]}, "seed": 0, "run": n, "error": "", "seconds": 1.0}
        for n in ("a", "b")
    ]
    (comp / "compare.json").write_text(
        json.dumps({"keys": ["model.hidden"], "grid": {}, "seeds": 1, "workers": 1, "seconds": 2.0, "members": members})
    )
    from trainlab.comparisons import load_comparison

    loaded = load_comparison(comp)
    assert loaded.members[0].run is not None and loaded.members[1].run is None
    assert (
        loaded.members[1].error.startswith("unreadable: ")
        and "fit_seconds='slow' is not a number" in loaded.members[1].error
    )
