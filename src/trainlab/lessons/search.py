"""Lesson ``search``: random versus grid search, log-scale sampling, coarse to fine — on the sweep engine.

Two hyperparameters are searched: the learning rate, which matters, and a weight decay so small
that it does not. At an equal budget of nine trials a 3×3 grid tries three learning rates; random
search tries nine (Bergstra & Bengio 2012). Random search is repeated with several sampler seeds.
A uniform draw of the learning rate is compared with a log-uniform one, and the best random sweep
is refined (``trainlab sweep --refine``) into a narrower range. Every trial is an ordinary run of
``trainlab.sweeps``; the sweeps live in a temporary folder and only the lesson's report is kept.
"""

from __future__ import annotations

import math
import tempfile
from typing import Any

from trainlab.lessons import LESSONS
from trainlab.lessons.base import LessonContext, Report, new_figure, pm, spread
from trainlab.sweeps.api import SweepResult, sweep

LR_LOW, LR_HIGH = 1e-4, 1.0
WD_LOW, WD_HIGH = 1e-7, 1e-5  # far too small to change a few epochs of training: the unimportant parameter


def _log_points(low: float, high: float, n: int) -> list[float]:
    """``n`` points evenly spaced in log scale from ``low`` to ``high`` (a grid's natural choice)."""
    return [float(f"{low * (high / low) ** (i / (n - 1)):.3g}") for i in range(n)]


def _best(result: SweepResult) -> float:
    """The best validation accuracy of a sweep (0 when no trial completed)."""
    return float(result.best.value) if result.best is not None else 0.0


def _lrs(result: SweepResult) -> list[float]:
    """The learning rates a sweep's trials tried."""
    return [float(t.params["optim.lr"]) for t in result.trials if "optim.lr" in t.params]


@LESSONS.register(
    "search", "random vs grid search at equal budget (one parameter matters); log-scale learning rates; coarse to fine"
)
def lesson(ctx: LessonContext) -> Report:
    """Run the search lesson."""
    r = Report("search", "search hyperparameters at random, on a log scale, coarse to fine")
    repeats, epochs, side = ctx.pick(2, 4), ctx.pick(3, 6), ctx.pick(2, 3)
    budget = side * side  # the grid's size; every sweep gets the same number of trials
    base = [
        f"{k}={v}"
        for k, v in {
            "data.name": "digits",
            "data.val": 0.2,
            "model.hidden": "[64]",
            "optim.name": "sgd",
            "optim.batch_size": 64,
            "train.epochs": epochs,
            "output.report": "false",
            "train.checkpoint": "false",
            "threads": 1,
        }.items()
    ]
    base += ctx.override_list  # the user's overrides apply to every trial, as for every lesson
    r.text(
        "Every trial: an `mlp` [64] on `digits` (20% held out for validation; the objective is validation accuracy), "
        "plain SGD, batch 64, "
        f"{epochs} epochs. Searched: `optim.lr` in [{LR_LOW:g}, {LR_HIGH:g}] (it matters) and `optim.weight_decay` in "
        f"[{WD_LOW:g}, {WD_HIGH:g}] "
        f"(too small to matter). Budget: {budget} trials per sweep. Random search is repeated with {repeats} sampler "
        "seeds."
    )
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="trainlab-search-") as root:

        def run(name: str, space: dict[str, str], sampler: str, seed: int = 0, **kw: Any) -> SweepResult:
            ctx.log(f"  sweep {name} ({sampler})")
            return sweep(
                None,
                base,
                space=space,
                trials=budget,
                sampler=sampler,
                seed=seed,
                name=name,
                root=root,
                report=False,
                **kw,
            )

        grid = run(
            "grid",
            {
                "optim.lr": f"choice({','.join(f'{v:g}' for v in _log_points(LR_LOW, LR_HIGH, side))})",
                "optim.weight_decay": f"choice({','.join(f'{v:g}' for v in _log_points(WD_LOW, WD_HIGH, side))})",
            },
            "grid",
        )
        rand = [
            run(
                f"random-{k}",
                {
                    "optim.lr": f"loguniform({LR_LOW:g},{LR_HIGH:g})",
                    "optim.weight_decay": f"loguniform({WD_LOW:g},{WD_HIGH:g})",
                },
                "random",
                seed=ctx.seed + k,
            )
            for k in range(repeats)
        ]
        uni = run(
            "uniform",
            {
                "optim.lr": f"uniform({LR_LOW:g},{LR_HIGH:g})",
                "optim.weight_decay": f"loguniform({WD_LOW:g},{WD_HIGH:g})",
            },
            "random",
            seed=ctx.seed,
        )
        coarse = max(rand, key=_best)
        fine = sweep(
            refine=coarse.name, trials=budget, sampler="random", seed=ctx.seed, name="fine", root=root, report=False
        )
        results = {"grid": grid, **{x.name: x for x in rand}, "uniform": uni, "fine": fine}
        fine_space = fine.spec.space["optim.lr"]

    # does only one parameter matter? the grid's 3x3 table answers
    cells = {
        (float(t.params["optim.lr"]), float(t.params["optim.weight_decay"])): float(t.value) for t in grid.completed
    }
    lrs_g, wds_g = sorted({k[0] for k in cells}), sorted({k[1] for k in cells})
    by_lr = max(max(cells[lr, wd] for lr in lrs_g) - min(cells[lr, wd] for lr in lrs_g) for wd in wds_g)
    by_wd = max(max(cells[lr, wd] for wd in wds_g) - min(cells[lr, wd] for wd in wds_g) for lr in lrs_g)
    r.claim(
        "of the two hyperparameters only the learning rate matters here (the setting the grid-vs-random argument is "
        "about)",
        f"on the {side}×{side} grid, validation accuracy spans ≥ 0.2 across learning rates and ≤ 0.02 across weight "
        "decays (the largest span of either)",
        f"span across learning rates {by_lr:.3f}, across weight decays {by_wd:.3f}",
        by_lr >= 0.2 and by_wd <= 0.02,
    )
    bests = [_best(x) for x in rand]
    distinct = [len({round(v, 12) for v in _lrs(x)}) for x in rand]
    r.claim(
        "at an equal budget random search beats a grid when one parameter matters: it tries more values of it "
        "(Bergstra & Bengio 2012)",
        f"best validation accuracy of random search, mean over {repeats} sweeps, > the grid's best (strictly: a tie "
        f"is no win); both with {budget} trials",
        f"random {pm(bests, 3)} (each sweep: {', '.join(f'{b:.3f}' for b in bests)}; {min(distinct)}–{max(distinct)} "
        "distinct learning rates) "
        f"vs grid {_best(grid):.3f} ({len(lrs_g)} learning rates)",
        spread(bests)[0] > _best(grid),
    )
    u, lg = _lrs(uni), [v for x in rand for v in _lrs(x)]
    top_u, top_l = sum(v >= 0.1 for v in u) / len(u), sum(v >= 0.1 for v in lg) / len(lg)
    r.claim(
        "sample the learning rate on a log scale: uniform draws spend almost the whole budget in the top decade",
        "share of draws in [0.1, 1] (the top of four decades): ≥ 0.6 with `uniform`, ≤ 0.5 with `loguniform`",
        f"uniform {top_u:.2f} of {len(u)} draws (best val accuracy {_best(uni):.3f}); loguniform {top_l:.2f} of "
        f"{len(lg)} draws",
        top_u >= 0.6 and top_l <= 0.5,
    )
    lo, hi = (float(x) for x in fine_space[fine_space.index("(") + 1 : -1].split(","))
    decades = math.log10(hi / lo)
    r.claim(
        "coarse to fine: a second sweep narrowed around the best trials does at least as well",
        f"`--refine` of the best random sweep: learning-rate range ≤ 2 of the {math.log10(LR_HIGH / LR_LOW):g} "
        "decades, and best validation "
        "accuracy ≥ the coarse sweep's",
        f"refined `optim.lr={fine_space}` ({decades:.2f} decades); best {_best(fine):.3f} vs coarse "
        f"{_best(coarse):.3f}",
        decades <= 2 and _best(fine) >= _best(coarse),
    )

    r.heading("Sweeps")
    r.table(
        ["sweep", "sampler", "optim.lr searched", "trials completed", "best val accuracy", "best optim.lr"],
        [
            [
                k,
                x.spec.sampler,
                f"`{x.spec.space['optim.lr']}`",
                len(x.completed),
                _best(x),
                f"{float(x.best.params['optim.lr']):.3g}" if x.best is not None else "—",
            ]
            for k, x in results.items()
        ],
    )
    r.heading("The grid")
    r.table(
        ["optim.lr \\ optim.weight_decay", *[f"{wd:g}" for wd in wds_g]],
        [[f"{lr:g}", *[cells[lr, wd] for wd in wds_g]] for lr in lrs_g],
    )
    fig, axes = new_figure(2, 1, (4.2, 3.1))
    for name, x, style in [("grid", grid, "s"), (rand[0].name, rand[0], "o")]:
        axes[0][0].scatter(
            [float(t.params["optim.lr"]) for t in x.completed],
            [float(t.params["optim.weight_decay"]) for t in x.completed],
            marker=style,
            label=name,
            alpha=0.8,
        )
    axes[0][0].set_xscale("log")
    axes[0][0].set_yscale("log")
    axes[0][0].set_xlabel("optim.lr (matters)")
    axes[0][0].set_ylabel("optim.weight_decay (does not)")
    axes[0][0].legend(fontsize=7)
    for name, x in results.items():
        axes[0][1].scatter(
            [float(t.params["optim.lr"]) for t in x.completed], [float(t.value) for t in x.completed], s=10, label=name
        )
    axes[0][1].set_xscale("log")
    axes[0][1].set_xlabel("optim.lr")
    axes[0][1].set_ylabel("validation accuracy")
    axes[0][1].legend(fontsize=6)
    r.figure(
        fig,
        "search",
        f"Left: {budget} grid trials cover {side} learning rates; {budget} random trials cover {budget}. Right: "
        "validation accuracy against the learning rate, every sweep.",
    )
    return r
