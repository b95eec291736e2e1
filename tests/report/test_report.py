"""report.html per run: contents, rebuild from the run directory, and a real render in headless Chromium."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import trainlab
from tests.conftest import quick
from tests.report.chromium import Browser, find_chromium
from trainlab.cli import main
from trainlab.evaluate import build_report
from trainlab.report.evidence import EVIDENCE, MAX_MISTAKES, Evidence

CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (Debian: apt-get install chromium; `make test` installs it when root)",
)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> trainlab.Run:
    """One small finished run on 8x8 digits, shared by this module's tests (they only read it)."""
    return trainlab.train(quick(tmp_path_factory.mktemp("runs"), threads=1))


def test_each_run_writes_a_self_contained_report(digits_run: trainlab.Run) -> None:
    page = (digits_run.path / "report.html").read_text()
    for heading in (
        "Learning curves",
        "Confusion matrix",
        "Per-class accuracy",
        "Most confident mistakes",
        "First-layer weights",
        "Data and model",
        "Timings and versions",
        "Config",
    ):
        assert heading in page, heading
    assert "Decision boundary" not in page  # images are not 2-D points
    assert (
        "Per-class accuracy (recall) and precision (test)" in page
        and 'class="bar prec"' in page
        and "balanced accuracy" in page
    )
    # self-contained: every image is inline, nothing is fetched
    assert re.findall(r"<img src=\"(?!data:)", page) == []
    assert not re.search(r"(src|href)=['\"]https?:", page)
    assert isinstance(digits_run.summary["report_seconds"], float)
    ev = Evidence.load(digits_run.path / EVIDENCE)
    wrong = ev.y_true != ev.y_pred
    assert len(ev.mistakes) == min(MAX_MISTAKES, int(wrong.sum()))
    assert (ev.y_true[ev.mistakes] != ev.y_pred[ev.mistakes]).all()
    assert (np.diff(ev.confidence[ev.mistakes]) <= 0).all()  # most confident first
    # the saved predictions agree with the run's own test accuracy
    assert (~wrong).mean() == pytest.approx(digits_run.test_accuracy)
    assert ev.first_layer == "fc1.weight"


def test_report_rebuilds_from_the_run_directory(digits_run: trainlab.Run, tmp_path: Path) -> None:
    copy = shutil.copytree(digits_run.path, tmp_path / digits_run.name)
    (copy / "report.html").unlink()
    (copy / EVIDENCE).unlink()
    assert main(["report", str(copy)]) == 0  # no report.npz: recomputed from config + weights + data
    before, after = Evidence.load(digits_run.path / EVIDENCE), Evidence.load(copy / EVIDENCE)
    np.testing.assert_array_equal(before.y_pred, after.y_pred)
    np.testing.assert_array_equal(before.mistakes, after.mistakes)
    assert "Most confident mistakes" in (copy / "report.html").read_text()


@needs_chromium
def test_report_renders_in_headless_chromium(digits_run: trainlab.Run, tmp_path: Path) -> None:
    browser = Browser(CHROMIUM)
    try:
        for scheme in ("light", "dark"):
            page = browser.open(digits_run.path / "report.html", dark=scheme == "dark")
            images = page.eval("[...document.images].map(i => ({ok: i.complete && i.naturalWidth > 0, alt: i.alt}))")
            assert len(images) >= 3 + 1  # curves, weights and the mistakes (one image each)
            assert [i["alt"] for i in images if not i["ok"]] == []
            assert page.errors() == []
            assert page.eval("document.body.scrollWidth <= window.innerWidth")  # no horizontal overflow at 1200 px
            shot = page.screenshot(tmp_path / f"report-{scheme}.png")
            assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    finally:
        browser.close()


def test_two_d_data_gets_a_decision_boundary(runs_dir: Path) -> None:
    run = trainlab.train(
        quick(runs_dir, data__name="moons(size=300)", data__preprocess="standardize", model__hidden=[16], threads=1)
    )
    ev = Evidence.load(run.path / EVIDENCE)
    assert ev.boundary["cls"].shape == ev.boundary["conf"].shape
    assert set(np.unique(ev.boundary["cls"])) <= {0, 1}
    page = (run.path / "report.html").read_text()
    assert "Decision boundary" in page and "First-layer weights" not in page


def test_regression_report_shows_predictions_and_the_fitted_curve(runs_dir: Path) -> None:
    run = trainlab.train(quick(runs_dir, data__name="sine(size=200)", model__hidden=[16], loss__name="mse", threads=1))
    ev = Evidence.load(run.path / EVIDENCE)
    assert ev.y_true.dtype == np.float32 and ev.y_pred.shape == ev.y_true.shape == ev.x_1d.shape
    page = (run.path / "report.html").read_text()
    assert "Predictions" in page and "Confusion matrix" not in page


def test_report_can_be_turned_off(runs_dir: Path) -> None:
    run = trainlab.train(quick(runs_dir, output__report=False, train__epochs=1, threads=1))
    assert not (run.path / "report.html").exists() and "report_seconds" not in run.summary
    path = build_report(run.path)  # and built later on demand
    assert path.is_file() and (run.path / EVIDENCE).is_file()


def test_report_of_a_run_without_weights_shows_what_it_has(digits_run: trainlab.Run, tmp_path: Path) -> None:
    copy = shutil.copytree(digits_run.path, tmp_path / digits_run.name)
    for name in ("report.html", EVIDENCE, "model.safetensors"):
        (copy / name).unlink()
    page = build_report(copy).read_text()
    assert "Learning curves" in page and "Config" in page and "Most confident mistakes" not in page
    with pytest.raises(trainlab.TrainlabError):
        build_report(tmp_path)  # not a run directory


def test_show_prints_the_summary(digits_run: trainlab.Run, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(digits_run.path)]) == 0
    out = capsys.readouterr().out
    assert f"test accuracy {digits_run.test_accuracy:.4f}" in out
    assert "per-class accuracy" in out and "confusion matrix" in out
    assert main(["show", str(digits_run.path / "nope")]) == 2


def test_plot_activations_draws_every_elementwise_activation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    from trainlab.report.plots import activations_figure, elementwise

    fig, names = activations_figure()
    assert {"relu", "tanh", "sigmoid", "gelu", "identity"} <= set(names)
    assert "maxout" not in names  # a layer with weights, not a function of one number
    assert not elementwise(torch.nn.Softmax(dim=0), torch.linspace(-1, 1, 9))
    out = tmp_path / "act.svg"
    assert main(["plot", "activations", "--out", str(out)]) == 0
    assert out.read_text().lstrip().startswith("<?xml") and "relu" in capsys.readouterr().out
    assert main(["plot", "activations", "--out", str(tmp_path / "act.txt")]) == 2
