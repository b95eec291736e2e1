"""A run draws itself: run.plot(), confusion(), mistakes(), weights() return Figures; runs_table() lists runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.figure import Figure

import trainlab
from tests.conftest import quick
from trainlab.report.views import COLUMNS


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> trainlab.Run:
    return trainlab.train(quick(tmp_path_factory.mktemp("views") / "runs"), progress=False)


def test_figures_of_a_run(digits_run: trainlab.Run) -> None:
    run = trainlab.load_run(digits_run.path)  # from the directory alone
    for fig in (run.plot(), run.confusion(), run.confusion(normalize=True), run.mistakes(n=4), run.weights(units=8)):
        assert isinstance(fig, Figure) and fig.axes
    assert len(run.mistakes(n=4).axes) == 4


def test_figures_need_what_they_draw(runs_dir: Path) -> None:
    run = trainlab.train({"data": {"name": "xor"}, "train": {"epochs": 1}, "output": {"dir": str(runs_dir), "report": False}}, progress=False)
    assert isinstance(run.weights(), Figure)  # not an image: the weight matrix as a heat map
    with pytest.raises(trainlab.TrainlabError, match="image classification"):
        run.mistakes()


def test_runs_table(digits_run: trainlab.Run) -> None:
    table = trainlab.runs_table(digits_run.path.parent)
    rows = table.to_dict("records") if hasattr(table, "to_dict") else table
    assert len(rows) == 1 and set(rows[0]) == set(COLUMNS)
    assert rows[0]["test_accuracy"] == digits_run.test_accuracy and rows[0]["status"] == "completed"
    assert len(trainlab.runs_table(digits_run.path.parent / "none")) == 0


def test_run_card_shows_results_curves_and_confusion(digits_run: trainlab.Run) -> None:
    card = trainlab.load_run(digits_run.path)._repr_html_()
    assert card.startswith('<div class="trainlab">') and "<!doctype" not in card
    for text in ("test accuracy", "Learning curves", "Confusion matrix (test)", digits_run.name, "data:image/svg+xml;base64,"):
        assert text in card, text
