"""What every lesson shares: the run context, claims with computed verdicts, and the report writer.

A lesson is a function ``lesson(ctx) -> Report``. It builds configs with ``ctx.config`` (the user's
overrides applied last), trains them with ``ctx.fit`` (through ``build.build``, the one run builder),
measures, and records each claim with ``report.claim(claim, test, measured, holds)`` where ``holds``
is computed from the measurement against the threshold written in ``test``. The report renders to
Markdown and to a self-contained HTML page (plots inlined as base64 PNG).
"""

from __future__ import annotations

import base64
import html
import io
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from trainlab.atomic import atomic_write, write_text
from trainlab.build import Setup, build, default_threads, resolve_device, setup
from trainlab.config import Config, apply_overrides, parse_overrides
from trainlab.data.dataset import Dataset
from trainlab.data.memo import DataCache
from trainlab.training.loop import Callback, Trainer

HOLDS, FAILS = "holds", "does not hold"


@dataclass
class Claim:
    """A claim as courses state it, the test that judges it, what was measured, and the verdict."""

    claim: str
    test: str
    measured: str
    holds: bool

    @property
    def verdict(self) -> str:
        """``holds`` or ``does not hold``, computed from the measurement."""
        return HOLDS if self.holds else FAILS


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

    def claim(self, claim: str, test: str, measured: str, holds: bool) -> Claim:
        """Record a claim; ``holds`` must be computed from the measurement, never written in."""
        c = Claim(claim, test, measured, bool(holds))
        self.claims.append(c)
        return c

    def heading(self, text: str) -> None:
        """Start a section."""
        self.blocks.append(("h2", text))

    def text(self, text: str) -> None:
        """A paragraph (inline `code` allowed)."""
        self.blocks.append(("p", text))

    def table(self, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """A table; floats are formatted with ``fmt``."""
        self.blocks.append(("table", (list(columns), [[fmt(v) for v in r] for r in rows])))

    def figure(self, fig: Any, name: str, caption: str) -> None:
        """Render a matplotlib Figure to PNG and keep it (inlined in HTML, a file beside the Markdown)."""
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
        self.blocks.append(("figure", Figure(f"{name}.png", buf.getvalue(), caption)))

    @property
    def figures(self) -> list[Figure]:
        """Every figure, in order."""
        return [b for k, b in self.blocks if k == "figure"]

    # -- rendering ---------------------------------------------------------------
    def verdict_rows(self) -> list[list[str]]:
        """Rows of the verdict table: claim (with its test), measured, verdict."""
        return [[f"{c.claim} — *{c.test}*", c.measured, c.verdict] for c in self.claims]

    def to_markdown(self) -> str:
        """The report as Markdown (figures referenced as PNG files beside it)."""
        out = [f"# Lesson `{self.name}`: {self.title}", "", self._meta(), ""]
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
        parts = [f"<h1>Lesson <code>{_e(self.name)}</code>: {_e(self.title)}</h1>", f"<p class=meta>{_inline(self._meta())}</p>"]
        parts += ["<h2>Verdicts</h2>", _html_table(["claim (test)", "measured", "verdict"], self.verdict_rows(), verdicts=True)]
        for kind, body in self.blocks:
            if kind == "h2":
                parts.append(f"<h2>{_e(body)}</h2>")
            elif kind == "p":
                parts.append(f"<p>{_inline(body)}</p>")
            elif kind == "table":
                parts.append(_html_table(*body))
            elif kind == "figure":
                data = base64.b64encode(body.png).decode()
                parts.append(f"<figure><img alt='{_e(body.caption)}' src='data:image/png;base64,{data}'><figcaption>{_inline(body.caption)}</figcaption></figure>")
        return _PAGE.format(title=_e(f"trainlab lesson {self.name}"), body="\n".join(parts))

    def _meta(self) -> str:
        held = sum(c.holds for c in self.claims)
        mode = " (`--quick`: tiny data and few steps, figures are indicative only)" if self.quick else ""
        extra = f"; overrides `{' '.join(self.overrides)}`" if self.overrides else ""
        return f"{held} of {len(self.claims)} claims hold on this run; measured in {self.seconds:.1f} s{mode}{extra}. Re-run: `trainlab lesson {self.name}{' --quick' if self.quick else ''}{' ' + ' '.join(self.overrides) if self.overrides else ''}`."

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write report.md, report.html and the figures' PNG files into ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for f in self.figures:
            atomic_write(out / f.name, lambda fh, b=f.png: fh.write(b))
        write_text(out / "report.md", self.to_markdown())
        write_text(out / "report.html", self.to_html())
        return {"markdown": out / "report.md", "html": out / "report.html"}


def fmt(v: Any) -> str:
    """Numbers for tables: 4 significant digits, scientific when tiny or huge."""
    if isinstance(v, bool) or v is None:
        return "—" if v is None else str(v)
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            return str(v)
        if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
            return f"{v:.3g}"
        return f"{v:.4g}"
    return str(v)


def _md_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    cell = lambda s: str(s).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    return ["| " + " | ".join(map(cell, columns)) + " |", "|" + "---|" * len(columns), *["| " + " | ".join(map(cell, r)) + " |" for r in rows]]


def _e(text: str) -> str:
    return html.escape(str(text), quote=True)


def _inline(text: str) -> str:
    """Escape, then render `code` and *emphasis* (the only inline Markdown the reports use)."""
    t = _e(text)
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", t)


def _html_table(columns: Sequence[str], rows: Sequence[Sequence[str]], verdicts: bool = False) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = []
    for r in rows:
        cells = []
        for i, v in enumerate(r):
            cls = ""
            if verdicts and i == len(r) - 1:
                cls = " class=ok" if v == HOLDS else " class=bad"
            cells.append(f"<td{cls}>{_inline(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


_PAGE = """<!doctype html>
<html lang=en><head><meta charset=utf-8><title>{title}</title>
<style>
body {{ font: 15px/1.5 system-ui, sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 14px; display: block; overflow-x: auto; }} th, td {{ border: 1px solid #ccc; padding: .3em .6em; text-align: left; vertical-align: top; }}
th {{ background: #f3f3f3; }} td.ok {{ color: #1a7f37; font-weight: 600; }} td.bad {{ color: #b42318; font-weight: 600; }}
code {{ background: #f3f3f3; padding: 0 .2em; }} img {{ max-width: 100%; }} figcaption {{ color: #555; font-size: 90%; }}
p.meta {{ color: #555; }}
</style></head><body>
{body}
</body></html>
"""


# -- running experiments -----------------------------------------------------------------------------


class Recorder(Callback):
    """Keeps every step's training loss (as device tensors: no host sync per step) and wall time per epoch."""


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

    def __init__(self, quick: bool = False, overrides: list[str] | None = None, log: Callable[[str], None] | None = None):
        self.quick = quick
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
        return apply_overrides({"train": {"checkpoint": False}}, {**dotted, **self.overrides})

    def data(self, cfg: Config) -> Dataset:
        """The data set a config names, loaded once per lesson run."""
        return self._data.dataset(cfg.data, cfg.seed, resolve_device(cfg.device))

    def setup(self, cfg: Config) -> Setup:
        """``build.setup`` with the lesson's data cache."""
        return setup(cfg, cache=self._data)

    def fit(self, cfg: Config, callbacks: Sequence[Callback] = (), label: str = "") -> Fitted:
        """Train a config through the run builder (every config key applies, as in `trainlab train`);
        a training error is kept, not raised."""
        rec = Recorder()
        s, trainer = build(cfg, cache=self._data, callbacks=[rec, *callbacks])
        t0 = time.perf_counter()
        error = ""
        try:
            trainer.fit()
        except (RuntimeError, ValueError, FloatingPointError) as exc:  # a diverging run is a finding
            error = str(exc).splitlines()[0][:200]
        self.log(f"  {label or cfg.model.name}: {len(trainer.history)} epochs, {time.perf_counter() - t0:.1f}s" + (f" ({trainer.stop_reason})" if trainer.stop_reason else ""))
        return Fitted(s, trainer, rec, error)


def new_figure(cols: int = 1, rows: int = 1, size: tuple[float, float] = (4.0, 3.0)) -> tuple[Any, Any]:
    """A matplotlib Figure (Agg, no global pyplot state) and its axes array (always 2-D)."""
    # lazy: matplotlib loads only when a figure is drawn (it costs ~0.3 s at start-up)
    from matplotlib.figure import Figure as MplFigure

    fig = MplFigure(figsize=(size[0] * cols, size[1] * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    return fig, axes


def is_finite(x: float) -> bool:
    """True for a finite float."""
    return x == x and x not in (float("inf"), float("-inf"))
