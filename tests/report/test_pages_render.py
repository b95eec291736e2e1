"""Every page kind in headless Chromium at a phone's width (390 px) and a laptop's (1280 px), light and dark.

One page of each kind is built with ordinary content (a run report, a comparison, a sweep, a lesson,
the lessons' index, a reproduction, the notes), opened at both widths in both colour schemes and
saved as a screenshot into the test's tmp folder (``{kind}-{width}-{scheme}.png``; pytest keeps the
last runs' folders). What is asserted is measured in the page: nothing widens the page, learning
curves stack at full width on a phone, wide tables scroll in a box that shows it, links keep to one
line, a config block keeps each key with its values; and lesson figures are transparent PNGs.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
import yaml

import trainlab
from tests.conftest import quick
from tests.report.chromium import Browser, find_chromium
from trainlab.report import pages

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (Debian: apt-get install chromium; `make test` installs it when root)",
)

SIZES = {"phone": (390, 844), "laptop": (1280, 800)}
BACKGROUND = {"light": "rgb(255, 255, 255)", "dark": "rgb(13, 17, 23)"}


def _lesson(out: Path) -> Path:
    """A lesson page with prose, a wide table, a two-panel figure with legends and a suptitle."""
    from trainlab.lessons.base import Report, new_figure

    r = Report("init", "initialization decides whether a deep network trains")
    r.claim("He init keeps the activations' scale through 10 layers", "std ratio in [0.5, 2]", "1.07", True)
    r.claim("zeros init never leaves the start", "accuracy <= 0.2", "0.11", True)
    r.heading("Activations per layer")
    r.text("Each layer of a `model.hidden=[64, 64]` MLP, with *tanh*: the spread at the last layer tells the story.")
    r.table(
        ["init", *(f"layer {i} std" for i in range(1, 11))],
        [[name, *(0.8**i * k for i in range(1, 11))] for k, name in ((1, "kaiming"), (2, "xavier"), (0, "zeros"))],
    )
    fig, axes = new_figure(2, 1, (4.4, 3.2))
    for k, name in enumerate(("kaiming", "xavier", "normal(std=1)")):
        axes[0][0].plot(range(10), [0.9 ** (i * k) for i in range(10)], label=name)
        axes[0][1].plot(range(10), [k + i / 10 for i in range(10)], label=name)
    axes[0][0].set_title("std per layer")
    axes[0][0].legend()
    axes[0][1].legend(fontsize=7)
    fig.suptitle("two panels drawn the way lessons draw them")
    r.figure(fig, "init-std", "Left: the activations' std per layer. Right: something else, with its own legend.")
    return r


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One page of every kind, with realistic content, in one folder."""
    out = tmp_path_factory.mktemp("pages")
    a = trainlab.train(quick(out / "runs", train__epochs=3, threads=1))
    b = trainlab.train(quick(out / "runs", model__hidden=[16], train__epochs=3, threads=1))
    comp = trainlab.compare_runs([a.path, b.path], out / "compare")
    lesson = _lesson(out)
    got = {
        "run": a.path / "report.html",
        "compare": comp.path / "compare.html",
        "lesson": lesson.write(out / "lesson")["html"],
    }
    from trainlab.lessons.page import write_index

    entries = [
        {
            "name": "init",
            "help": "initialization decides whether a deep network trains",
            "href": "lesson/report.html",
            "report": lesson,
        }
    ]
    got["lessons_index"] = write_index(out / "index.html", entries, True, ["threads=1"], 12.3)
    from trainlab.reproductions import Reproduction, Row, page_context

    rep = Reproduction(
        "t",
        "Table 2 of a paper, re-run",
        "Someone et al. (2020), Table 2",
        "test accuracy",
        True,
        "a few epochs",
        [Row("cross-entropy", 0.71, [0.70, 0.72], 0.02, [a.path.name, b.path.name], "lr 0.1")],
        ["a note that is long enough to wrap on a phone"],
    )
    got["reproduce"] = pages.write_page(out / "reproduce.html", "reproduce.html", **page_context(rep))
    from trainlab.lessons.notes import NoteClaim
    from trainlab.lessons.notes import page_context as notes_context

    (out / "notes").mkdir()
    c = NoteClaim(
        "003_init.txt",
        12,
        "He initialization suits ReLU networks",
        "behaviour",
        [{"lesson": "init", "claim": "x"}],
        verdict="holds",
    )
    c.evidence = [
        {
            "lesson": "init",
            "index": 0,
            "claim": "He init keeps the scale",
            "test": "t",
            "measured": "1.07",
            "verdict": "holds",
            "why": "",
        }
    ]
    got["notes"] = pages.write_page(
        out / "notes" / "notes.html",
        "notes.html",
        **notes_context([c], {"init": {"folder": out / "lesson", "reused": True}}, out / "notes", True),
    )
    if _has_optuna():
        got["sweep"] = _sweep(out / "sweep", a.path)
    return got


def _has_optuna() -> bool:
    try:
        import optuna  # noqa: F401  # optional: the sweep page needs it
    except ImportError:
        return False
    return True


def _sweep(out: Path, run_dir: Path) -> Path:
    """A sweep page from three finished trials (one failed) without training them."""
    import optuna
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState, create_trial

    from trainlab.sweeps.api import SweepResult
    from trainlab.sweeps.preset import SweepSpec
    from trainlab.sweeps.report import write_report

    out.mkdir(parents=True)
    spec = SweepSpec(space={"optim.lr": "loguniform(1e-3,1e-1)"})
    dist = {"optim.lr": FloatDistribution(1e-3, 1e-1, log=True)}
    study = optuna.create_study(direction="maximize")
    for lr, value in ((0.01, 0.91), (0.05, 0.93)):
        attrs = {"run_dirs": [str(run_dir)], "config": {"optim.lr": lr}, "seconds": 1.5, "test_accuracy": value - 0.01}
        study.add_trial(create_trial(params={"optim.lr": lr}, distributions=dist, value=value, user_attrs=attrs))
    study.add_trial(
        create_trial(
            params={"optim.lr": 0.09}, distributions=dist, state=TrialState.FAIL, user_attrs={"reason": "diverged"}
        )
    )
    result = SweepResult("lr-search", out, f"sqlite:///{out}/sweep.db", spec, study.get_trials(deepcopy=False))
    return write_report(result, study)[0]


def _png_alpha(uri: str) -> tuple[int, float]:
    """A PNG data URI's corner alpha and the share of its pixels that are opaque near-white."""
    import numpy as np
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGBA"))
    white = (img[..., 3] > 200) & (img[..., :3].min(-1) > 235)
    return int(img[0, 0, 3]), float(white.mean())


def test_lesson_figures_are_transparent_with_grey_text(built: dict[str, Path]) -> None:
    html = built["lesson"].read_text()
    uris = [s.split('"', 1)[0] for s in html.split('src="')[1:]]
    assert uris and all(u.startswith("data:image/png;base64,") for u in uris)
    for uri in uris:
        corner, white = _png_alpha(uri)
        assert corner == 0 and white < 0.001, (corner, white)  # no white background, no white legend box
    png = (built["lesson"].parent / "init-std.png").read_bytes()  # the file beside report.md too
    assert _png_alpha("x," + base64.b64encode(png).decode())[0] == 0


def test_config_block_keeps_each_key_with_its_values(built: dict[str, Path]) -> None:
    html = built["run"].read_text()
    block = html.split('<div class="yaml">', 1)[1].split("</div>", 1)[0]
    text = "\n".join(p.split(">", 1)[1] for p in block.split("</pre>")[:-1])
    cfg = yaml.safe_load(
        text.replace("&#39;", "'").replace("&#34;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    )
    assert cfg == yaml.safe_load((built["run"].parent / "config.yaml").read_text())  # the blocks join to the whole file
    assert block.count("<pre>") == len(cfg)  # one block per top-level key


@pytest.mark.parametrize("size", list(SIZES))
def test_every_page_kind_fits_and_follows_the_theme(built: dict[str, Path], size: str, tmp_path: Path) -> None:
    width, height = SIZES[size]
    browser = Browser(CHROMIUM)
    facts = {}
    try:
        for kind, path in built.items():
            for scheme in ("light", "dark"):
                page = browser.open(path, width=width, height=height, dark=scheme == "dark")
                where = f"{kind} at {width} px, {scheme}"
                assert page.errors() == [], where
                assert page.eval("document.documentElement.clientWidth") == width, (
                    where
                )  # overlay scrollbars, as on a phone
                assert page.eval("getComputedStyle(document.body).backgroundColor") == BACKGROUND[scheme], where
                # nothing widens the page: it never scrolls sideways
                assert page.eval("document.documentElement.scrollWidth") <= width, where
                assert page.eval("[...document.images].every(i => i.complete && i.naturalWidth > 0)"), where
                # a box wider than its content shows the hidden side fading; a box that fits does not fade
                boxes = page.eval(
                    "[...document.querySelectorAll('.scroll')].map(b => [b.scrollWidth > b.clientWidth + 1, "
                    "getComputedStyle(b).getPropertyValue('--fr')])"
                )
                for overflows, fade in boxes:
                    assert fade == ("40px" if overflows else "0px"), (where, overflows, fade)
                facts[kind, scheme] = sum(o for o, _ in boxes)
                # links stay on one line (a table that gets wider scrolls instead)
                assert page.eval(
                    "[...document.querySelectorAll('td a')].every(a => a.getClientRects().length === 1)"
                ), where
                curves = page.eval(
                    "[...document.querySelectorAll('.curves img')].map(i => [i.getBoundingClientRect().width, "
                    "i.getBoundingClientRect().top])"
                )
                if kind in ("run", "compare"):
                    assert len(curves) >= 2, where
                    if size == "phone":  # one per row, at (nearly) the page's width
                        assert all(w >= 0.9 * width for w, _ in curves), (where, curves)
                        assert len({round(t) for _, t in curves}) == len(curves), where
                    else:  # side by side
                        assert len({round(t) for _, t in curves}) == 1, (where, curves)
                if kind == "run":  # each YAML block in one piece: a block split across columns has two boxes
                    assert page.eval(
                        "[...document.querySelectorAll('.yaml pre')].every(p => p.getClientRects().length === 1)"
                    ), where
                    columns = page.eval(
                        "new Set([...document.querySelectorAll('.yaml pre')].map(p => "
                        "Math.round(p.getBoundingClientRect().left))).size"
                    )
                    assert columns == (1 if size == "phone" else 4), where
                shot = page.screenshot(
                    tmp_path / f"{kind}-{width}-{scheme}.png"
                )  # last: a full-page capture resizes the view
                assert shot.stat().st_size > 5_000, where
    finally:
        browser.close()
    print(f"screenshots: {tmp_path}; scrolling boxes per page: {facts}")
    if size == "phone":  # the confusion matrix and the lesson's wide table scroll on a phone
        assert facts["run", "dark"] >= 1 and facts["lesson", "dark"] >= 1
    else:
        assert facts["lesson", "light"] == 0
