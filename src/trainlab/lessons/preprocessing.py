"""Lesson ``preprocessing``: what the input's scale and correlations do to gradient descent.

The same MLP is trained with each ``data.preprocess`` (fitted on the training split only): raw
pixels, min-max scaling, standardization, mean-image and per-channel-mean subtraction, and PCA
whitening. Convergence speed (training loss after the first epoch) and test accuracy are compared,
and the whitened inputs' covariance is measured against the identity.
"""

from __future__ import annotations

import torch

from trainlab.lessons import LESSONS
from trainlab.lessons.base import Fitted, LessonContext, Report, is_finite, new_figure

METHODS = ("none", "scale", "standardize", "mean_image", "per_channel_mean", "pca_whiten")


def why(f: Fitted) -> str:
    """How a diverged run ended, in words: the guard's reason, or the training error."""
    reason = (f.trainer.stop_reason or f.error or "the loss became NaN/Inf").split("; ")[0]
    reason = reason.removeprefix("stopped by the NaN/Inf guard: ").split(" at step ")[
        0
    ]  # the guard's full advice is in the log
    return f"diverged at step {f.trainer.step}: {reason[:140]}"


def covariance(x: torch.Tensor) -> torch.Tensor:
    """Covariance matrix of the flattened inputs (features x features)."""
    x = x.flatten(1).double().cpu()
    x = x - x.mean(0)
    return x.T @ x / (len(x) - 1)


@LESSONS.register("preprocessing", "none vs scale vs standardize vs mean image vs per-channel mean vs PCA whitening")
def lesson(ctx: LessonContext) -> Report:
    """Run the preprocessing lesson."""
    r = Report("preprocessing", "centred, scaled, decorrelated inputs make gradient descent's job easy")
    epochs = ctx.pick(5, 5)
    data = {"data.name": ctx.pick("digits", "fashion-mnist"), "data.limit": ctx.pick(None, 5000), "data.val": 0}
    r.text(
        "An MLP [128] (relu, kaiming-normal) on "
        f"{ctx.pick('digits (pixels 0–16)', 'Fashion-MNIST (5,000 examples, pixels 0–255)')}, "
        f"SGD + momentum 0.9, lr 0.01, batch 64, {epochs} epochs, once per `data.preprocess`. Statistics are fitted "
        "on the "
        "training split and applied unchanged to the test split. `mean_image` and `per_channel_mean` only subtract a "
        "mean, so "
        "their inputs keep the raw pixel scale."
    )
    fits: dict[str, Fitted] = {}
    for m in METHODS:
        cfg = ctx.config(
            **data,
            **{
                "data.preprocess": m,
                "model.hidden": [128],
                "optim.name": "sgd(momentum=0.9)",
                "optim.lr": 0.01,
                "optim.batch_size": 64,
                "train.epochs": epochs,
            },
        )
        fits[m] = ctx.fit(cfg, label=m)
    first = {m: (f.history[0]["train_loss"] if f.history else float("nan")) for m, f in fits.items()}
    last = {m: f.final("train_loss") for m, f in fits.items()}
    diverged = {m: f.trainer.status == "diverged" or not is_finite(last[m]) for m, f in fits.items()}
    acc = {m: f.evaluate("test")["accuracy"] if not diverged[m] else float("nan") for m, f in fits.items()}

    def shown(m: str, v: float, fmt: str) -> str:
        """A figure, or `diverged` for a run the NaN/Inf guard stopped (its numbers are meaningless)."""
        return "diverged" if diverged[m] or not is_finite(v) else format(v, fmt)

    r.claim(
        "raw, unscaled inputs break plain gradient descent at a normal learning rate",
        "without preprocessing the training loss diverges (NaN/Inf) or ends ≥ 2× higher than with `scale`",
        f"final training loss: none {shown('none', last['none'], '.4g')}, scale {shown('scale', last['scale'], '.4g')}",
        not is_finite(last["none"]) or last["none"] >= 2 * last["scale"],
    )
    r.claim(
        "zero-centred inputs converge faster than all-positive ones",
        "training loss after epoch 1 lower with `standardize` (centred, unit variance) than with `scale` (in [0, 1])",
        f"standardize {shown('standardize', first['standardize'], '.4f')}, scale "
        f"{shown('scale', first['scale'], '.4f')}",
        first["standardize"] < first["scale"],
    )
    finite = [m for m in METHODS if is_finite(acc[m])]
    best = max(finite, key=lambda m: acc[m]) if finite else METHODS[0]
    r.claim(
        "preprocessing changes the final accuracy, not only the speed",
        "best test accuracy minus worst (a diverged run counts as chance) ≥ 0.02",
        ", ".join(f"{m} {shown(m, acc[m], '.3f')}" for m in METHODS),
        bool(finite)
        and acc[best] - min(a if is_finite(a) else 1 / fits[best].setup.data.num_classes for a in acc.values()) >= 0.02,
    )
    xw = fits["pca_whiten"].setup.data.train.x
    cw = covariance(xw)
    diag = cw.diagonal()
    live = diag > 0.01  # directions the data actually varies in (constant pixels whiten to 0)
    off = (cw - torch.diag(diag)).abs().max().item()
    dvar = (diag[live] - 1).abs().max().item()
    r.claim(
        "PCA whitening decorrelates the inputs and gives each unit variance",
        "whitened training inputs: every covariance off the diagonal < 0.05 in size, and every variance within 0.05 "
        "of 1 "
        "(directions with no variance in the data excepted)",
        f"largest off-diagonal {off:.2g}; variances {diag[live].min().item():.3f}–{diag[live].max().item():.3f} over "
        f"{int(live.sum())} directions ({int((~live).sum())} without variance)",
        off < 0.05 and dvar < 0.05,
    )

    r.heading("Results")
    r.table(
        ["data.preprocess", "train loss after epoch 1", f"after epoch {epochs}", "test accuracy", "status"],
        [
            [
                f"`{m}`",
                shown(m, first[m], ".4g"),
                shown(m, last[m], ".4g"),
                shown(m, acc[m], ".3f"),
                why(fits[m]) if diverged[m] else fits[m].trainer.status,
            ]
            for m in METHODS
        ],
    )
    if any(diverged.values()):
        r.text(
            "A diverged run's loss became NaN or Inf and the NaN/Inf guard stopped it: "
            + "; ".join(f"`{m}` — {why(fits[m])}" for m in METHODS if diverged[m])
            + ". Inputs left at the raw pixel scale (`none`, and `mean_image` / `per_channel_mean`, "
            "which only subtract a mean) "
            "give first-layer gradients hundreds of times larger than scaled inputs do, so a step at lr 0.01 "
            "overshoots and the loss explodes."
        )
    fig, axes = new_figure(1, 1, (4.6, 3.2))
    for m, f in fits.items():
        axes[0][0].plot(
            [h["epoch"] for h in f.history],
            [h["train_loss"] if is_finite(h["train_loss"]) else float("nan") for h in f.history],
            marker="o",
            ms=3,
            label=m,
        )
    axes[0][0].set_yscale("log")
    axes[0][0].set_xlabel("epoch")
    axes[0][0].set_ylabel("training loss")
    axes[0][0].legend(fontsize=7)
    r.figure(fig, "preprocessing-loss", "Training loss per epoch for each preprocessing (a missing curve diverged).")
    r.heading("Covariance before and after whitening")
    cs = covariance(fits["standardize"].setup.data.train.x)
    k = min(40, len(cs))
    fig, axes = new_figure(2, 1, (3.6, 3.2))
    for ax, c, t in ((axes[0][0], cs, "standardize"), (axes[0][1], cw, "pca_whiten")):
        im = ax.imshow(
            c[:k, :k].numpy(), cmap="RdBu_r", vmin=-float(c[:k, :k].abs().max()), vmax=float(c[:k, :k].abs().max())
        )
        ax.set_title(f"{t}: covariance of the first {k} features", fontsize=8)
        fig.colorbar(im, ax=ax, fraction=0.046)
    r.figure(
        fig,
        "preprocessing-covariance",
        "Left: neighbouring pixels are strongly correlated. Right: after PCA whitening the covariance is the identity "
        "(features are principal components).",
    )
    return r
