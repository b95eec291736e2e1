"""Progress by argument: the CLI's lines in a script, a status line and live curves in a notebook, or nothing."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest

import trainlab
from tests.conftest import quick
from trainlab.errors import ConfigError
from trainlab.lessons import run_lesson
from trainlab.report import plots
from trainlab.runner import progress_callbacks
from trainlab.training.callbacks import NotebookProgress, Progress
from trainlab.training.callbacks.notebook import Lines, in_notebook


class Handle:
    """A stand-in for IPython's DisplayHandle: remembers what it showed last."""

    def __init__(self, data: dict[str, str]):
        self.data, self.updates = data, 0

    def update(self, data: dict[str, str], raw: bool = False) -> None:
        self.data, self.updates = data, self.updates + 1


@pytest.fixture
def notebook(monkeypatch: pytest.MonkeyPatch) -> list[Handle]:
    """Pretend to be inside a Jupyter kernel; returns the display handles made."""
    shown: list[Handle] = []
    shell = type("ZMQInteractiveShell", (), {})()
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: shell  # type: ignore[attr-defined]
    ipython.version_info = (9, 0, 0)  # type: ignore[attr-defined]  # matplotlib reads it when IPython is loaded
    display = types.ModuleType("IPython.display")

    def show(data: dict[str, str], raw: bool = False, display_id: bool = False) -> Handle:
        assert raw and display_id
        shown.append(Handle(data))
        return shown[-1]

    display.display = show  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", display)
    return shown


def test_progress_argument_picks_the_display() -> None:
    assert not in_notebook()
    assert [type(c) for c in progress_callbacks("auto")] == [Progress]
    assert [type(c) for c in progress_callbacks(True)] == [Progress]
    assert progress_callbacks(False) == []
    assert progress_callbacks("auto", [Progress()]) == []  # the CLI brings its own
    with pytest.raises(ConfigError, match="progress='yes'"):
        progress_callbacks("yes")


def test_train_prints_epochs_by_default_and_nothing_when_off(
    runs_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trainlab.train(quick(runs_dir))
    out = capsys.readouterr().out
    assert "epoch 1/2" in out and "epoch 2/2" in out
    trainlab.train(quick(runs_dir), progress=False)
    assert capsys.readouterr().out == ""


def test_notebook_shows_status_and_curves(
    runs_dir: Path, notebook: list[Handle], capsys: pytest.CaptureFixture[str]
) -> None:
    assert in_notebook()
    assert [type(c) for c in progress_callbacks("auto")] == [NotebookProgress]
    run = trainlab.train(quick(runs_dir, train__epochs=3))
    assert capsys.readouterr().out == ""  # nothing printed: all of it is in display outputs
    status, figure = notebook
    assert "epoch 3/3" in status.data["text/plain"] and run.summary["header"] in status.data["text/plain"]
    assert figure.data["image/png"] and figure.data["text/plain"] == "<learning curves, 3 epochs>"


def test_notebook_figure_is_redrawn_at_most_every_redraw_seconds(runs_dir: Path, notebook: list[Handle]) -> None:
    drawn: list[int] = []

    def curves(history: list[dict[str, float]]) -> Any:
        drawn.append(len(history))
        return plots.learning_curves(history)

    trainlab.train(quick(runs_dir, train__epochs=4), callbacks=[NotebookProgress(curves, redraw=3600)])
    assert drawn == [1, 4]  # after the first epoch, then only the final figure


def test_lines_print_on_a_console_and_grow_in_a_notebook(
    capsys: pytest.CaptureFixture[str], notebook: list[Handle]
) -> None:
    console = Lines(notebook=False)
    console.add("[1/2] a")
    assert capsys.readouterr().out == "[1/2] a\n"
    lines = Lines()
    lines.add("[1/2] a")
    lines.add("[2/2] b")
    assert len(notebook) == 1 and notebook[0].data["text/plain"] == "[1/2] a\n[2/2] b"


def test_compare_progress_lines(runs_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trainlab.compare({"model.act": ["relu", "tanh"]}, quick(runs_dir, train__epochs=1), workers=1, report=False)
    out = capsys.readouterr().out.splitlines()
    assert [ln.split(":")[0] for ln in out] == ["[1/2] act=relu seed 0", "[2/2] act=tanh seed 0"]
    trainlab.compare({"model.act": ["relu"]}, quick(runs_dir, train__epochs=1), workers=1, report=False, progress=False)
    assert capsys.readouterr().out == ""


def test_baselines_and_lessons_show_a_line_each_unless_silenced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Outside a notebook, baselines print a line per fitted baseline and lessons one per experiment."""
    trainlab.baselines(
        ["gaussian_nb", "knn(k=3)"], {"data": {"name": "digits"}, "output": {"dir": str(tmp_path)}}, isolate=False
    )
    out = capsys.readouterr().out
    assert "[1/2] gaussian_nb: test accuracy" in out and "[2/2] knn(k=3): test accuracy" in out
    trainlab.baselines(
        "gaussian_nb", {"data": {"name": "digits"}, "output": {"dir": str(tmp_path)}}, isolate=False, progress=False
    )
    assert capsys.readouterr().out == ""
    run_lesson("nonlinearity", quick=True, out_dir=tmp_path / "lesson")
    assert capsys.readouterr().out.count("epochs") >= 2  # one line per trained experiment
