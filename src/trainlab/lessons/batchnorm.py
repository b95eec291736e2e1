"""Lesson ``batchnorm``: what batch norm buys (higher learning rates) and how it behaves in each mode.

The same MLP with and without ``model.norm=batch`` is trained with plain SGD across learning rates.
Then, on the trained batch-norm net: outputs in ``train()`` mode depend on the rest of the batch
while ``eval()`` mode uses the running statistics; the running statistics converge to the data's
statistics as an exponential moving average; and evaluating in train mode with tiny batches fails.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from trainlab.lessons import LESSONS
from trainlab.lessons.base import Fitted, LessonContext, Report, is_finite, new_figure


def _usable(accs: dict[float, float], best: float) -> float:
    """The largest learning rate whose test accuracy is at least 90% of the best seen anywhere."""
    ok = [lr for lr, a in accs.items() if is_finite(a) and a >= 0.9 * best]
    return max(ok) if ok else 0.0


@LESSONS.register("batchnorm", "batch norm across learning rates; train vs eval mode; running statistics; batch size 1")
def lesson(ctx: LessonContext) -> Report:
    """Run the batch-norm lesson."""
    r = Report("batchnorm", "batch norm: higher learning rates, and two modes that must not be mixed up")
    lrs = ctx.pick([0.03, 0.3, 3.0], [0.01, 0.1, 1.0, 3.0])
    data = {"data.name": ctx.pick("digits", "fashion-mnist"), "data.limit": ctx.pick(None, 10000), "data.val": 0}
    hidden = [256, 256, 256]
    epochs = ctx.pick(4, 5)
    r.text(
        f"An MLP {hidden} (relu, kaiming-normal) on {ctx.pick('digits', 'Fashion-MNIST (10,000 examples)')}, "
        f"trained with plain SGD (batch 64, {epochs} epochs) at learning rates {lrs}, with `model.norm=none` and "
        "`model.norm=batch` (batch norm after each Linear, before the activation)."
    )
    fits: dict[tuple[str, float], Fitted] = {}
    acc: dict[str, dict[float, float]] = {"none": {}, "batch": {}}
    runs = [(norm, lr) for norm in ("none", "batch") for lr in lrs]
    cfgs = [
        ctx.config(
            **data,
            **{
                "model.hidden": hidden,
                "model.norm": norm,
                "optim.name": "sgd",
                "optim.lr": lr,
                "optim.batch_size": 64,
                "train.epochs": epochs,
            },
        )
        for norm, lr in runs
    ]
    fits.update(
        zip(runs, ctx.fit_many(cfgs, [f"norm={norm} lr={lr}" for norm, lr in runs]), strict=True)
    )  # norm=none's rates stacked
    for (norm, lr), f in fits.items():
        a = f.evaluate("test")["accuracy"]
        acc[norm][lr] = (
            a if is_finite(f.final("train_loss")) else float("nan")
        )  # a diverged run has no accuracy to speak of
    best = max(a for d in acc.values() for a in d.values() if is_finite(a))
    usable = {n: _usable(acc[n], best) for n in acc}
    r.claim(
        "batch norm allows higher learning rates",
        "largest learning rate reaching ≥ 90% of the best test accuracy is higher with batch norm than without",
        f"with batch norm up to lr {usable['batch']:g}, without up to lr {usable['none']:g} "
        f"(at lr {lrs[-1]:g}: {acc['batch'][lrs[-1]]:.3f} vs {acc['none'][lrs[-1]]:.3f})",
        usable["batch"] > usable["none"],
    )

    # the trained batch-norm net at its best learning rate
    lr_bn = max(lrs, key=lambda lr: acc["batch"][lr] if is_finite(acc["batch"][lr]) else -1)
    fit = fits["batch", lr_bn]
    model = copy.deepcopy(fit.model)  # train-mode forwards update running stats: work on a copy
    test = fit.setup.data.test
    x, y = test.x[:512], test.y[:512]
    with torch.no_grad():
        model.eval()
        e_a, e_b = model(x[:64]), model(torch.cat([x[:1], x[64:127]]))
        model.train()
        t_a, t_b = model(x[:64]), model(torch.cat([x[:1], x[64:127]]))
    dep_train = (t_a[0] - t_b[0]).abs().max().item()
    dep_eval = (e_a[0] - e_b[0]).abs().max().item()
    r.claim(
        "in train mode an example's output depends on the rest of its batch; in eval mode it does not",
        "example 0 in two different batches of 64: output change > 1e-3 in train mode and < 1e-6 in eval mode",
        f"train mode {dep_train:.3g}, eval mode {dep_eval:.2g}",
        dep_train > 1e-3 and dep_eval < 1e-6,
    )

    # running statistics: reset them, then feed training batches (weights fixed) and watch them converge
    model = copy.deepcopy(fit.model)
    bn: nn.BatchNorm1d = next(m for m in model.modules() if isinstance(m, nn.BatchNorm1d))
    fc1 = model.fc1
    xtr = fit.setup.data.train.x
    with torch.no_grad():
        pre = fc1(model.flatten(xtr))  # what the first batch-norm layer sees
        true_mean, true_var = pre.mean(0), pre.var(0)
        bn.reset_running_stats()
        model.train()
        err_mean, err_var = [], []
        g = torch.Generator().manual_seed(ctx.seed)
        for _ in range(100):  # random batches of 64, as training would draw them
            model(xtr[torch.randint(0, len(xtr), (64,), generator=g).to(xtr.device)])
            err_mean.append(((bn.running_mean - true_mean).norm() / true_mean.norm()).item())
            err_var.append(((bn.running_var - true_var).norm() / true_var.norm()).item())
    k = len(err_mean) - 1
    r.claim(
        "the running statistics converge to the data's statistics (an exponential moving average, momentum 0.1)",
        f"after {k + 1} batches of 64 (weights fixed, stats reset) the running mean and variance are within 10% of "
        "the training set's",
        f"relative error after 1 batch: mean {err_mean[0]:.2f}, var {err_var[0]:.2f}; after {k + 1}: mean "
        f"{err_mean[k]:.3f}, var {err_var[k]:.3f}",
        err_mean[k] < 0.1 and err_var[k] < 0.1,
    )

    # evaluating in train mode with tiny batches
    model = copy.deepcopy(fit.model)
    model.train()
    try:
        with torch.no_grad():
            model(x[:1])
        b1 = "runs (no error)"
        b1_fails = False
    except ValueError as exc:
        b1 = f"ValueError: {str(exc).splitlines()[0].split(', got')[0][:80]}"
        b1_fails = True
    with torch.no_grad():
        out2 = torch.cat([model(x[i : i + 2]) for i in range(0, len(x) - 1, 2)])
        acc_train2 = (out2.argmax(1) == y[: len(out2)]).float().mean().item()
        model.eval()
        acc_eval = (model(x).argmax(1) == y).float().mean().item()
    r.claim(
        "evaluating in train mode with batch size 1 or 2 goes wrong",
        "batch size 1 in train mode raises an error, and batch-2 train-mode accuracy is ≥ 0.05 below eval-mode "
        "accuracy",
        f"batch 1: {b1}; batch 2 in train mode {acc_train2:.3f} vs eval mode {acc_eval:.3f} (512 test examples)",
        b1_fails and acc_train2 <= acc_eval - 0.05,
    )

    r.heading("Test accuracy by learning rate")
    r.text("NaN: the training loss diverged (became NaN/Inf).")
    r.table(["learning rate", "no norm", "batch norm"], [[lr, acc["none"][lr], acc["batch"][lr]] for lr in lrs])
    fig, axes = new_figure(2, 1, (4.2, 3.2))
    for norm, ls in (("none", "--"), ("batch", "-")):
        axes[0][0].plot(
            lrs, [acc[norm][lr] if is_finite(acc[norm][lr]) else 0 for lr in lrs], ls, marker="o", label=f"norm={norm}"
        )
        for lr in lrs:
            h = [m["train_loss"] for m in fits[norm, lr].history]
            axes[0][1].plot(range(1, len(h) + 1), h, ls, label=f"{norm} lr={lr:g}")
    axes[0][0].set_xscale("log")
    axes[0][0].set_xlabel("learning rate")
    axes[0][0].set_ylabel("test accuracy (diverged = 0)")
    axes[0][0].legend(fontsize=7)
    axes[0][1].set_yscale("log")
    axes[0][1].set_xlabel("epoch")
    axes[0][1].set_ylabel("train loss")
    axes[0][1].legend(fontsize=6)
    r.figure(fig, "batchnorm-lr", "Left: test accuracy against learning rate. Right: training loss per epoch.")
    fig, axes = new_figure(1, 1, (4.5, 3.0))
    axes[0][0].plot(range(1, len(err_mean) + 1), err_mean, label="running mean")
    axes[0][0].plot(range(1, len(err_var) + 1), err_var, label="running var")
    axes[0][0].set_yscale("log")
    axes[0][0].set_xlabel("batches seen since reset")
    axes[0][0].set_ylabel("relative error vs training set")
    axes[0][0].legend()
    r.figure(
        fig,
        "batchnorm-running-stats",
        "First batch-norm layer: running statistics converging to the training set's mean and variance.",
    )
    r.heading("Train mode vs eval mode")
    r.text(
        f"Batch-norm net trained at lr {lr_bn:g}. In `train()` mode each feature is normalized with the statistics "
        "of the current batch (so outputs depend on the batch), and the running averages are updated; in "
        "`eval()` mode the running averages are used, so each example's output is its own. Evaluate with "
        "`model.eval()` (trainlab's evaluation always does); batch size 1 in train mode has no variance to normalize "
        "by."
    )
    return r
