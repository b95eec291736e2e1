"""Lesson ``regularization``: a wide network that memorizes a few hundred examples, and six ways to make it generalize.

The regime the textbook claim is about: an MLP with far more parameters than training examples,
trained with no early stopping until it fits its training set exactly. The same MLP is then trained
with L2 (``optim.weight_decay``), L1 (``loss.l1``), dropout 0.5 on the hidden layers
(``model.dropout``), augmentation (``data.augment``) and early stopping (``train.patience``); the L2
and L1 strengths are picked on the validation split of the first seed from a small grid, never on
test. Each is judged over several seeds by its train/test gap, test accuracy and test loss, and the
first layer's weights are compared (L1 makes them sparse).
"""

from __future__ import annotations

from typing import Any

from trainlab.lessons import LESSONS
from trainlab.lessons.base import Fitted, LessonContext, Report, new_figure, pm, spread

SMALL = 1e-4  # |w| below this counts as zero (typical first-layer weights are about 0.05)
GRIDS = {"L2": ("optim.weight_decay", (1e-4, 1e-3, 1e-2)), "L1": ("loss.l1", (1e-5, 1e-4, 1e-3))}  # standard decades


@LESSONS.register(
    "regularization",
    "300 examples, a wide MLP trained to memorize: none vs L2 vs L1 vs dropout vs augmentation vs early stopping",
)
def lesson(ctx: LessonContext) -> Report:
    """Run the regularization lesson."""
    r = Report("regularization", "regularization trades training fit for test accuracy")
    epochs, width = ctx.pick(30, 60), 256
    # a validation split of 100 examples to pick strengths and stop early on; 300 examples to train on
    data = {"data.name": ctx.pick("digits", "fashion-mnist"), "data.limit": ctx.pick(400, 400), "data.val": 100}
    # lr 0.01: at 0.05 dropout 0.5 underfit (train accuracy 0.83 after 60 epochs, 0.84 after 150), so it was judged
    # untrained
    base = {
        **data,
        "model.hidden": [width, width],
        "optim.name": "sgd(momentum=0.9)",
        "optim.lr": 0.01,
        "optim.schedule": "cosine",
        "optim.batch_size": 32,
        "train.epochs": epochs,
    }
    fixed: dict[str, dict[str, Any]] = {
        "dropout": {"model.dropout": 0.5},  # Srivastava et al. 2014's hidden-layer rate
        "augmentation": {"data.augment": ["shift(1)"]},
        "early stopping": {"train.patience": 10},
    }
    seeds = [ctx.seed + k for k in range(ctx.pick(1, 3))]
    over = f" (mean ± std over seeds {seeds})" if len(seeds) > 1 else ""

    def fit_all(
        runs: list[tuple[str, dict[str, Any], int]],
    ) -> list[Fitted]:  # (label, keys, seed) each; stacked where they allow it
        return ctx.fit_many(
            [ctx.config(**base, **keys, seed=seed) for _, keys, seed in runs],
            [f"{label} seed {seed}" for label, _, seed in runs],
        )

    # strengths from the validation split of the first seed; that seed's runs are reused as its runs
    grid = [(k, v) for k, (_, values) in GRIDS.items() for v in values]
    grid_fits = fit_all([(f"{k} {v:g}", {GRIDS[k][0]: v}, seeds[0]) for k, v in grid])
    grid_runs: dict[str, dict[float, Fitted]] = {
        k: {v: f for (gk, v), f in zip(grid, grid_fits, strict=True) if gk == k} for k in GRIDS
    }
    grid_val = {k: {v: f.final("val_accuracy") for v, f in runs.items()} for k, runs in grid_runs.items()}
    chosen = {
        k: max(vals, key=lambda v, vals=vals: (vals[v], -v)) for k, vals in grid_val.items()
    }  # ties: the weaker penalty
    variants = {"none": {}, **{k: {GRIDS[k][0]: chosen[k]} for k in GRIDS}, **fixed}
    todo = [(k, keys, sd) for k, keys in variants.items() for sd in seeds if not (k in GRIDS and sd == seeds[0])]
    done = dict(zip([(k, sd) for k, _, sd in todo], fit_all(todo), strict=True))
    runs: dict[str, list[Fitted]] = {
        k: [grid_runs[k][chosen[k]] if (k, sd) not in done else done[k, sd] for sd in seeds] for k in variants
    }

    fits = {k: fs[0] for k, fs in runs.items()}
    evals = {k: [(f.evaluate("train"), f.evaluate("test")) for f in fs] for k, fs in runs.items()}
    trs = {k: [a["accuracy"] for a, _ in ev] for k, ev in evals.items()}
    tes = {k: [b["accuracy"] for _, b in ev] for k, ev in evals.items()}
    tls = {k: [b["loss"] for _, b in ev] for k, ev in evals.items()}
    gaps = {k: [a - b for a, b in zip(trs[k], tes[k], strict=True)] for k in runs}
    tr, te, gap, tl = ({k: spread(v)[0] for k, v in d.items()} for d in (trs, tes, gaps, tls))
    w1 = {k: f.model.fc1.weight.detach().flatten().cpu() for k, f in fits.items()}
    small = {k: (w.abs() < SMALL).float().mean().item() for k, w in w1.items()}
    regs = [k for k in variants if k != "none"]
    means = " (means over seeds)" if over else ""

    r.text(
        f"An MLP [{width}, {width}] ({sum(p.numel() for p in fits['none'].model.parameters()):,} parameters; relu, "
        "kaiming-normal) "
        f"on {ctx.pick('300 digits', '300 Fashion-MNIST examples')} (`data.limit=400 data.val=100`: 100 held out for "
        "validation), SGD + momentum 0.9, "
        f"lr 0.01 with cosine annealing, batch 32, {epochs} epochs and no early stopping (but in the early-stopping "
        "variant): "
        "long enough that the unregularized network fits every training example. With plain SGD the penalties act as "
        "the textbook "
        "describes (Adam would rescale them). Dropout is 0.5 on the hidden layers; augmentation shifts each training "
        "image by up to "
        "1 pixel; early stopping watches val_loss with patience 10 and restores the best weights. The L2 and L1 "
        "strengths are chosen "
        f"from the grids {', '.join(f'`{k}={list(v)}`' for k, v in GRIDS.values())} by the first seed's validation "
        "accuracy; test data "
        "never picks anything. The gap is train accuracy minus test accuracy."
    )

    r.claim(
        "without regularization a big network overfits a small training set",
        f"with no regularization, train accuracy ≥ 0.99 and train accuracy − test accuracy > 0.1{means}",
        f"train {pm(trs['none'], 3)}, test {pm(tes['none'], 3)}, gap {pm(gaps['none'], 3)}{over}",
        tr["none"] >= 0.99 and gap["none"] > 0.1,
    )
    narrower = [k for k in regs if gap[k] < gap["none"]]
    r.claim(
        "each regularizer narrows the train/test gap",
        f"gap smaller than without regularization, for every one of {', '.join(regs)}{means}",
        f"{len(narrower)} of {len(regs)} narrower: "
        + ", ".join(f"{k} {pm(gaps[k], 3)}" for k in regs)
        + f" (none {pm(gaps['none'], 3)}){over}",
        len(narrower) == len(regs),
    )
    best = max(regs, key=lambda k: te[k])
    r.claim(
        "regularization improves test accuracy",
        f"the best regularizer's test accuracy exceeds the unregularized one's by ≥ 0.01{means}",
        f"best: {best} {pm(tes[best], 3)} vs none {pm(tes['none'], 3)}{over}",
        te[best] >= te["none"] + 0.01,
    )
    lower = [k for k in regs if tl[k] < tl["none"]]
    r.claim(
        "regularization keeps a memorizing network from growing overconfident: it lowers the test loss",
        f"test cross-entropy lower than without regularization, for every one of {', '.join(regs)}{means}",
        f"{len(lower)} of {len(regs)} lower: "
        + ", ".join(f"{k} {pm(tls[k], 3)}" for k in regs)
        + f" (none {pm(tls['none'], 3)}){over}",
        len(lower) == len(regs),
    )
    r.claim(
        "L1 drives weights to zero (sparsity); L2 only shrinks them",
        f"fraction of first-layer weights with |w| < {SMALL:g}: L1 ≥ 2× L2's and ≥ 2× none's (seed {seeds[0]}, "
        "strengths as chosen)",
        f"L1 ({chosen['L1']:g}) {small['L1']:.1%}, L2 ({chosen['L2']:g}) {small['L2']:.1%}, none {small['none']:.1%}",
        small["L1"] >= 2 * small["L2"] and small["L1"] >= 2 * small["none"],
    )

    r.heading("Strengths chosen on validation")
    r.table(
        ["penalty", "strength", f"validation accuracy (seed {seeds[0]})", "chosen"],
        [
            [k, f"`{GRIDS[k][0]}={v:g}`", a, "✓" if v == chosen[k] else ""]
            for k, vals in grid_val.items()
            for v, a in vals.items()
        ],
    )
    r.heading("Results")
    r.table(
        [
            "regularizer",
            "config",
            "epochs run",
            "train accuracy",
            "test accuracy",
            "gap",
            "test loss",
            f"|w| < {SMALL:g} (fc1)",
        ],
        [
            [
                k,
                " ".join(f"`{a}={b}`" for a, b in variants[k].items()) or "—",
                "/".join(str(len(g.history)) for g in runs[k]),
                pm(trs[k], 3),
                pm(tes[k], 3),
                pm(gaps[k], 3),
                pm(tls[k], 3),
                f"{small[k]:.1%}",
            ]
            for k in fits
        ],
    )
    if over:
        r.text(
            f"Accuracies, gaps and losses are mean ± standard deviation over seeds {seeds} (each seed draws its own "
            "400 examples "
            f"and split); weights and plots are seed {seeds[0]}'s, epochs run per seed in that order."
        )
    fig, axes = new_figure(2, 1, (4.4, 3.2))
    ks = list(fits)
    axes[0][0].bar(range(len(ks)), [tr[k] for k in ks], width=0.4, label="train")
    axes[0][0].bar(
        [i + 0.4 for i in range(len(ks))],
        [te[k] for k in ks],
        width=0.4,
        yerr=[spread(tes[k])[1] for k in ks],
        label="test",
    )
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
    r.figure(
        fig,
        "regularization",
        "Left: train and test accuracy per regularizer (test: mean ± std over seeds). Right: first-layer weights (log "
        "counts): L1 piles them up at 0.",
    )
    fig, axes = new_figure(1, 1, (4.6, 3.0))
    for k, f in fits.items():  # the first seed's runs
        axes[0][0].plot([m["epoch"] for m in f.history], [m["val_loss"] for m in f.history], label=k)
    axes[0][0].set_xlabel("epoch")
    axes[0][0].set_ylabel("validation loss")
    axes[0][0].legend(fontsize=7)
    r.figure(
        fig,
        "regularization-val-loss",
        "Validation loss per epoch: unregularized, it turns up as the network memorizes the training set.",
    )
    return r
