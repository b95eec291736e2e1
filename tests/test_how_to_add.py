"""docs/architecture.md's "How to add", done once each the documented way: an optimizer, a data set,
a step engine, a lesson, a run kind and a page (the activation and the loss: tests/test_catalogue_facts.py)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import trainlab
from trainlab import build
from trainlab.config import Config
from trainlab.data.dataset import RawData
from trainlab.data.sources import DATASETS
from trainlab.lessons import LESSONS, lesson_names, run_lesson
from trainlab.lessons.base import LessonContext, Report
from trainlab.report.pages import environment
from trainlab.runs.rundir import list_runs, load_run
from trainlab.runs.summary import Summary
from trainlab.session import RunSession, now
from trainlab.training.engines import Single
from trainlab.training.optim import OPTIMIZERS


def _cfg(runs: Path, **dotted: Any) -> Config:
    """A quick digits run, one thread, no report."""
    base = {
        "data": {"name": "digits", "val": 0},
        "model": {"hidden": [16]},
        "optim": {"batch_size": 128},
        "train": {"epochs": 1},
        "threads": 1,
        "output": {"dir": str(runs), "report": False},
    }
    return Config.from_dict(base).replace(**dotted)


def test_an_optimizer_registered_with_its_facts_trains(tmp_path: Path) -> None:
    with OPTIMIZERS.temporary():

        @OPTIMIZERS.register("toy_sign", "sign SGD: steps of lr * sign(gradient)", states=0)
        def toy_sign(params: Any, lr: float, weight_decay: float) -> torch.optim.Optimizer:
            """SGD on the gradient's sign (torch's SGD after a gradient hook would do too; this is a toy)."""

            class SignSGD(torch.optim.Optimizer):
                def step(self, closure: Any = None) -> None:
                    for group in self.param_groups:
                        for p in group["params"]:
                            if p.grad is not None:
                                p.data.add_(p.grad.sign(), alpha=-group["lr"])

            return SignSGD(params, {"lr": lr})

        assert OPTIMIZERS.fact("toy_sign", "stackable") is False  # the registry's documented default
        run = trainlab.train(_cfg(tmp_path, **{"optim.name": "toy_sign", "optim.lr": 0.01}), progress=False)
    assert run.summary["status"] == "completed" and run.summary["test_accuracy"] > 0.5
    assert "toy_sign" not in OPTIMIZERS


def test_a_data_set_registered_as_a_rawdata_factory_trains(tmp_path: Path) -> None:
    with DATASETS.temporary():

        @DATASETS.register("toy_halves", "2-D points, class = which half of the plane (x0 > 0)")
        def toy_halves(data_dir: str | None = None, size: int = 400) -> RawData:
            """Uniform points in [-1, 1]^2; the class is the sign of the first coordinate."""
            rng = np.random.default_rng(0)
            x = rng.uniform(-1, 1, (size + 200, 2)).astype(np.float32)
            y = (x[:, 0] > 0).astype(np.int64)
            return RawData(x[:size], y[:size], x[size:], y[size:], ["left", "right"], "classification", (2,))

        run = trainlab.train(
            _cfg(
                tmp_path,
                **{"data.name": "toy_halves(size=300)", "train.epochs": 20, "optim.lr": 0.05, "optim.batch_size": 32},
            ),
            progress=False,
        )
    assert run.summary["data"]["classes"] == ["left", "right"] and run.summary["test_accuracy"] > 0.9


def test_a_step_engine_returned_by_engine_for_runs_every_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Counting(Single):
        """The single step, counting the batches it trains (a toy engine: subclass Single, override a part)."""

        name = "counting"

        def __init__(self) -> None:
            self.batches = 0

        def shard(self, idx: torch.Tensor) -> tuple[torch.Tensor, float]:
            self.batches += 1
            return super().shard(idx)

    engine = Counting()
    plain = trainlab.train(_cfg(tmp_path / "plain"), progress=False)
    monkeypatch.setattr(build, "engine_for", lambda s, callbacks=(): engine)  # "return it from build.engine_for"
    counted = trainlab.train(_cfg(tmp_path / "counted"), progress=False)
    assert engine.batches == counted.summary["steps"] == math.ceil(1437 / 128)
    assert counted.summary["test_accuracy"] == plain.summary["test_accuracy"]  # the same step, the same numbers


def test_a_lesson_registered_and_run_writes_its_report(tmp_path: Path) -> None:
    # the lesson modules register themselves when first imported: load them before the temporary block,
    # so that restoring the registry afterwards keeps them (they would not register again)
    lesson_names()
    with LESSONS.temporary():

        @LESSONS.register("toy-depth", "a toy lesson: one claim from two trained configs")
        def toy(ctx: LessonContext) -> Report:
            """Two widths, one claim with a computed verdict."""
            r = Report("toy-depth", "a wider hidden layer fits digits at least as well")
            cfgs = [
                ctx.config(**{"data.name": "digits", "model.hidden": [h], "train.epochs": ctx.pick(1, 3)})
                for h in (4, 64)
            ]
            narrow, wide = (f.evaluate("test")["accuracy"] for f in ctx.fit_many(cfgs, ["4 units", "64 units"]))
            r.claim(
                "64 hidden units beat 4",
                "test accuracy (64) > test accuracy (4)",
                f"{wide:.3f} vs {narrow:.3f}",
                wide > narrow,
            )
            return r

        report, paths = run_lesson("toy-depth", quick=True, out_dir=tmp_path / "lesson", progress=False)
    assert len(report.claims) == 1 and Path(paths["html"]).is_file()
    assert "toy-depth" not in LESSONS


def test_a_run_kind_through_the_run_session_is_an_ordinary_run(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    with RunSession.create(tmp_path, "majority-digits") as session:  # a toy run kind: the majority class
        session.begin(Summary(started=now(), header="majority class | data digits"), config=cfg)
        assert (session.run_dir / "run.pid").is_file()  # claimed while it works
        session.finish("completed", test_accuracy=0.1, epochs=0)
    run = load_run(session.run_dir)
    assert run.summary["status"] == "completed" and run.summary["test_accuracy"] == 0.1
    assert not (session.run_dir / "run.pid").exists()
    assert [r.name for r in list_runs(tmp_path)] == [session.run_dir.name]  # `trainlab runs` lists it


def test_a_page_extending_base_html_escapes_what_it_shows() -> None:
    page = (
        environment()
        .from_string('{% extends "base.html" %}{% block body %}<h1>{{ heading }}</h1>{% endblock %}')
        .render(title="toy", heading="<script>alert(1)</script>")
    )
    assert "<!doctype html>" in page.lower() and "&lt;script&gt;" in page and "<script>alert" not in page
