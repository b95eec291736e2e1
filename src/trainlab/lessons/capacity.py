"""Lesson ``capacity``: how much a network can fit, and what fitting too little or too much costs.

A linear model and one-hidden-layer MLPs of growing width fit ``sine`` (the universal approximation
theorem: width buys accuracy, a linear model cannot bend). On a small classification set the MLP's
width and depth are varied and it is trained long: too small a model underfits (high training
error: bias), a large one memorizes (training error near 0, test error well above it: variance),
and the validation loss turns up while the training loss keeps falling. The width sweep is repeated
with 20% of the training labels wrong (``data.label_noise``, several seeds): the widest networks
memorize the wrong labels too, and the test error against width is checked for a second descent
around the interpolation threshold; whether one shows at this scale is stated from the measurement.
"""

from __future__ import annotations

from trainlab.lessons import LESSONS
from trainlab.lessons.base import Fitted, LessonContext, Report, new_figure, pm, spread

SINE_WIDTHS = (1, 4, 16, 64)
LINEAR_MSE = 0.3  # a line explains ~15% of sin(2πx)'s variance 0.5 on [-1, 1]: its best test MSE is about 0.42
WIDE_MSE = 0.02  # noise variance is 0.05² = 0.0025; a good fit sits within a few times it
NOISE = 0.2  # the label-noise fraction of the double-descent sweep (Nakkiran et al. 2019 use 10–20%)


@LESSONS.register(
    "capacity",
    "sine with width (a linear model can't); train/test error vs width, depth and epochs; 20% label noise: "
    "memorizing, a second descent?",
)
def lesson(ctx: LessonContext) -> Report:
    """Run the capacity lesson."""
    r = Report("capacity", "capacity: underfitting, overfitting and the universal approximation theorem")

    # 1. universal approximation on sine
    sine = {
        "data.name": "sine(size=500,noise=0.05)",
        "data.val": 0,
        "optim.name": "adam",
        "optim.lr": 0.03,
        "optim.batch_size": 32,
        "train.epochs": ctx.pick(100, 300),
    }
    r.heading("Approximating sin(2πx)")
    r.text(
        "`sine(size=500,noise=0.05)`: y = sin(2πx) + N(0, 0.05²) for x in [−1, 1]. A `linear` model and an `mlp` "
        "with one hidden "
        f"tanh layer of width {list(SINE_WIDTHS)}, Adam lr 0.03, batch 32, {sine['train.epochs']} epochs; test MSE on "
        "held-out points."
    )
    lin = ctx.fit(ctx.config(**sine, **{"model.name": "linear"}), label="linear")
    wide = {
        w: ctx.fit(ctx.config(**sine, **{"model.hidden": [w], "model.act": "tanh"}), label=f"width {w}")
        for w in SINE_WIDTHS
    }
    mse = {"linear": lin.evaluate("test")["mse"], **{w: f.evaluate("test")["mse"] for w, f in wide.items()}}
    top, one = max(SINE_WIDTHS), min(SINE_WIDTHS)
    r.claim(
        "a linear model cannot follow a curve, however long it trains",
        f"the linear model's test MSE > {LINEAR_MSE:g} (sin's variance is 0.5)",
        f"test MSE {mse['linear']:.4f}",
        mse["linear"] > LINEAR_MSE,
    )
    r.claim(
        "one hidden layer approximates the curve better as it widens (universal approximation)",
        f"test MSE at width {top} < {WIDE_MSE:g} and < 1/10 of width {one}'s",
        ", ".join(f"width {w} {mse[w]:.4f}" for w in SINE_WIDTHS),
        mse[top] < WIDE_MSE and mse[top] < mse[one] / 10,
    )
    r.table(["model", "test MSE"], [["linear", mse["linear"]], *[[f"mlp [{w}]", mse[w]] for w in SINE_WIDTHS]])
    fig, axes = new_figure(1, 1, (4.6, 3.2))
    test = lin.setup.data.test
    order = test.x[:, 0].argsort()
    xs = test.x[order]
    axes[0][0].plot(xs[:, 0].cpu().numpy(), test.y[order].cpu().numpy(), ".", color="0.6", ms=3, label="test data")
    for label, f in [("linear", lin), *[(f"width {w}", wide[w]) for w in (1, 4, top)]]:
        f.model.eval()
        axes[0][0].plot(xs[:, 0].cpu().numpy(), f.model(xs).detach().reshape(-1).cpu().numpy(), label=label)
    axes[0][0].set_xlabel("x")
    axes[0][0].set_ylabel("y")
    axes[0][0].legend(fontsize=7)
    r.figure(
        fig,
        "capacity-sine",
        "Fits of sin(2πx): a line cannot bend; one hidden layer follows the curve once it is wide enough.",
    )

    # 2. width, depth and epochs on a small classification set
    widths = ctx.pick((1, 4, 16, 64), (1, 2, 4, 8, 16, 64, 256))
    epochs = ctx.pick(60, 60)
    cls = {
        "data.name": ctx.pick("digits", "fashion-mnist"),
        "data.limit": ctx.pick(500, 1000),
        "data.val": 0.2,
        "optim.name": "adam",
        "optim.lr": 3e-3,
        "optim.batch_size": 64,
        "train.epochs": epochs,
    }
    what = ctx.pick("digits (500 examples)", "Fashion-MNIST (1,000 examples)")
    r.heading("Width, depth and epochs")
    r.text(
        f"{what}, 20% held out for validation, an `mlp` (relu) trained with Adam lr 3e-3, batch 64, for {epochs} "
        "epochs — long "
        "enough to memorize. Error = 1 − accuracy; the test split is never trained on."
    )

    def errors(f: Fitted) -> tuple[float, float]:
        return 1 - f.evaluate("train")["accuracy"], 1 - f.evaluate("test")["accuracy"]

    by_width = {w: ctx.fit(ctx.config(**cls, **{"model.hidden": [w]}), label=f"width {w}") for w in widths}
    err = {w: errors(f) for w, f in by_width.items()}
    small, big = min(widths), max(widths)
    r.claim(
        "too small a model underfits: it cannot fit even its training data (bias)",
        f"training error at width {small} ≥ 0.2, at width {big} ≤ 0.02",
        f"training error: width {small} {err[small][0]:.3f}, width {big} {err[big][0]:.3f}",
        err[small][0] >= 0.2 and err[big][0] <= 0.02,
    )
    gap = {w: err[w][1] - err[w][0] for w in widths}
    r.claim(
        "a large model fits its training set far better than new data (variance)",
        f"test error − training error at width {big} ≥ 0.1 and larger than at width {small}",
        f"gap: width {small} {gap[small]:.3f}, width {big} {gap[big]:.3f} (test error {err[big][1]:.3f})",
        gap[big] >= 0.1 and gap[big] > gap[small],
    )
    hist = by_width[big].history
    vals = [h["val_loss"] for h in hist]
    best = min(range(len(vals)), key=vals.__getitem__)
    r.claim(
        "training longer overfits: the validation loss turns up while the training loss keeps falling",
        f"at width {big}, the validation loss is lowest before half of the {epochs} epochs and ends ≥ 1.1× that "
        "lowest value, "
        "while the last epoch's training loss is the lowest so far",
        f"val loss lowest {vals[best]:.3f} at epoch {best + 1}, final {vals[-1]:.3f}; train loss "
        f"{hist[0]['train_loss']:.3f} → {hist[-1]['train_loss']:.4f}",
        best + 1 < epochs / 2
        and vals[-1] >= 1.1 * vals[best]
        and hist[-1]["train_loss"] <= min(h["train_loss"] for h in hist) * 1.05,
    )

    depths = ctx.pick((1, 2), (1, 2, 4))
    narrow = 8
    by_depth = {d: ctx.fit(ctx.config(**cls, **{"model.hidden": [narrow] * d}), label=f"depth {d}") for d in depths}
    derr = {d: errors(f) for d, f in by_depth.items()}

    # a second descent: does test error rise at some intermediate width and fall again beyond it?
    te, tr = [err[w][1] for w in widths], [err[w][0] for w in widths]
    r.text("Clean labels: " + second_descent(widths, te, tr, [0.0] * len(widths)))
    r.table(
        ["hidden", "parameters", "train error", "test error", "gap"],
        [
            [f"[{w}]", sum(p.numel() for p in f.model.parameters()), err[w][0], err[w][1], gap[w]]
            for w, f in by_width.items()
        ]
        + [
            [
                f"[{narrow}]×{d}",
                sum(p.numel() for p in f.model.parameters()),
                derr[d][0],
                derr[d][1],
                derr[d][1] - derr[d][0],
            ]
            for d, f in by_depth.items()
        ],
    )
    fig, axes = new_figure(2, 1, (4.2, 3.1))
    axes[0][0].plot(widths, [err[w][0] for w in widths], marker="o", label="train")
    axes[0][0].plot(widths, [err[w][1] for w in widths], marker="o", label="test")
    axes[0][0].set_xscale("log", base=2)
    axes[0][0].set_xlabel("hidden width (one layer)")
    axes[0][0].set_ylabel("error")
    axes[0][0].legend(fontsize=7)
    ep = [h["epoch"] for h in hist]
    axes[0][1].plot(ep, [h["train_loss"] for h in hist], label="train loss")
    axes[0][1].plot(ep, vals, label="validation loss")
    axes[0][1].axvline(best + 1, color="0.6", ls="--")
    axes[0][1].set_yscale("log")
    axes[0][1].set_xlabel(f"epoch (width {big})")
    axes[0][1].legend(fontsize=7)
    r.figure(
        fig,
        "capacity-width-epochs",
        "Left: train and test error against width: small widths underfit, large ones memorize. Right: the widest "
        "model's losses per epoch.",
    )

    # 3. label noise: memorizing wrong labels, and the search for a second descent where it is clearest
    nwidths = ctx.pick((4, 16, 64), (4, 8, 16, 32, 48, 64, 128, 256))
    seeds = [ctx.seed + k for k in range(ctx.pick(1, 3))]
    over = f" (mean ± std over seeds {seeds})" if len(seeds) > 1 else ""
    r.heading(f"Label noise ({NOISE:.0%}) and double descent")
    r.text(
        f"The same data and training with `data.label_noise={NOISE}`: {NOISE:.0%} of the training labels (not "
        "validation or test) "
        f"replaced by a random other class, one-hidden-layer widths {list(nwidths)}, seeds {seeds}. Training error is "
        "measured "
        "against the noisy labels the model was trained on (0 means it memorized the wrong ones too); test error on "
        "the true test labels. "
        "Double descent (Belkin et al. 2019; Nakkiran et al. 2019) is a test-error peak near the interpolation "
        "threshold, the "
        "smallest model that fits its noisy training set, falling again beyond it; label noise makes it clearest."
    )
    pairs = [(w, sd) for w in nwidths for sd in seeds]  # a width's seeds train stacked
    fitted = ctx.fit_many(
        [ctx.config(**cls, **{"model.hidden": [w], "data.label_noise": NOISE, "seed": sd}) for w, sd in pairs],
        [f"width {w}, noise {NOISE}, seed {sd}" for w, sd in pairs],
    )
    noisy = {w: [f for (pw, _), f in zip(pairs, fitted, strict=True) if pw == w] for w in nwidths}
    nerr = {w: [errors(f) for f in fs] for w, fs in noisy.items()}
    ntr = {w: spread([e[0] for e in es]) for w, es in nerr.items()}
    nte = {w: spread([e[1] for e in es]) for w, es in nerr.items()}
    wide = max(nwidths)
    r.claim(
        "a large network memorizes even wrong labels (Zhang et al. 2017)",
        f"with {NOISE:.0%} of the training labels wrong, training error at width {wide} ≤ 0.02"
        + (" (mean over seeds)" if over else ""),
        f"training error {pm([e[0] for e in nerr[wide]], 3)}{over}",
        ntr[wide][0] <= 0.02,
    )
    r.claim(
        "memorizing wrong labels costs test accuracy",
        f"test error at width {wide} with {NOISE:.0%} noise ≥ 0.05 above the clean-label test error at width {big}",
        f"noisy {pm([e[1] for e in nerr[wide]], 3)}{over}, clean {err[big][1]:.3f} (seed {ctx.seed})",
        nte[wide][0] >= err[big][1] + 0.05,
    )
    fits_all = [w for w in nwidths if ntr[w][0] <= 0.02]
    r.text(
        (
            f"The interpolation threshold: width {fits_all[0]} is the narrowest with training error ≤ 0.02 "
            f"({sum(p.numel() for p in noisy[fits_all[0]][0].model.parameters()):,} parameters for "
            f"{len(noisy[fits_all[0]][0].setup.data.train):,} training examples). "
        )
        if fits_all
        else "No width reached training error ≤ 0.02 (the interpolation threshold lies beyond the widths tried). "
    )
    r.text(
        f"With {NOISE:.0%} label noise: "
        + second_descent(
            list(nwidths), [nte[w][0] for w in nwidths], [ntr[w][0] for w in nwidths], [nte[w][1] for w in nwidths]
        )
    )
    r.table(
        ["hidden", "parameters", "train error (noisy labels)", "test error"],
        [
            [
                f"[{w}]",
                sum(p.numel() for p in fs[0].model.parameters()),
                pm([e[0] for e in nerr[w]], 3),
                pm([e[1] for e in nerr[w]], 3),
            ]
            for w, fs in noisy.items()
        ],
    )
    fig, axes = new_figure(1, 1, (4.8, 3.2))
    ax = axes[0][0]
    ax.errorbar(
        nwidths,
        [ntr[w][0] for w in nwidths],
        yerr=[ntr[w][1] for w in nwidths],
        marker="o",
        capsize=2,
        label=f"train ({NOISE:.0%} noisy labels)",
    )
    ax.errorbar(
        nwidths, [nte[w][0] for w in nwidths], yerr=[nte[w][1] for w in nwidths], marker="o", capsize=2, label="test"
    )
    ax.plot(widths, [err[w][1] for w in widths], marker=".", ls=":", color="0.5", label="test, clean labels")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("hidden width (one layer)")
    ax.set_ylabel("error")
    ax.legend(fontsize=7)
    r.figure(
        fig,
        "capacity-label-noise",
        f"Train and test error against width with {NOISE:.0%} label noise{over}; the clean-label test error for "
        "reference.",
    )
    return r


def second_descent(widths: list[int], test: list[float], train: list[float], sd: list[float]) -> str:
    """Whether test error against width rises and falls again, stated from the measurements.

    A peak counts when test error rises by more than 0.01 and more than the spread over seeds while the
    training error does not rise (a width that failed to train is no peak), and falls again beyond it
    by as much."""
    for i in range(1, len(widths) - 1):
        margin = max(0.01, sd[i - 1], sd[i])
        after = min(test[i + 1 :])
        if test[i] > test[i - 1] + margin and train[i] <= train[i - 1] and after < test[i] - max(0.01, sd[i]):
            return (
                f"a second descent shows: test error rises from {test[i - 1]:.3f} at width {widths[i - 1]} to "
                f"{test[i]:.3f} at width {widths[i]} "
                f"while the training error falls ({train[i - 1]:.3f} → {train[i]:.3f}), and falls again to "
                f"{after:.3f} at larger widths."
            )
    return (
        "no second descent shows at this scale: test error over widths "
        + ", ".join(f"{w}: {e:.3f}" for w, e in zip(widths, test, strict=True))
        + f" has no rise of more than 0.01{' (and more than the spread over seeds)' if any(sd) else ''}, "
        "while the training error does not rise, that falls again."
    )
