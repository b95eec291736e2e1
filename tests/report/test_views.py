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
    run = trainlab.train(
        {"data": {"name": "xor"}, "train": {"epochs": 1}, "output": {"dir": str(runs_dir), "report": False}},
        progress=False,
    )
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
    for text in (
        "test accuracy",
        "Learning curves",
        "Confusion matrix (test)",
        digits_run.name,
        "data:image/svg+xml;base64,",
    ):
        assert text in card, text


# issue 29: hand-edited run folders and finished baselines met TypeError, IndexError, numpy errors or
# "the run did not finish"; each is now one line that says what is wrong


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("classes", 5, "data.classes=5 is not a list of class names"),
        ("input_shape", "1x8x8", "data.input_shape='1x8x8' is not a list of positive sizes"),
        ("input_shape", [1, 0, 8], "is not a list of positive sizes"),
        ("confusion_matrix", [[1, 0], [0, 1]], "confusion_matrix is not a square table of counts, one row per class"),
    ],
)
def test_hand_edited_summaries_are_refused_in_one_line(tmp_path: Path, field: str, value: object, said: str) -> None:
    import json

    from trainlab.errors import CheckpointError
    from trainlab.runs.rundir import load_run

    run = trainlab.train(quick(tmp_path, train__epochs=1, threads=1, output__report=False), progress=False)
    summary = json.loads((run.path / "summary.json").read_text())
    if field == "confusion_matrix":
        summary["per_class_accuracy"] = {}
        summary[field] = value
    else:
        summary["data"][field] = value
    (run.path / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(CheckpointError, match=said):
        load_run(run.path)


def test_a_finished_baseline_is_not_called_unfinished(tmp_path: Path) -> None:
    from trainlab.classical import baselines
    from trainlab.errors import TrainlabError
    from trainlab.evaluate import evaluate_run

    (run,) = baselines(
        "gaussian_nb", overrides=["data.name=digits", "threads=1", f"output.dir={tmp_path}"], isolate=False
    )
    for draw in (run.weights, run.plot):
        with pytest.raises(TrainlabError) as got:
            draw()
        assert "baseline" in str(got.value) and "did not finish" not in str(got.value)
    with pytest.raises(TrainlabError, match="scikit-learn baseline keeps no network weights") as got:
        evaluate_run(run.path)
    assert "resume" not in str(got.value)
