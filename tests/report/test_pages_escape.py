"""The page engine escapes whatever reaches a page, on every page kind, and every page has one frame.

Hostile text goes into config values, class names, run names, summary fields, a sweep's spec and
trial attributes, and a lesson's title, text, tables and claims; the pages must show it as text.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

import trainlab
from tests.conftest import quick
from tests.report.chromium import Browser, find_chromium
from trainlab.evaluate import build_report
from trainlab.report import pages

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
PAYLOAD = SCRIPT + IMG
# a directory name cannot hold '/', so run names carry the opening tags only
DIR_PAYLOAD = "run<script>alert(1)" + IMG


def assert_escaped(html: str, *escaped: str) -> None:
    """No payload is live markup; each given escaped form is shown as text."""
    assert "<script>alert" not in html and "<script" not in html.lower()
    assert "<img src=x" not in html
    for text in escaped:
        assert text in html, text


ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"
ESCAPED_IMG = "&lt;img src=x onerror=alert(1)&gt;"
ESCAPED_DIR = "run&lt;script&gt;alert(1)" + ESCAPED_IMG


def assert_one_frame(html: str) -> None:
    """The shared frame: doctype, phone viewport, dark theme, and every table in a scrolling box."""
    assert html.startswith("<!doctype html>") and html.count("<!doctype") == 1
    assert '<meta name="viewport" content="width=device-width,initial-scale=1">' in html
    assert "@media (prefers-color-scheme:dark)" in html
    assert html.count("<table") == html.count('<div class="scroll"><table') > 0
    assert not re.search(r"<script|(src|href)=\"https?:", html)  # self-contained, no scripts


def assert_card_frame(html: str) -> None:
    """A notebook output (``_repr_html_``): no document of its own, styles scoped to it, tables in boxes."""
    assert html.startswith('<div class="trainlab">') and not re.search(r"<!doctype|<html|<head|<body", html, re.I)
    assert html.count("<table") == html.count('<div class="scroll"><table') > 0
    assert not re.search(r"<script|(src|href)=\"https?:", html)


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 1-epoch digits run, copied to a directory named with the payload and filled with it."""
    out = tmp_path_factory.mktemp("runs")
    run = trainlab.train(quick(out, model__hidden=[16], train__epochs=1, output__name=PAYLOAD, threads=1))
    path = Path(shutil.copytree(run.path, out / DIR_PAYLOAD))
    summary = json.loads((path / "summary.json").read_text())
    classes = [f"{SCRIPT if i % 2 else IMG}{i}" for i in range(len(summary["data"]["classes"]))]
    summary["data"]["classes"] = classes
    summary["per_class_accuracy"] = dict(zip(classes, summary["per_class_accuracy"].values(), strict=True))
    summary.update(header=PAYLOAD, status=PAYLOAD, stop_reason=PAYLOAD, error=PAYLOAD)
    summary["versions"][PAYLOAD] = PAYLOAD
    (path / "summary.json").write_text(json.dumps(summary))
    return path


def test_run_report_escapes_config_classes_run_name_and_summary(hostile_run: Path) -> None:
    html = build_report(hostile_run).read_text()
    assert_escaped(html, ESCAPED_SCRIPT, ESCAPED_IMG, ESCAPED_DIR)
    assert f"name: {ESCAPED_SCRIPT}{ESCAPED_IMG}" in html  # output.name in the config
    assert f"<h1>{ESCAPED_DIR}</h1>" in html  # the run name
    assert f'<p class="sub">{ESCAPED_SCRIPT}{ESCAPED_IMG}</p>' in html  # the header
    assert f"<td>{ESCAPED_IMG}0</td>" in html and f"<th>{ESCAPED_SCRIPT}1</th>" in html  # class names
    assert "Most confident mistakes" in html  # class names also label the mistakes (true and predicted)
    assert re.search(f'<span class="[tp]">({re.escape(ESCAPED_IMG)}|{re.escape(ESCAPED_SCRIPT)})\\d</span>', html)
    assert_one_frame(html)
    card = trainlab.load_run(hostile_run)._repr_html_()  # the notebook card
    assert_escaped(card, ESCAPED_SCRIPT, ESCAPED_IMG, ESCAPED_DIR)
    assert f"<h1>{ESCAPED_DIR}</h1>" in card and f"<th>{ESCAPED_SCRIPT}1</th>" in card
    assert_card_frame(card)


def test_compare_page_escapes_labels_run_names_and_status(hostile_run: Path, tmp_path: Path) -> None:
    other = Path(shutil.copytree(hostile_run, tmp_path / "plain-run"))
    cfg = yaml.safe_load((other / "config.yaml").read_text())
    # a config value that differs becomes the group's label: one read as text (a catalogue value such as
    # model.act must name an entry, so a hostile one is refused when the config is read)
    cfg["data"]["augment"] = [PAYLOAD]
    (other / "config.yaml").write_text(yaml.safe_dump(cfg))
    comp = trainlab.compare_runs([hostile_run, other], tmp_path / "cmp")
    html = (comp.path / "compare.html").read_text()
    assert_escaped(html, ESCAPED_SCRIPT, ESCAPED_IMG, ESCAPED_DIR)
    assert f"augment=[{ESCAPED_SCRIPT}{ESCAPED_IMG}]" in html  # the label
    assert f"{ESCAPED_DIR}/report.html" in html  # the link to the hostile run's report
    assert_one_frame(html)
    card = comp._repr_html_()
    assert_escaped(card, ESCAPED_SCRIPT, ESCAPED_IMG)
    assert f"augment=[{ESCAPED_SCRIPT}{ESCAPED_IMG}]" in card
    assert_card_frame(card)


def test_sweep_page_escapes_spec_fields_and_trial_attrs(tmp_path: Path) -> None:
    optuna = pytest.importorskip("optuna")
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState, create_trial

    from trainlab.sweeps.api import SweepResult
    from trainlab.sweeps.preset import SweepSpec
    from trainlab.sweeps.report import write_report

    spec = SweepSpec(space={"optim.lr": "loguniform(1e-3,1e-1)"}, sampler=IMG, pruner=SCRIPT)
    dist = {"optim.lr": FloatDistribution(1e-3, 1e-1, log=True)}
    attrs = {
        "run_dirs": [str(tmp_path / DIR_PAYLOAD)],
        "config": {"optim.lr": PAYLOAD},
        "seconds": 1.5,
        "test_accuracy": 0.5,
    }
    study = optuna.create_study(direction="maximize")
    study.add_trial(create_trial(params={"optim.lr": 0.01}, distributions=dist, value=0.9, user_attrs=attrs))
    study.add_trial(
        create_trial(
            params={"optim.lr": 0.05}, distributions=dist, state=TrialState.FAIL, user_attrs={"reason": PAYLOAD}
        )
    )
    result = SweepResult(PAYLOAD, tmp_path, f"sqlite:///{PAYLOAD}", spec, study.get_trials(deepcopy=False))
    page, best = write_report(result, study)
    html = page.read_text()
    assert_escaped(html, ESCAPED_SCRIPT, ESCAPED_IMG)
    assert f"<h1>sweep {ESCAPED_SCRIPT}{ESCAPED_IMG}</h1>" in html
    assert f"sampler {ESCAPED_IMG}" in html and f"pruner {ESCAPED_SCRIPT}" in html
    assert f'<span class="muted">{tmp_path}/{ESCAPED_DIR}</span>' in html  # a run on another machine
    assert f"<td>{ESCAPED_SCRIPT}{ESCAPED_IMG}</td>" in html  # the failed trial's reason
    assert best is None and "data:image/png;base64," in html  # no run dir to copy; the plots inline
    assert_one_frame(html)
    card = result._repr_html_()
    assert_escaped(card, ESCAPED_SCRIPT, ESCAPED_IMG)
    assert f"<h1>sweep {ESCAPED_SCRIPT}{ESCAPED_IMG}</h1>" in card and f"<td>{ESCAPED_SCRIPT}{ESCAPED_IMG}</td>" in card
    assert_card_frame(card)


def test_lesson_page_escapes_title_text_tables_and_claims(tmp_path: Path) -> None:
    from trainlab.lessons.base import Report, new_figure

    r = Report(PAYLOAD, PAYLOAD)
    r.heading(PAYLOAD)
    r.text(f"plain {PAYLOAD}, `code {PAYLOAD}` and *emphasis {IMG}*")
    r.table([PAYLOAD, "value"], [[PAYLOAD, 0.5]])
    r.claim(PAYLOAD, IMG, SCRIPT, True)
    r.claim("a claim that fails", "x > 1", "0", False)
    fig, ax = new_figure()
    ax[0][0].plot([0, 1], [0, 1])
    r.figure(fig, "plot", PAYLOAD)
    paths = r.write(tmp_path)
    html = paths["html"].read_text()
    assert_escaped(html, ESCAPED_SCRIPT, ESCAPED_IMG)
    assert f"<code>code {ESCAPED_SCRIPT}{ESCAPED_IMG}</code>" in html and f"<em>emphasis {ESCAPED_IMG}</em>" in html
    assert f"<h2>{ESCAPED_SCRIPT}{ESCAPED_IMG}</h2>" in html
    assert '<td class="ok">holds</td>' in html and '<td class="bad">does not hold — ' in html  # with its explanation
    assert f"| {PAYLOAD} | 0.5 |" in paths["markdown"].read_text()  # Markdown stays as written
    assert_one_frame(html)
    card = r._repr_html_()
    assert_escaped(card, ESCAPED_SCRIPT, ESCAPED_IMG)
    assert '<td class="ok">holds</td>' in card and "data:image/png;base64," in card
    assert_card_frame(card)


def test_reproduce_page_escapes_methods_notes_and_run_names() -> None:
    from trainlab.reproductions import Reproduction, Row, page_context

    rep = Reproduction(
        "t",
        PAYLOAD,
        PAYLOAD,
        "test accuracy",
        True,
        PAYLOAD,
        [Row(PAYLOAD, 0.5, [0.5], 0.01, [DIR_PAYLOAD], PAYLOAD)],
        [PAYLOAD],
    )
    html = pages.render("reproduce.html", **page_context(rep))
    assert_escaped(html, ESCAPED_SCRIPT, ESCAPED_IMG, ESCAPED_DIR)
    assert_one_frame(html)


def test_lessons_index_escapes_names_help_claims_and_errors(tmp_path: Path) -> None:
    from trainlab.lessons.base import Report
    from trainlab.lessons.page import write_index

    r = Report(PAYLOAD, PAYLOAD)
    r.claim(PAYLOAD, IMG, SCRIPT, False)
    r.claim("holds", "1 > 0", "1", True)
    entries = [
        {"name": PAYLOAD, "help": PAYLOAD, "href": "x/report.html", "report": r},
        {"name": "missing", "help": IMG, "href": "missing/report.html", "error": PAYLOAD},
    ]
    html = write_index(tmp_path / "index.html", entries, False, [PAYLOAD], 1.0).read_text()
    assert_escaped(html, ESCAPED_SCRIPT, ESCAPED_IMG)
    assert '<a href="x/report.html">' in html and '<td class="num bad">1 of 2</td>' in html
    assert f"did not run: {ESCAPED_SCRIPT}" in html
    assert_one_frame(html)


def test_autoescape_is_on_for_every_template() -> None:
    env = pages.environment()
    assert env.autoescape is True and env is pages.environment()  # one engine, created once
    assert env.from_string("{{ x }}").render(x="<b>") == "&lt;b&gt;"
    assert "<title>&lt;b&gt;</title>" in pages.render("base.html", title="<b>")
    assert str(pages.inline("<b>`a<i>`</b> *x*")) == "&lt;b&gt;<code>a&lt;i&gt;</code>&lt;/b&gt; <em>x</em>"


def test_a_missing_context_key_fails_instead_of_rendering_nothing() -> None:
    import jinja2

    with pytest.raises(jinja2.UndefinedError):
        pages.render("base.html")


def test_image_uri_is_the_one_way_to_inline_images() -> None:
    import base64

    import numpy as np

    from trainlab.report.plots import figure

    png = pages.image_uri(np.zeros((4, 4), dtype=np.uint8))
    assert png.startswith("data:image/png;base64,")
    assert base64.b64decode(png.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert pages.image_uri(b"<svg/>", "svg") == "data:image/svg+xml;base64," + base64.b64encode(b"<svg/>").decode()
    fig = figure(1, 1)
    fig.add_subplot(1, 1, 1).plot([0, 1])
    svg = pages.image_uri(fig, "svg")
    assert svg.startswith("data:image/svg+xml;base64,") and svg == pages.image_uri(fig, "svg")  # reproducible bytes
    with pytest.raises(ValueError):
        pages.image_uri(b"", "gif")


@pytest.mark.skipif(
    find_chromium() is None,
    reason="Chromium is not installed (Debian: apt-get install chromium; `make test` installs it when root)",
)
def test_pages_fit_a_phone_and_follow_the_dark_theme(hostile_run: Path, tmp_path: Path) -> None:
    from trainlab.lessons.base import Report

    r = Report("wide", "a table wider than a phone")
    r.table([f"layer {i} std" for i in range(14)], [[0.123456 * i for i in range(14)]])
    lesson = r.write(tmp_path)["html"]
    browser = Browser(find_chromium())
    try:
        for path in (hostile_run / "report.html", lesson):
            page = browser.open(path, width=375, height=800, dark=True)
            assert page.eval("document.body.scrollWidth <= window.innerWidth"), (
                path
            )  # the page itself never scrolls sideways
            boxes = page.eval("[...document.querySelectorAll('.scroll')].map(b => b.scrollWidth > b.clientWidth)")
            assert boxes and any(boxes)  # a wide table scrolls inside its own box
            assert page.eval("getComputedStyle(document.body).backgroundColor") == "rgb(13, 17, 23)"
            assert page.errors() == []
        light = browser.open(lesson, width=1400)
        assert light.eval("getComputedStyle(document.body).backgroundColor") == "rgb(255, 255, 255)"
        assert light.eval(
            "[...document.querySelectorAll('.scroll')].every(b => b.scrollWidth <= b.clientWidth)"
        )  # wide screen: no scrolling
    finally:
        browser.close()
