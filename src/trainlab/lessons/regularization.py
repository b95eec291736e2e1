"""Lesson ``regularization``: a big network on 1,000 examples, and six ways to make it generalize.

The same MLP is trained on a 1,000-example subset with no regularization, L2 (``optim.weight_decay``),
L1 (``loss.l1``), dropout (``model.dropout``), augmentation (``data.augment``) and early stopping
(``train.patience``); each is judged by its train/test gap and test accuracy, and the first layer's
weights are compared (L1 makes them sparse).
"""

from __future__ import annotations

from trainlab.lessons import LESSONS
from trainlab.lessons.base import Fitted, LessonContext, Report, new_figure, pm, spread

SMALL = 1e-4  # |w| below this counts as zero (typical first-layer weights are about 0.05)


@LESSONS.register("regularization", "1,000 examples: none vs L2 vs L1 vs dropout vs augmentation vs early stopping")
def lesson(ctx: LessonContext) -> Report:
    """Run the regularization lesson."""
    r = Report("regularization", "regularization trades training fit for test accuracy")
    epochs, width = ctx.pick(15, 60), ctx.pick(256, 512)
    data = {"data.name": ctx.pick("digits", "fashion-mnist"), "data.limit": ctx.pick(500, 1000), "data.val": 0.2}
    variants = {
        "none": {},
        "L2": {"optim.weight_decay": 0.01},
        "L1": {"loss.l1": 1e-4},
        "dropout": {"model.dropout": 0.5},
        "augmentation": {"data.augment": [ctx.pick("shift(1)", "shift(2)")]},
        "early stopping": {"train.patience": 5},
    }
    r.text(f"An MLP [{width}, {width}] (relu, kaiming-normal, SGD + momentum 0.9, lr 0.05, batch 64, up to {epochs} epochs; with plain SGD the penalties act as the textbook describes, Adam would rescale them) on "
           f"{ctx.pick('500 digits', '1,000 Fashion-MNIST examples')}, 20% of them held out for validation (early stopping "
           "watches val_loss and restores the best weights). The gap is train accuracy minus test accuracy.")
    # test accuracies differ by hundredths here: each variant runs from several seeds, judged on the mean with its spread
    seeds = [ctx.seed + k for k in range(ctx.pick(1, 3))]
    runs: dict[str, list[Fitted]] = {}
    for k, keys in variants.items():
        runs[k] = [ctx.fit(ctx.config(**data, **{"model.hidden": [width, width], "optim.name": "sgd(momentum=0.9)", "optim.lr": 0.05,
                                                  "optim.batch_size": 64, "train.epochs": epochs, "seed": sd, **keys}), label=f"{k} seed {sd}")
                   for sd in seeds]
    fits = {k: fs[0] for k, fs in runs.items()}
    trs = {k: [f.evaluate("train")["accuracy"] for f in fs] for k, fs in runs.items()}
    tes = {k: [f.evaluate("test")["accuracy"] for f in fs] for k, fs in runs.items()}
    gaps = {k: [a - b for a, b in zip(trs[k], tes[k], strict=True)] for k in runs}
    tr, te, gap = ({k: spread(v)[0] for k, v in d.items()} for d in (trs, tes, gaps))
    w1 = {k: f.model.fc1.weight.detach().flatten().cpu() for k, f in fits.items()}
    small = {k: (w.abs() < SMALL).float().mean().item() for k, w in w1.items()}
    regs = [k for k in variants if k != "none"]
    over = f" (mean ± std over seeds {seeds})" if len(seeds) > 1 else ""

    r.claim("without regularization a big network overfits a small training set",
            "train accuracy − test accuracy > 0.1 with no regularization" + (" (mean over seeds)" if over else ""),
            f"train {pm(trs['none'], 3)}, test {pm(tes['none'], 3)}, gap {pm(gaps['none'], 3)}{over}", gap["none"] > 0.1)
    narrower = [k for k in regs if gap[k] < gap["none"]]
    r.claim("each regularizer narrows the train/test gap",
            "gap smaller than without regularization, for every one of L2, L1, dropout, augmentation, early stopping" + (" (means over seeds)" if over else ""),
            f"{len(narrower)} of {len(regs)} narrower: " + ", ".join(f"{k} {pm(gaps[k], 3)}" for k in regs) + f" (none {pm(gaps['none'], 3)}){over}",
            len(narrower) == len(regs))
    best = max(regs, key=lambda k: te[k])
    r.claim("regularization improves test accuracy",
            "the best regularizer's test accuracy exceeds the unregularized one's by ≥ 0.01" + (" (means over seeds)" if over else ""),
            f"best: {best} {pm(tes[best], 3)} vs none {pm(tes['none'], 3)}{over}", te[best] >= te["none"] + 0.01)
    r.claim("L1 drives weights to zero (sparsity); L2 only shrinks them",
            f"fraction of first-layer weights with |w| < {SMALL:g}: L1 ≥ 2× L2's and ≥ 2× none's (seed {seeds[0]})",
            f"L1 {small['L1']:.1%}, L2 {small['L2']:.1%}, none {small['none']:.1%}",
            small["L1"] >= 2 * small["L2"] and small["L1"] >= 2 * small["none"])

    r.heading("Results")
    r.table(["regularizer", "config", "epochs run", "train accuracy", "test accuracy", "gap", f"|w| < {SMALL:g} (fc1)"],
            [[k, " ".join(f"`{a}={b}`" for a, b in variants[k].items()) or "—", "/".join(str(len(g.history)) for g in runs[k]),
              pm(trs[k], 3), pm(tes[k], 3), pm(gaps[k], 3), f"{small[k]:.1%}"] for k in fits])
    if over:
        r.text(f"Accuracies and gaps are mean ± standard deviation over seeds {seeds}; weights, plots and epochs-run columns per seed, in that order.")
    fig, axes = new_figure(2, 1, (4.4, 3.2))
    ks = list(fits)
    axes[0][0].bar(range(len(ks)), [tr[k] for k in ks], width=0.4, label="train")
    axes[0][0].bar([i + 0.4 for i in range(len(ks))], [te[k] for k in ks], width=0.4, label="test")
    axes[0][0].set_xticks([i + 0.2 for i in range(len(ks))], ks, rotation=30, fontsize=7)
    axes[0][0].set_ylim(min(te.values()) - 0.1, 1.01)
    axes[0][0].set_ylabel("accuracy")
    axes[0][0].legend(fontsize=7)
    for k in ("none", "L2", "L1"):
        w = w1[k]
        lim = float(w.abs().quantile(0.99))
        axes[0][1].hist(w.clamp(-lim, lim).numpy(), bins=120, histtype="step", label=k, log=True)
    axes[0][1].set_xlabel("first-layer weight")
    axes[0][1].legend(fontsize=7)
    r.figure(fig, "regularization", "Left: train and test accuracy per regularizer. Right: first-layer weights (log counts): L1 piles them up at 0.")
    fig, axes = new_figure(1, 1, (4.6, 3.0))
    for k, f in fits.items():  # the first seed's runs
        axes[0][0].plot([m["epoch"] for m in f.history], [m["val_loss"] for m in f.history], label=k)
    axes[0][0].set_xlabel("epoch")
    axes[0][0].set_ylabel("validation loss")
    axes[0][0].legend(fontsize=7)
    r.figure(fig, "regularization-val-loss", "Validation loss per epoch: unregularized, it turns up as the network memorizes the training set.")
    return r
