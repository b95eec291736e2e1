"""What every lesson shares: the run context, claims with computed verdicts, and the report writer.

A lesson is a function ``lesson(ctx) -> Report``. It builds configs with ``ctx.config`` (the user's
overrides applied last), trains them with ``ctx.fit`` (through ``build.build``, the one run builder),
measures, and records each claim with ``report.claim(claim, test, measured, holds)`` where ``holds``
is computed from the measurement against the threshold written in ``test``. The report renders to
Markdown and to a self-contained HTML page (lessons/page.py, through the page engine).
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from trainlab.atomic import atomic_write, write_text
from trainlab.build import Setup, build, default_threads, resolve_device, setup, why_alone
from trainlab.config import Config, apply_overrides, parse_overrides
from trainlab.data.dataset import Dataset
from trainlab.data.memo import DataCache
from trainlab.formatting import sig
from trainlab.lessons.page import card
from trainlab.lessons.page import render as render_page
from trainlab.report import plots
from trainlab.training.loop import Callback, Trainer
from trainlab.training.stacked import StackedEngine, stack_size

HOLDS, FAILS, NOT_JUDGED = "holds", "does not hold", "not judged at this size"


@dataclass
class Claim:
    """A claim as courses state it, the test that judges it, what was measured, and the verdict.

    ``judged`` is False when the run was too small to show the effect the claim is about (a quick run
    that never overfits cannot judge a regularizer): the verdict is then ``not judged at this size``,
    whatever the comparison gave. ``why`` explains a verdict other than ``holds`` (regime, size, what
    the literature found); pages show it beside the verdict."""

    claim: str
    test: str
    measured: str
    holds: bool
    judged: bool = True
    why: str = ""

    @property
    def verdict(self) -> str:
        """``holds``, ``does not hold`` or ``not judged at this size``, computed from the measurement."""
        if not self.judged:
            return NOT_JUDGED
        return HOLDS if self.holds else FAILS

    @property
    def held(self) -> bool:
        """True when the verdict is ``holds`` (judged, and the test passed)."""
        return self.judged and self.holds

    @property
    def failed(self) -> bool:
        """True when the verdict is ``does not hold`` (judged, and the test failed)."""
        return self.judged and not self.holds

    def as_dict(self) -> dict[str, Any]:
        """The claim as plain values (``claims.json`` of a lesson's report folder)."""
        return {
            "claim": self.claim,
            "test": self.test,
            "measured": self.measured,
            "verdict": self.verdict,
            "holds": self.holds,
            "judged": self.judged,
            "why": self.why,
        }


def counts(claims: Iterable[Claim]) -> tuple[int, int, int]:
    """How many claims hold, do not hold, and were not judged at this size."""
    cs = list(claims)
    return sum(c.held for c in cs), sum(c.failed for c in cs), sum(not c.judged for c in cs)


@dataclass
class Figure:
    """A rendered plot: file name, PNG bytes and caption."""

    name: str
    png: bytes
    caption: str


@dataclass
class Report:
    """The lesson's findings: claims, prose, tables and figures, in the order they were added."""

    name: str
    title: str
    claims: list[Claim] = field(default_factory=list)
    blocks: list[tuple[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    quick: bool = False
    overrides: list[str] = field(default_factory=list)
    plan: str = ""  # which runs trained stacked and which one by one (LessonContext.plan)

    def __repr__(self) -> str:
        held = sum(c.held for c in self.claims)
        return f"Report({self.name!r}: {held}/{len(self.claims)} claims hold, {self.seconds:.1f} s)"

    def _repr_html_(self) -> str:
        """Jupyter's rich display: the verdicts and the figures (through the page engine)."""
        return card(self)

    def claim(self, claim: str, test: str, measured: str, holds: bool, *, judged: bool = True, why: str = "") -> Claim:
        """Record a claim; ``holds`` must be computed from the measurement, never written in.

        ``judged=False`` (computed too: e.g. "the quick run did not overfit at all") when the run is too
        small to show the effect; ``why`` explains a failure or a missing verdict on the page. A claim
        that does not hold without a ``why`` gets one naming the size it ran at."""
        c = Claim(claim, test, measured, bool(holds), bool(judged), why)
        self.claims.append(c)
        return c

    def heading(self, text: str) -> None:
        """Start a section."""
        self.blocks.append(("h2", text))

    def text(self, text: str) -> None:
        """A paragraph (inline `code` allowed)."""
        self.blocks.append(("p", text))

    def table(self, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """A table; floats are formatted with ``formatting.sig`` (4 significant digits)."""
        self.blocks.append(("table", (list(columns), [[sig(v) for v in r] for r in rows])))

    def figure(self, fig: Any, name: str, caption: str) -> None:
        """Render a matplotlib Figure to PNG and keep it (inlined in HTML, a file beside the Markdown)."""
        buf = io.BytesIO()
        plots.retheme(fig)  # what the lesson drew in matplotlib's black (legends, suptitles) turns mid-grey
        fig.savefig(buf, format="png", dpi=90, bbox_inches="tight", transparent=True)
        self.blocks.append(("figure", Figure(f"{name}.png", buf.getvalue(), caption)))

    @property
    def figures(self) -> list[Figure]:
        """Every figure, in order."""
        return [b for k, b in self.blocks if k == "figure"]

    # -- rendering ---------------------------------------------------------------
    def explanation(self, c: Claim) -> str:
        """Why a claim did not hold or was not judged: its own ``why``, else the size it ran at."""
        if c.held:
            return ""
        if c.why:
            return c.why
        size = "the `--quick` size (tiny data, few steps)" if self.quick else "the full lesson's size"
        return f"measured at {size}; the test and the measurement are shown: read them before the verdict" + (
            "; the full lesson (without `--quick`) judges it at its intended size" if self.quick else ""
        )

    def verdict_rows(self) -> list[list[str]]:
        """Rows of the verdict table: claim (with its test), measured, verdict (with its explanation)."""
        return [
            [f"{c.claim} — *{c.test}*", c.measured, c.verdict + (f" — {self.explanation(c)}" if not c.held else "")]
            for c in self.claims
        ]

    def to_markdown(self) -> str:
        """The report as Markdown (figures referenced as PNG files beside it)."""
        out = [f"# Lesson `{self.name}`: {self.title}", "", self.meta(), ""]
        out += ["## Verdicts", "", *_md_table(["claim (test)", "measured", "verdict"], self.verdict_rows()), ""]
        for kind, body in self.blocks:
            if kind == "h2":
                out += [f"## {body}", ""]
            elif kind == "p":
                out += [body, ""]
            elif kind == "table":
                out += [*_md_table(*body), ""]
            elif kind == "figure":
                out += [f"![{body.caption}]({body.name})", "", f"*{body.caption}*", ""]
        return "\n".join(out)

    def to_html(self) -> str:
        """The report as one self-contained HTML page (plots inlined)."""
        return render_page(self)

    def meta(self) -> str:
        """One line under the title: how many claims hold, the time taken and how to re-run."""
        held, failed, unjudged = counts(self.claims)
        not_judged = f", {unjudged} not judged at this size" if unjudged else ""
        mode = " (`--quick`: tiny data and few steps, figures are indicative only)" if self.quick else ""
        extra = f"; overrides `{' '.join(self.overrides)}`" if self.overrides else ""
        trained = f" Runs: {self.plan}." if self.plan else ""
        again = f"trainlab lesson {self.name}{' --quick' if self.quick else ''}"
        again += f"{' ' + ' '.join(self.overrides) if self.overrides else ''}"
        return (
            f"{held} of {len(self.claims)} claims hold on this run ({failed} do not{not_judged}); "
            f"measured in {self.seconds:.1f} s{mode}{extra}.{trained} Re-run: `{again}`."
        )

    def to_json(self) -> dict[str, Any]:
        """The lesson's verdicts as plain values (``claims.json``: what ``trainlab notes`` reuses)."""
        return {
            "name": self.name,
            "title": self.title,
            "quick": self.quick,
            "overrides": self.overrides,
            "seconds": round(self.seconds, 2),
            "claims": [{**c.as_dict(), "why": self.explanation(c)} for c in self.claims],
        }

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write report.md, report.html, claims.json and the figures' PNG files into ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for f in self.figures:
            atomic_write(out / f.name, lambda fh, b=f.png: fh.write(b))
        write_text(out / "report.md", self.to_markdown())
        write_text(out / "report.html", self.to_html())
        write_text(out / "claims.json", json.dumps(self.to_json(), indent=1, ensure_ascii=False) + "\n")
        return {"markdown": out / "report.md", "html": out / "report.html", "json": out / "claims.json"}


def _md_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    cell = lambda s: str(s).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    return [
        "| " + " | ".join(map(cell, columns)) + " |",
        "|" + "---|" * len(columns),
        *["| " + " | ".join(map(cell, r)) + " |" for r in rows],
    ]


# -- running experiments -----------------------------------------------------------------------------


class Recorder(Callback):
    """Keeps every step's training loss (as device tensors: no host sync per step) and wall time per epoch."""

    loss_only_batch_end = True  # reads the loss alone: a stacked run sends it every step too

    def __init__(self) -> None:
        self.losses: list[torch.Tensor] = []
        self.epoch_seconds: list[float] = []
        self._t0 = 0.0

    def on_fit_start(self, trainer: Trainer) -> None:
        self._t0 = time.perf_counter()

    def on_batch_end(self, trainer: Trainer) -> None:
        self.losses.append(trainer.last_loss.detach())

    def on_epoch_end(self, trainer: Trainer) -> None:
        self.epoch_seconds.append(time.perf_counter() - self._t0)

    def step_losses(self) -> list[float]:
        """Per-step training losses as floats (one host sync, at the end)."""
        return torch.stack(self.losses).float().cpu().tolist() if self.losses else []


@dataclass
class Fitted:
    """A trained (or stopped) model with its setup, trainer and recorded losses."""

    setup: Setup
    trainer: Trainer
    recorder: Recorder
    error: str = ""

    @property
    def model(self) -> torch.nn.Module:
        """The trained model."""
        return self.setup.model

    @property
    def history(self) -> list[dict[str, float]]:
        """Per-epoch metrics."""
        return self.trainer.history

    def evaluate(self, split: str = "test") -> dict[str, float]:
        """Loss and accuracy on a split, in eval mode."""
        return self.trainer.evaluate(self.setup.data.split(split))

    def final(self, key: str) -> float:
        """The last epoch's value of a metric (NaN when no epoch finished)."""
        return float(self.history[-1][key]) if self.history else float("nan")


class LessonContext:
    """How a lesson runs: quick or full, the user's overrides, a log line sink and a data cache."""

    def __init__(
        self,
        quick: bool = False,
        overrides: list[str] | None = None,
        log: Callable[[str], None] | None = None,
        stack: bool = True,
    ):
        self.quick = quick
        self.stack = stack  # fit_many trains runs that allow it as stacked models
        self._stacks: list[int] = []  # members of each stack fit_many trained
        self._alone: list[str] = []  # "label: reason" of each run fit_many trained one by one
        self.override_list = list(overrides or [])
        self.overrides = parse_overrides(self.override_list)
        apply_overrides({}, self.overrides)  # a bad key or value fails now, with its one-line message
        self.log = log or (lambda msg: None)
        self._data = DataCache(size=4)  # lessons alternate between a few data sets
        # forward-only experiments run before any setup(): honour `threads` from the start
        torch.set_num_threads(self.config().threads or default_threads())

    def pick(self, quick: Any, full: Any) -> Any:
        """``quick`` under --quick, else ``full``."""
        return quick if self.quick else full

    @property
    def seed(self) -> int:
        """The seed every experiment of the lesson starts from."""
        return self.config().seed

    def config(self, **dotted: Any) -> Config:
        """A validated Config: defaults, then the lesson's dotted keys, then the user's overrides."""
        # one thread unless the user says otherwise: with several, float sums change order between runs
        # and a verdict on close numbers could flip with the machine's core count
        return apply_overrides({"train": {"checkpoint": False}, "threads": 1}, {**dotted, **self.overrides})

    def data(self, cfg: Config) -> Dataset:
        """The data set a config names, loaded once per lesson run."""
        return self._data.dataset(cfg.data, cfg.seed, resolve_device(cfg.device))

    def setup(self, cfg: Config) -> Setup:
        """``build.setup`` with the lesson's data cache."""
        return setup(cfg, cache=self._data)

    def fit_many(
        self,
        cfgs: Sequence[Config],
        labels: Sequence[str] | None = None,
        callbacks: Sequence[Sequence[Callback]] | None = None,
        data: Dataset | None = None,
    ) -> list[Fitted]:
        """Train several configs, stacked where they allow it, the rest one by one; one Fitted per config, in order.

        Runs that differ only in per-run values (seed, lr, weight decay, activation, init, loss: the keys of
        ``StackedEngine.MEMBER_KEYS``; ``build.why_alone`` decides) train as one stacked model
        (training/stacked.py), each ending as its own ``fit`` would, its metrics equal within float
        tolerance; ``stack=False`` (``trainlab lesson --no-stack``) trains every run alone.
        ``self.plan()`` says what trained how."""
        labels = list(labels) if labels is not None else [c.model.name for c in cfgs]
        extra = [list(c) for c in callbacks] if callbacks is not None else [[] for _ in cfgs]
        out: dict[int, Fitted] = {}
        groups: list[tuple[bool, list[int]]] = []  # (may stack, configs that may share a stack), in order
        for i, cfg in enumerate(cfgs):
            why = why_alone([cfg]) if self.stack else "stacking off"
            if why is not None:
                self._alone.append(f"{labels[i]}: {why}")
                groups.append((False, [i]))
                continue
            like = next((g for ok, g in groups if ok and why_alone([cfgs[g[0]], cfg]) is None), None)
            if like is None:
                groups.append((True, [i]))
            else:
                like.append(i)
        for may_stack, members in groups:
            if len(members) == 1:
                if may_stack:
                    self._alone.append(f"{labels[members[0]]}: no other run like it")
                out[members[0]] = self.fit(cfgs[members[0]], extra[members[0]], labels[members[0]], data)
                continue
            built = [(i, *self._build(cfgs[i], extra[i], data)) for i in members]
            for (
                i,
                s,
                trainer,
                rec,
            ) in built:  # a member the built trainer rules out (a loss that changes per epoch, ...)
                if (why := why_alone([cfgs[i]], [trainer])) is not None:
                    self._alone.append(f"{labels[i]}: {why}")
                    out[i] = self._fit_built(s, trainer, rec, labels[i])
            built = [b for b in built if b[0] not in out]
            size = stack_size(built[0][2]) if built else 1
            for start in range(0, len(built), size):
                chunk = built[start : start + size]
                alone = [cfgs[b[0]] for b in chunk], [b[2] for b in chunk]
                why = why_alone(*alone) if len(chunk) > 1 else "no other run like it"
                if why is None:
                    out.update(self._fit_stacked(chunk, labels))
                    continue
                for i, s, trainer, rec in chunk:
                    self._alone.append(f"{labels[i]}: {why}")
                    out[i] = self._fit_built(s, trainer, rec, labels[i])
        return [out[i] for i in range(len(cfgs))]

    def _build(
        self, cfg: Config, callbacks: Sequence[Callback], data: Dataset | None
    ) -> tuple[Setup, Trainer, Recorder]:
        """A config's setup and trainer (through ``build.build``) with a Recorder."""
        rec = Recorder()
        s, trainer = build(cfg, data, cache=self._data, callbacks=[rec, *callbacks])
        return s, trainer, rec

    def _fit_stacked(
        self, chunk: list[tuple[int, Setup, Trainer, Recorder]], labels: Sequence[str]
    ) -> dict[int, Fitted]:
        """One stack of built runs trained as one model; a stacked model's error ends every member, as
        ``fit`` keeps a single run's."""
        trainers = [b[2] for b in chunk]
        t0 = time.perf_counter()
        error = ""
        try:
            plain = all(b[1].config.loss.name == "cross_entropy" for b in chunk)
            StackedEngine(trainers, plain_cross_entropy=plain).fit()
        except (RuntimeError, ValueError, FloatingPointError) as exc:
            error = str(exc).splitlines()[0][:200]
        seconds = time.perf_counter() - t0
        self._stacks.append(len(chunk))
        for i, _, trainer, _ in chunk:
            self.log(
                f"  {labels[i]}: {len(trainer.history)} epochs, {seconds:.1f}s for the stack of {len(chunk)}"
                + (f" ({trainer.stop_reason})" if trainer.stop_reason else "")
            )
        return {i: Fitted(s, trainer, rec, error) for i, s, trainer, rec in chunk}

    def plan(self) -> str:
        """How this lesson's runs trained: how many stacked (in how many stacks), how many alone and why."""
        stacked = sum(self._stacks)
        if not stacked and not self._alone:
            return ""
        if not self.stack:
            return "stacking off (--no-stack): every run alone"
        line = (
            f"{stacked} runs trained stacked in {len(self._stacks)} stack{'s' if len(self._stacks) != 1 else ''}"
            if stacked
            else "no runs stacked"
        )
        if self._alone:
            shown = "; ".join(self._alone[:3]) + (f"; {len(self._alone) - 3} more" if len(self._alone) > 3 else "")
            line += f"; {len(self._alone)} one by one ({shown})"
        return line

    def fit(
        self, cfg: Config, callbacks: Sequence[Callback] = (), label: str = "", data: Dataset | None = None
    ) -> Fitted:
        """Train a config through the run builder (every config key applies, as in `trainlab train`);
        a training error is kept, not raised. ``data``: a data set the lesson made (a subset of labels)."""
        s, trainer, rec = self._build(cfg, callbacks, data)
        return self._fit_built(s, trainer, rec, label or cfg.model.name)

    def _fit_built(self, s: Setup, trainer: Trainer, rec: Recorder, label: str) -> Fitted:
        """A built run trained alone; a training error is kept, not raised."""
        t0 = time.perf_counter()
        error = ""
        try:
            trainer.fit()
        except (RuntimeError, ValueError, FloatingPointError) as exc:  # a diverging run is a finding
            error = str(exc).splitlines()[0][:200]
        self.log(
            f"  {label}: {len(trainer.history)} epochs, {time.perf_counter() - t0:.1f}s"
            + (f" ({trainer.stop_reason})" if trainer.stop_reason else "")
        )
        return Fitted(s, trainer, rec, error)


def new_figure(cols: int = 1, rows: int = 1, size: tuple[float, float] = (4.0, 3.0)) -> tuple[Any, Any]:
    """A matplotlib Figure (Agg, no global pyplot state) and its axes array (always 2-D), themed as the run reports'.

    Transparent, with mid-grey text and axes (``report.plots.theme``), so it reads on a light and a
    dark page; lessons draw no grid unless they ask for one.
    """
    fig = plots.figure(size[0] * cols, size[1] * rows)
    with plots.theme(**{"axes.grid": False}):
        axes = fig.subplots(rows, cols, squeeze=False)
    return fig, axes


def spread(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value) of measurements repeated over seeds."""
    m = sum(values) / len(values)
    var = sum((v - m) ** 2 for v in values) / (len(values) - 1) if len(values) > 1 else 0.0
    return m, var**0.5


def pm(values: Sequence[float], digits: int = 4) -> str:
    """``mean ± std`` of repeated measurements, e.g. ``0.4247 ± 0.0031`` (just the value for one)."""
    m, sd = spread(values)
    return f"{m:.{digits}f} ± {sd:.{digits}f}" if len(values) > 1 else f"{m:.{digits}f}"


def is_finite(x: float) -> bool:
    """True for a finite float."""
    return x == x and x not in (float("inf"), float("-inf"))
