"""Lesson ``losses``: what each loss optimizes, and where the textbook form breaks numerically.

Four experiments, all with the library's losses by name: a line fitted through outliers with
``mse``, ``mae`` and ``huber``; ``nll`` after log-softmax against ``cross_entropy``; ``bce`` after an
explicit sigmoid against ``bce_with_logits`` on extreme logits; and ``mse`` against
``cross_entropy`` for classification.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from trainlab.lessons import LESSONS
from trainlab.lessons.base import Fitted, LessonContext, Report, new_figure
from trainlab.nn.losses import LossContext, make_loss

TRUE_W, TRUE_B = 2.0, -1.0
ROBUST = ("mse", "mae", "huber")


def _fit_line(ctx: LessonContext, loss: str, outliers: float) -> tuple[Fitted, float, float]:
    """Fit y = wx + b (model ``linear`` on data ``line``) with a loss; the fitted w and b."""
    cfg = ctx.config(
        **{
            "data.name": f"line(w={TRUE_W},b={TRUE_B},size=200,outliers={outliers})",
            "data.preprocess": "none",
            "data.val": 0,
            "model.name": "linear",
            "loss.name": loss,
            "optim.lr": 0.05,
            "optim.batch_size": 32,
            "train.epochs": ctx.pick(60, 150),
        }
    )
    fit = ctx.fit(cfg, label=f"line, outliers {outliers:.0%}: {loss}")
    out = fit.model.out
    return fit, out.weight.item(), out.bias.item()


@LESSONS.register(
    "losses", "MSE vs MAE vs Huber with outliers; NLL = cross-entropy; BCE vs BCE-with-logits; MSE vs CE for classes"
)
def lesson(ctx: LessonContext) -> Report:
    """Run the losses lesson."""
    r = Report("losses", "a loss is a modelling choice, and a numerical one")
    # 1. regression with outliers
    outliers = 0.1
    lines = {loss: _fit_line(ctx, loss, outliers) for loss in ROBUST}
    err = {k: abs(w - TRUE_W) + abs(b - TRUE_B) for k, (_, w, b) in lines.items()}
    test_mae = {k: f.evaluate("test")["mae"] for k, (f, _, _) in lines.items()}
    r.claim(
        "MSE is pulled by outliers; MAE and Huber are robust",
        f"with {outliers:.0%} of training targets moved by +10: parameter error |w−2|+|b+1| of MSE > 3× that of MAE "
        "and of Huber",
        ", ".join(f"{k} {err[k]:.3f}" for k in ROBUST),
        err["mse"] > 3 * err["mae"] and err["mse"] > 3 * err["huber"],
    )

    # 2. log_softmax + NLL is cross-entropy
    g = torch.Generator().manual_seed(ctx.seed)
    logits = (torch.randn(1000, 10, generator=g) * 5).requires_grad_()
    y = torch.randint(0, 10, (1000,), generator=g)
    lctx = LossContext("classification", 10)
    ce, nll = make_loss("cross_entropy", lctx)(logits, y), make_loss("nll", lctx)(logits, y)
    (g_ce,) = torch.autograd.grad(ce, logits)
    (g_nll,) = torch.autograd.grad(nll, logits)
    d_loss, d_grad = (ce - nll).abs().item(), (g_ce - g_nll).abs().max().item()
    r.claim(
        "log_softmax followed by NLL is exactly cross-entropy",
        "losses and gradients of `nll` and `cross_entropy` agree within 1e-6 on 1,000 random logit vectors (scale 5)",
        f"loss difference {d_loss:.1e} (loss {ce.item():.4f}), largest gradient difference {d_grad:.1e}",
        d_loss < 1e-6 and d_grad < 1e-6,
    )

    # 3. BCE after a sigmoid vs BCE with logits, on confident wrong predictions
    z = torch.tensor([-100.0, -50.0, -20.0, -10.0, 10.0, 20.0, 50.0, 100.0])
    t = (z < 0).long()  # the target is the other class: the model is confidently wrong
    ref_loss = F.softplus(torch.where(t == 1, -z, z).double())  # exact −log σ(±z), in float64
    ref_grad = torch.sigmoid(z.double()) - t.double()
    bctx = LossContext("classification", 2)
    rows, worst = [], {"bce": 0.0, "bce_with_logits": 0.0}
    per = {}
    for name in worst:
        loss_fn = make_loss(name, bctx)
        vals, grads = [], []
        for zi, ti in zip(z, t, strict=True):
            zz = zi.clone().reshape(1, 1).requires_grad_()
            lv = loss_fn(zz, ti.reshape(1))
            (gv,) = torch.autograd.grad(lv, zz)
            vals.append(lv.item())
            grads.append(gv.item())
        per[name] = (vals, grads)
        rel = [
            max(abs(v - rl) / rl, abs(gr - rg) / abs(rg))
            for v, gr, rl, rg in zip(vals, grads, ref_loss.tolist(), ref_grad.tolist(), strict=True)
        ]
        worst[name] = max(rel)
    for i, zi in enumerate(z.tolist()):
        rows.append(
            [
                zi,
                int(t[i]),
                ref_loss[i].item(),
                per["bce"][0][i],
                per["bce_with_logits"][0][i],
                ref_grad[i].item(),
                per["bce"][1][i],
                per["bce_with_logits"][1][i],
            ]
        )
    r.claim(
        "BCE after an explicit sigmoid breaks on extreme logits; BCE-with-logits stays exact",
        "largest relative error of loss or gradient vs float64 on logits ±10…±100: `bce` > 1%, `bce_with_logits` < "
        "1e-4",
        f"bce off by up to {worst['bce']:.0%}, bce_with_logits by {worst['bce_with_logits']:.1e} (relative)",
        worst["bce"] > 0.01 and worst["bce_with_logits"] < 1e-4,
    )

    # 4. MSE vs cross-entropy for classification
    data = {"data.name": ctx.pick("digits", "fashion-mnist"), "data.limit": ctx.pick(600, 10000), "data.val": 0}
    losses = ("cross_entropy", "mse")
    cfgs = [
        ctx.config(
            **data,
            **{
                "model.hidden": [128],
                "loss.name": loss,
                "optim.name": "sgd",
                "optim.lr": 0.1,
                "optim.batch_size": 64,
                "train.epochs": ctx.pick(5, 5),
            },
        )
        for loss in losses
    ]
    cls = dict(zip(losses, ctx.fit_many(cfgs, [f"classification: {loss}" for loss in losses]), strict=True))
    acc = {k: f.evaluate("test")["accuracy"] for k, f in cls.items()}
    r.claim(
        "for classification, cross-entropy trains better than MSE on softmax outputs",
        "with the same SGD settings, cross-entropy's test accuracy ≥ MSE's + 0.02",
        f"cross_entropy {acc['cross_entropy']:.3f}, mse {acc['mse']:.3f}",
        acc["cross_entropy"] >= acc["mse"] + 0.02,
    )

    # -- evidence ----------------------------------------------------------------------------------
    r.heading("Fitting a line through outliers")
    r.text(
        f"Data `line(w={TRUE_W},b={TRUE_B},size=200,outliers={outliers})`: y = 2x − 1 + noise, with {outliers:.0%} of "
        "the "
        "training targets shifted by +10 (the test set is clean). Model `linear` (one weight, one bias), Adam lr 0.05."
    )
    r.table(
        ["loss", "fitted w", "fitted b", "|w−2|+|b+1|", "test MAE (clean data)"],
        [[k, w, b, err[k], test_mae[k]] for k, (_, w, b) in lines.items()],
    )
    fig, axes = new_figure(1, 1, (5.0, 3.6))
    ax = axes[0][0]
    f0 = lines["mse"][0]
    xtr, ytr = f0.setup.data.train.x.cpu().flatten(), f0.setup.data.train.y.cpu().flatten()
    ax.scatter(xtr, ytr, s=6, c="0.5", label="training data")
    xs = torch.linspace(-1, 1, 2)
    ax.plot(xs, TRUE_W * xs + TRUE_B, "k--", lw=1, label="true line")
    for k, (_, w, b) in lines.items():
        ax.plot(xs, w * xs + b, lw=1.5, label=f"{k}: w={w:.2f}, b={b:.2f}")
    ax.legend(fontsize=7)
    r.figure(fig, "losses-outliers", "Lines fitted with mse, mae and huber; the outliers sit 10 above the line.")
    r.heading("BCE after sigmoid vs BCE with logits")
    r.text(
        "One logit z whose target is the other class. In float32 sigmoid(20) rounds to exactly 1, so `bce` takes "
        "log(1 − 1) = −inf, which torch clamps to −100, and its gradient through the saturated sigmoid vanishes. "
        "`bce_with_logits` computes log(1 + e^z) directly and stays exact."
    )
    r.table(
        [
            "logit",
            "target",
            "exact loss",
            "bce",
            "bce_with_logits",
            "exact dL/dz",
            "bce dL/dz",
            "bce_with_logits dL/dz",
        ],
        rows,
    )
    r.heading("MSE vs cross-entropy for classification")
    r.text(
        f"MLP [128] on {ctx.pick('digits (600 examples)', 'Fashion-MNIST (10,000 examples)')}, SGD lr 0.1, batch 64. "
        "`mse` compares the softmax with the one-hot target; when a wrong class is confidently predicted, its gradient "
        "is damped by the softmax's saturation, while cross-entropy's gradient stays p − y."
    )
    r.table(["loss", "final train loss", "test accuracy"], [[k, f.final("train_loss"), acc[k]] for k, f in cls.items()])
    fig, axes = new_figure(1, 1, (4.5, 3.0))
    for k, f in cls.items():
        axes[0][0].plot([m["epoch"] for m in f.history], [m["train_accuracy"] for m in f.history], marker="o", label=k)
    axes[0][0].set_xlabel("epoch")
    axes[0][0].set_ylabel("training accuracy")
    axes[0][0].legend()
    r.figure(fig, "losses-classification", "Training accuracy per epoch with cross-entropy and with MSE.")
    return r
