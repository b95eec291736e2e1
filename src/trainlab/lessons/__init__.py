"""Lessons: the classic experiments, run on the learner's machine and judged by measurement.

Each lesson is one module registering a function ``lesson(ctx) -> Report`` in ``LESSONS``.
``run_lesson(name)`` runs it and writes ``report.md`` and ``report.html`` with the claims, the
experiment, a claim | measured | verdict table and plots.
"""

from __future__ import annotations

import importlib
import pkgutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trainlab.errors import TrainlabError
from trainlab.lessons.base import Claim, LessonContext, Report
from trainlab.lessons.page import write_index
from trainlab.registry import Registry
from trainlab.training.callbacks.notebook import Lines, wants_progress

LESSONS = Registry("lesson")

# the order `trainlab lesson list` shows lessons in (a course's order); others follow by name
COURSE = (
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
)


# Claims whose effect a --quick run is too small to show (measured: each of these failed under --quick
# and held, or is judged, in the full lesson; docs/lessons.md). Under --quick a failure of one of them
# is "not judged at this size", with the reason; a quick run where it holds still says "holds".
_SMALL = "the --quick run ({}) is too small to show it; the full lesson (without --quick) judges it"
QUICK_TOO_SMALL: dict[str, dict[str, str]] = {
    "learning-rate": {
        "annealing the rate towards the end": _SMALL.format("a few epochs: SGD noise has not set a floor yet")
    },
    "regularization": {
        k: _SMALL.format(
            "a few epochs: the unregularized network has not memorized its training set, so there is "
            "nothing to regularize"
        )
        for k in (
            "without regularization a big network overfits",
            "each regularizer narrows",
            "it lowers the test loss",
            "L1 drives weights to zero",
            "regularization improves test accuracy",
        )
    },
    "preprocessing": {
        "raw, unscaled inputs break": _SMALL.format("one short epoch: raw inputs have not had the steps to diverge")
    },
    "imbalance": {
        "the long-tailed CIFAR-10 ordering": _SMALL.format(
            "one seed, few epochs: the methods differ by less than the noise"
        )
    },
    "self-supervised": {"": _SMALL.format("a few pretraining epochs: SimCLR's features are not trained yet")},
    "capacity": {
        k: _SMALL.format("few epochs: the wide networks have not fit, let alone memorized, their training set")
        for k in (
            "approximates the curve better as it widens",
            "fits its training set far better",
            "training longer overfits",
            "memorizes even wrong labels",
            "memorizing wrong labels costs",
        )
    },
    "search": {
        "coarse to fine": _SMALL.format("2×2 trials of 3 epochs: the gaps are a few validation examples"),
        "random search beats a grid": _SMALL.format("2×2 trials of 3 epochs: the gaps are a few validation examples"),
    },
    "cnn": {
        k: _SMALL.format("a few hundred images and steps: the CNN has not learned its filters yet")
        for k in ("a CNN classifies images better", "hurts the MLP more than the CNN")
    },
}


def mark_too_small(name: str, report: Report) -> None:
    """Under --quick, a failed claim listed in QUICK_TOO_SMALL becomes "not judged at this size", with its reason."""
    for c in report.claims:
        why = next((w for k, w in QUICK_TOO_SMALL.get(name, {}).items() if k in c.claim), None)
        if why is not None and not c.holds:
            c.judged, c.why = False, why


def _load() -> None:
    """Import every lesson module of this package (each registers itself in LESSONS)."""
    for info in pkgutil.iter_modules(__path__):
        if info.name != "base":
            importlib.import_module(f"{__name__}.{info.name}")


def all_lessons() -> Registry:
    """``LESSONS`` with every lesson module imported (for `trainlab list lessons`)."""
    _load()
    return LESSONS


def lesson_names() -> list[str]:
    """Every lesson's name, in course order."""
    _load()
    order = {m: i for i, m in enumerate(COURSE)}
    return sorted(LESSONS.names(), key=lambda n: order.get(n, len(order)))


def lesson_help(name: str) -> str:
    """A lesson's one-line description."""
    _load()
    return LESSONS.get(name).help


def default_out(name: str, quick: bool = False) -> Path:
    """Where a lesson's report goes without ``--out``: ``lessons-out/NAME`` or ``lessons-out/NAME-quick``."""
    return Path("lessons-out") / (f"{name}-quick" if quick else name)


def run_lesson(
    name: str,
    quick: bool = False,
    overrides: list[str] | None = None,
    out_dir: str | Path | None = None,
    log: Callable[[str], None] | None = None,
    progress: bool | str = "auto",
    stack: bool = True,
) -> tuple[Report, dict[str, Path]]:
    """Run lesson ``name`` and write its report to ``out_dir`` (default ``lessons-out/NAME``, or
    ``lessons-out/NAME-quick`` with ``quick``: a first look never overwrites the full report).
    ``log`` gets a line per experiment; ``progress=True`` (or ``"auto"``) shows those lines without
    a ``log`` (one updating output in a notebook, printed lines elsewhere). ``stack=False`` trains
    every run alone (by default runs that differ only in per-run values train as one stacked model:
    ``LessonContext.fit_many``); the report's first lines say which trained how."""
    _load()
    entry = LESSONS.get(name)  # unknown names fail here with the list of lessons
    if log is None and wants_progress(progress):
        log = Lines().add
    ctx = LessonContext(quick=quick, overrides=overrides, log=log, stack=stack)
    t0 = time.perf_counter()
    report = entry.factory(ctx)
    report.seconds = time.perf_counter() - t0
    report.plan = ctx.plan()
    report.quick = quick
    if quick:
        mark_too_small(name, report)
    report.overrides = list(overrides or [])
    out = Path(out_dir) if out_dir is not None else default_out(name, quick)
    try:
        paths = report.write(out)
    except OSError as exc:
        raise TrainlabError(f"cannot write the report to {str(out)!r}: {exc.strerror or exc}") from None
    return report, paths


def run_all(
    quick: bool = False,
    overrides: list[str] | None = None,
    out_dir: str | Path | None = None,
    log: Callable[[str], None] | None = None,
    stack: bool = True,
) -> tuple[list[dict[str, Any]], Path]:
    """Run every registered lesson in course order (then the rest by name), each into its own folder,
    and write an index page linking them with their verdict counts.

    Without ``out_dir`` reports go where ``run_lesson`` puts them and the index is
    ``lessons-out/index.html`` (``index-quick.html`` with ``quick``); with it, ``out_dir/NAME/`` and
    ``out_dir/index.html``. A lesson that fails with a ``TrainlabError`` (e.g. its data is missing) is
    listed with the message and the others still run.
    """
    root = Path(out_dir) if out_dir is not None else Path("lessons-out")
    entries: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for name in lesson_names():
        folder = root / name if out_dir is not None else default_out(name, quick)
        entry: dict[str, Any] = {
            "name": name,
            "help": lesson_help(name),
            "href": f"{folder.relative_to(root).as_posix()}/report.html",
        }
        if log:
            log(f"lesson {name}")
        try:
            entry["report"], entry["paths"] = run_lesson(
                name, quick=quick, overrides=overrides, out_dir=folder, log=log, stack=stack
            )
        except TrainlabError as exc:
            entry["error"] = str(exc).splitlines()[0]
        entries.append(entry)
    index = root / ("index-quick.html" if quick and out_dir is None else "index.html")
    try:
        root.mkdir(parents=True, exist_ok=True)
        write_index(index, entries, quick, list(overrides or []), time.perf_counter() - t0)
    except OSError as exc:
        raise TrainlabError(f"cannot write the index to {str(index)!r}: {exc.strerror or exc}") from None
    return entries, index


__all__ = [
    "LESSONS",
    "Claim",
    "LessonContext",
    "Report",
    "all_lessons",
    "default_out",
    "lesson_help",
    "lesson_names",
    "run_all",
    "run_lesson",
]
