"""Lesson ``init``: the CS231n 10 x 500 experiment — how the weight scale sets every layer's activations.

A 10-layer, 500-unit MLP (the library's ``mlp`` with ``model.init`` by name) gets unit-Gaussian
inputs; forward hooks on each activation record its mean, std and saturation. The published pattern
(``shared/REFERENCES.md``, CS231n lecture 6) is then checked number by number, zero init's
identical hidden units are measured, and each initialization is trained to see what it leads to.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from trainlab.build import seed_everything
from trainlab.lessons import LESSONS
from trainlab.lessons.base import Fitted, LessonContext, Report, new_figure
from trainlab.nn.models import build_model

INITS = ("zeros", "normal(std=0.01)", "normal(std=1.0)", "xavier_normal", "kaiming_normal")
ACTS = ("tanh", "relu")
# CS231n lecture 6 (shared/REFERENCES.md): std of each layer's output, where it is stated
PUBLISHED = {
    ("tanh", "normal(std=0.01)"): "0.21, then → 0",
    ("tanh", "normal(std=1.0)"): "≈ 0.98 all, saturated",
    ("tanh", "xavier_normal"): "0.63 → ≈ 0.2",
    ("relu", "xavier_normal"): "halves, → 0",
    ("relu", "kaiming_normal"): "≈ 0.8 all",
    ("tanh", "zeros"): "all units equal",
    ("relu", "zeros"): "all units equal",
}


def _forward_stats(ctx: LessonContext, act: str, init: str, x: torch.Tensor, depth: int, width: int) -> dict[str, Any]:
    """Per-layer activation mean/std/saturation of a fresh ``depth`` x ``width`` MLP, by forward hooks."""
    cfg = ctx.config(
        **{
            "model.name": "mlp",
            "model.hidden": [width] * depth,
            "model.act": act,
            "model.init": init,
            "model.bias_init": "zeros",
        }
    )
    seed_everything(cfg.seed)
    model = build_model(cfg.model, (x.shape[1],), 10)
    acts: dict[str, torch.Tensor] = {}
    hooks = [
        m.register_forward_hook(lambda mod, inp, out, n=name: acts.__setitem__(n, out.detach()))
        for name, m in model.named_children()
        if name.startswith("act")
    ]
    model.train()
    out = model(x)
    for h in hooks:
        h.remove()
    # one backward pass (cross-entropy on random labels) for the gradient-symmetry measurement
    y = torch.randint(0, 10, (len(x),), generator=torch.Generator().manual_seed(cfg.seed))
    F.cross_entropy(out, y).backward()
    layers = [acts[f"act{i}"] for i in range(1, depth + 1)]
    fcs = [getattr(model, f"fc{i}") for i in range(1, depth + 1)]
    return {
        "mean": [a.mean().item() for a in layers],
        "std": [a.std().item() for a in layers],
        "saturated": [(a.abs() > 0.99).float().mean().item() for a in layers],
        # identical units: spread across units (columns) of each example's activations, and of gradient rows
        "unit_spread": max((a.max(1).values - a.min(1).values).abs().max().item() for a in layers),
        "grad_spread": max((f.weight.grad - f.weight.grad[:1]).abs().max().item() for f in fcs),
        "grad_norm": max(f.weight.grad.norm().item() for f in fcs),
        "samples": [a[:, :200].flatten()[:20000] for a in layers],
    }


def _train_all(ctx: LessonContext, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Train the same deep MLP (narrower, on real data) with each (activation, init); stacked where they allow it."""
    cfgs = [
        ctx.config(
            **{
                "data.name": ctx.pick("digits", "fashion-mnist"),
                "data.limit": ctx.pick(600, 2000),
                "data.val": 0,
                "model.hidden": [ctx.pick(64, 128)] * 10,
                "model.act": act,
                "model.init": init,
                "model.bias_init": "zeros",
                "optim.name": "sgd(momentum=0.9)",
                "optim.lr": 0.01,
                "optim.batch_size": 64,
                "train.epochs": ctx.pick(5, 5),
            }
        )
        for act, init in pairs
    ]
    fits = ctx.fit_many(cfgs, [f"{act} + {init}" for act, init in pairs])
    return {pair: _after(fit) for pair, fit in zip(pairs, fits, strict=True)}


def _after(fit: Fitted) -> dict[str, Any]:
    """One trained run's accuracy and symmetry."""
    w = fit.model.fc1.weight.detach()
    return {
        "accuracy": fit.evaluate("test")["accuracy"] if not fit.error else float("nan"),
        "loss": fit.final("train_loss"),
        "row_spread": (w - w[:1]).abs().max().item(),
        "chance": 1.0 / fit.setup.data.num_classes,
        "error": fit.error,
    }


@LESSONS.register(
    "init", "10x500 tanh/relu MLP: per-layer activation statistics for zeros, 0.01, 1.0, Xavier, He (CS231n)"
)
def lesson(ctx: LessonContext) -> Report:
    """Run the initialization lesson."""
    r = Report("init", "weight initialization sets the scale of every layer")
    depth, width = 10, 500
    n = ctx.pick(200, 1000)
    seed_everything(ctx.seed)
    x = torch.randn(n, width)
    r.text(
        f"Claims from CS231n lecture 6, re-measured: a {depth}-layer MLP with {width} units per layer "
        f"(`model.hidden=[{width}]*{depth}`, biases zero) gets {n} unit-Gaussian input vectors; forward hooks on "
        "each activation record the mean and standard deviation of its outputs. Inits by name: "
        + ", ".join(f"`{i}`" for i in INITS)
        + ". Torch's `xavier_normal` on a 500x500 layer has std "
        "sqrt(2/(500+500)) = 1/sqrt(500), the lecture's Xavier; `kaiming_normal` uses the activation's gain "
        "(sqrt 2 for relu: the lecture's He init; 5/3 for tanh)."
    )
    stats: dict[tuple[str, str], dict[str, Any]] = {}
    for act in ACTS:
        for init in INITS:
            ctx.log(f"forward {act} + {init}")
            stats[act, init] = _forward_stats(ctx, act, init, x, depth, width)

    def std(act: str, init: str, layer: int) -> float:
        return stats[act, init]["std"][layer - 1]

    # -- the claims, each judged by a stated threshold ----------------------------------------
    s = stats["tanh", "normal(std=0.01)"]["std"]
    r.claim(
        "tanh, W = 0.01·randn: std about 0.21 at layer 1, collapsing toward 0 by layer 10",
        "layer-1 std in 0.21 ± 0.03 and layer-10 std < 0.001",
        f"layer 1: {s[0]:.3f}, layer 10: {s[-1]:.2e}",
        abs(s[0] - 0.21) <= 0.03 and s[-1] < 1e-3,
    )
    s = stats["tanh", "normal(std=1.0)"]["std"]
    sat = stats["tanh", "normal(std=1.0)"]["saturated"]
    r.claim(
        "tanh, W = 1.0·randn: std about 0.98 at every layer, most units saturated at ±1",
        "every layer's std in 0.98 ± 0.03 and > 50% of outputs with |a| > 0.99 at every layer",
        f"std {min(s):.3f}–{max(s):.3f}; saturated {min(sat):.0%}–{max(sat):.0%}",
        all(abs(v - 0.98) <= 0.03 for v in s) and min(sat) > 0.5,
    )
    s = stats["tanh", "xavier_normal"]["std"]
    r.claim(
        "tanh, Xavier: std about 0.63 at layer 1, decaying slowly to about 0.2 at layer 10",
        "layer-1 std in 0.63 ± 0.05, layer-10 std in 0.2 ± 0.1",
        f"layer 1: {s[0]:.3f}, layer 10: {s[-1]:.3f}",
        abs(s[0] - 0.63) <= 0.05 and abs(s[-1] - 0.2) <= 0.1,
    )
    s = stats["relu", "xavier_normal"]["std"]
    ratios = [b / a for a, b in zip(s, s[1:], strict=False)]
    r.claim(
        "relu, Xavier: std halves layer by layer (variance halves), near 0 by layer 10",
        "std falls at every layer and layer-10 std < 10% of layer 1's",
        f"layer 1: {s[0]:.3f}, layer 10: {s[-1]:.3f}; per-layer ratio {min(ratios):.2f}–{max(ratios):.2f}",
        all(q < 1 for q in ratios) and s[-1] < 0.1 * s[0],
    )
    s = stats["relu", "kaiming_normal"]["std"]
    r.claim(
        "relu, He (kaiming_normal): std stays about 0.8 at every layer",
        "every layer's std in 0.8 ± 0.15",
        f"std {min(s):.3f}–{max(s):.3f} (layer 10: {s[-1]:.3f})",
        all(abs(v - 0.8) <= 0.15 for v in s),
    )
    spreads = [(stats[a, "zeros"]["unit_spread"], stats[a, "zeros"]["grad_spread"]) for a in ACTS]
    r.claim(
        "zero init: every hidden unit of a layer computes the same value and gets the same gradient",
        "max over layers of (max − min across units) of activations and of weight-gradient rows = 0, tanh and relu",
        "; ".join(f"{a}: activations {u:.1e}, gradients {g:.1e}" for a, (u, g) in zip(ACTS, spreads, strict=True)),
        all(u == 0 and g == 0 for u, g in spreads),
    )

    # -- training outcome of each init ----------------------------------------------------------
    ctx.log("training each init")
    trained = _train_all(ctx, [(a, i) for a in ACTS for i in INITS])
    chance = trained["relu", "zeros"]["chance"]
    good = [trained["relu", "kaiming_normal"]["accuracy"], trained["tanh", "xavier_normal"]["accuracy"]]
    zero_acc = [trained[a, "zeros"]["accuracy"] for a in ACTS]
    zero_spread = [trained[a, "zeros"]["row_spread"] for a in ACTS]
    r.claim(
        "a deep net trains from a good init but not from zeros; zero init's symmetry is never broken by training",
        f"relu+He and tanh+Xavier test accuracy ≥ chance + 0.3 ({chance + 0.3:.2f}); zeros ≤ chance + 0.1; "
        "zero-init first-layer weight rows still identical after training (spread 0)",
        f"relu+He {good[0]:.3f}, tanh+Xavier {good[1]:.3f}; zeros {zero_acc[0]:.3f} (tanh) / {zero_acc[1]:.3f} (relu); "
        f"row spread after training {max(zero_spread):.1e}",
        min(good) >= chance + 0.3 and max(zero_acc) <= chance + 0.1 and max(zero_spread) == 0,
    )

    # -- the evidence ------------------------------------------------------------------------------
    r.heading("Per-layer standard deviation of the activations")
    r.text("One row per activation and init; columns are layers 1 to 10. The last column quotes the lecture.")
    r.table(
        ["act", "init", *[str(i) for i in range(1, depth + 1)], "published (CS231n)"],
        [
            [a, f"`{i}`", *[f"{v:.3g}" for v in stats[a, i]["std"]], PUBLISHED.get((a, i), "—")]
            for a in ACTS
            for i in INITS
        ],
    )
    r.heading("Per-layer mean of the activations")
    r.table(
        ["act", "init", *[str(i) for i in range(1, depth + 1)]],
        [[a, f"`{i}`", *[f"{v:.2g}" for v in stats[a, i]["mean"]]] for a in ACTS for i in INITS],
    )
    fig, axes = new_figure(2, 1, (5.0, 3.5))
    for k, a in enumerate(ACTS):
        ax = axes[0][k]
        for i in INITS:
            ax.plot(range(1, depth + 1), [max(v, 1e-12) for v in stats[a, i]["std"]], marker="o", ms=3, label=i)
        ax.set_yscale("log")
        ax.set_title(f"{a}: std of each layer's output")
        ax.set_xlabel("layer")
        ax.legend(fontsize=7)
    r.figure(
        fig,
        "init-std-per-layer",
        "Standard deviation of each layer's activations (log scale; zeros init is 0 and drawn at 1e-12).",
    )
    for a in ACTS:
        show = ctx.pick([1, 10], [1, 4, 7, 10])
        fig, axes = new_figure(len(show), len(INITS), (2.2, 1.6))
        for row, i in enumerate(INITS):
            # one x range per row (that init's widest layer), ticks written out: an autoscaled axis hides
            # its ×1e-6 offset label, so a layer of std 3e-7 would read as -1..1 beside a layer of std 0.2
            samples = [stats[a, i]["samples"][layer - 1].float() for layer in show]
            lim = max(max(float(v.abs().max()) for v in samples), 1e-12)
            ticks = [-lim, 0.0, lim]
            for col, (layer, v) in enumerate(zip(show, samples, strict=True)):
                ax = axes[row][col]
                ax.hist(v.numpy(), bins=40, range=(-lim, lim), color="C0")
                ax.set_xlim(-lim * 1.05, lim * 1.05)
                ax.set_xticks(ticks, [f"{t:.2g}" for t in ticks])
                ax.set_yticks([])
                if row == 0:
                    ax.set_title(f"layer {layer}", fontsize=8)
                if col == 0:
                    ax.set_ylabel(f"{i}\ncount", fontsize=7)
                if row == len(INITS) - 1:
                    ax.set_xlabel("activation value", fontsize=7)
                ax.tick_params(labelsize=6)
        fig.suptitle(f"{a}: activation histograms per init", fontsize=9)
        r.figure(
            fig,
            f"init-hist-{a}",
            f"{a}: histograms of the activations at layers {show} for each init (rows); each row shares one x axis, "
            "its range written out, so a collapsing layer shows as a spike at 0 beside its first layer.",
        )
    r.heading("Zero init: identical hidden units")
    r.text(
        "With every weight 0, each unit of a layer sees the same inputs through the same weights, so all units "
        "output the same value and backpropagation hands each the same gradient: the layer acts as one unit."
    )
    r.table(
        ["act", "init", "activation spread across units", "gradient-row spread", "largest weight-gradient norm"],
        [
            [a, f"`{i}`", stats[a, i]["unit_spread"], stats[a, i]["grad_spread"], stats[a, i]["grad_norm"]]
            for a in ACTS
            for i in ("zeros", "kaiming_normal")
        ],
    )
    r.heading("Training outcome of each init")
    cfgtext = ctx.pick(
        "digits (600 examples), 10 x 64 MLP, 5 epochs", "Fashion-MNIST (2,000 examples), 10 x 128 MLP, 5 epochs"
    )
    r.text(
        f"Each init trained with SGD + momentum 0.9, lr 0.01, batch 64 on {cfgtext}; test accuracy on the test split "
        f"(chance {chance:.2f}). Spread is the largest difference between first-layer weight rows after training."
    )
    r.table(
        ["act", "init", "final train loss", "test accuracy", "first-layer row spread", "error"],
        [[a, f"`{i}`", t["loss"], t["accuracy"], t["row_spread"], t["error"] or "—"] for (a, i), t in trained.items()],
    )
    return r
