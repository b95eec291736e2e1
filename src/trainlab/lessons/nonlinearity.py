"""Lesson ``nonlinearity``: without an activation, depth buys nothing.

A stack of Linear layers (``model.act=identity``) computes x -> W_n...W_1 x + b, one affine map: the
lesson multiplies the trained layers' weights and checks the product against the network's outputs.
On xor and spirals, which no single line separates, the linear stack stays where one linear layer
is, while the same stack with ReLU fits; decision boundaries show why.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from trainlab.lessons import LESSONS
from trainlab.lessons.base import Fitted, LessonContext, Report, new_figure

DATASETS = ("xor", "spirals(classes=3)")  # the CS231n spiral set has three arms
MODELS = {  # label -> config keys
    "linear (one layer)": {"model.name": "linear"},
    "linear stack (identity)": {"model.name": "mlp", "model.act": "identity"},
    "MLP (relu)": {"model.name": "mlp", "model.act": "relu"},
}


def collapse(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """The single affine map (W, b) equal to a chain of Linear layers: W = W_n...W_1, b = W_n(...b_1...) + b_n."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    W = torch.eye(linears[0].in_features, dtype=torch.float64)
    b = torch.zeros(linears[0].in_features, dtype=torch.float64)
    for lin in linears:
        w = lin.weight.detach().double().cpu()
        W, b = w @ W, w @ b + lin.bias.detach().double().cpu()
    return W, b


def _boundary(ax: Any, fit: Fitted, title: str) -> None:
    """Predicted class over a grid, with the test points on top."""
    x, y = fit.setup.data.test.x.cpu(), fit.setup.data.test.y.cpu()
    lo, hi = x.min(0).values - 0.3, x.max(0).values + 0.3
    gx, gy = torch.meshgrid(torch.linspace(lo[0], hi[0], 150), torch.linspace(lo[1], hi[1], 150), indexing="xy")
    grid = torch.stack([gx.flatten(), gy.flatten()], 1).to(fit.setup.data.test.x.device)
    pred = fit.trainer.outputs(grid).argmax(1).reshape(gx.shape).cpu()
    ax.contourf(gx, gy, pred, alpha=0.3, cmap="coolwarm")
    ax.scatter(x[:, 0], x[:, 1], c=y, s=6, cmap="coolwarm", edgecolors="none")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


@LESSONS.register("nonlinearity", "stacked linear layers are one linear layer; xor and spirals need a nonlinearity")
def lesson(ctx: LessonContext) -> Report:
    """Run the nonlinearity lesson."""
    r = Report("nonlinearity", "without a nonlinearity, a deep network is one linear layer")
    hidden, epochs = [64, 64, 64], ctx.pick(40, 200)
    r.text(
        f"Three models per data set, trained the same way (Adam lr 0.01, batch 64, {epochs} epochs): softmax "
        f"regression (`model.name=linear`), an MLP {hidden} with `model.act=identity` (a stack of linear layers), "
        f"and the same MLP with `model.act=relu`. Data: `xor` (four clusters; the best single line gets 3 of 4 "
        "right) and `spirals(classes=3)` (three interleaved arms, CS231n's set), 2-D, test sets drawn from the same "
        "distribution."
    )
    runs = [(d, label) for d in DATASETS for label in MODELS]
    cfgs = [
        ctx.config(
            **{
                "data.name": d,
                "data.val": 0,
                "model.hidden": hidden,
                "optim.lr": 0.01,
                "optim.batch_size": 64,
                "train.epochs": epochs,
                **MODELS[label],
            }
        )
        for d, label in runs
    ]
    fits: dict[tuple[str, str], Fitted] = dict(
        zip(runs, ctx.fit_many(cfgs, [f"{d}: {label}" for d, label in runs]), strict=True)
    )
    acc = {run: f.evaluate("test")["accuracy"] for run, f in fits.items()}

    # 1. the product of the weights is the network
    stack = fits[DATASETS[1], "linear stack (identity)"]
    W, b = collapse(stack.model)
    x = torch.randn(2000, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(ctx.seed)) * 3
    with torch.no_grad():
        net = stack.model.double()(x.to(stack.setup.device)).cpu()
        stack.model.float()
    one = x @ W.T + b
    diff = (net - one).abs().max().item()
    scale = net.abs().max().item()
    r.claim(
        "stacked linear layers equal one linear layer: the product of their weight matrices",
        "max |network(x) − (W₄W₃W₂W₁x + b)| < 1e-9 × max |output| on 2,000 random inputs (float64)",
        f"max difference {diff:.2e} (outputs up to {scale:.3g}); collapsed W is {tuple(W.shape)}",
        diff < 1e-9 * max(scale, 1.0),
    )
    # 2. depth without nonlinearity buys nothing; with it, the same stack fits
    lin_gap = max(abs(acc[d, "linear stack (identity)"] - acc[d, "linear (one layer)"]) for d in DATASETS)
    r.claim(
        "a linear stack is no better than one linear layer",
        "test accuracy of the linear stack within 0.05 of softmax regression on xor and spirals",
        "; ".join(
            f"{d}: stack {acc[d, 'linear stack (identity)']:.3f} vs one layer {acc[d, 'linear (one layer)']:.3f}"
            for d in DATASETS
        ),
        lin_gap <= 0.05,
    )
    chance = {d: 1 / fits[d, "MLP (relu)"].setup.data.num_classes for d in DATASETS}
    r.claim(
        "on xor and spirals a linear model stays near chance",
        "linear-stack test accuracy ≤ chance + 0.25 on both (xor 0.75: the best one line does on its four clusters; "
        "spirals 0.58)",
        "; ".join(f"{d}: {acc[d, 'linear stack (identity)']:.3f} (chance {chance[d]:.2f})" for d in DATASETS),
        all(acc[d, "linear stack (identity)"] <= chance[d] + 0.25 for d in DATASETS),
    )
    r.claim(
        "the same stack with a nonlinearity (relu) fits them",
        "relu MLP test accuracy ≥ 0.9 on both",
        "; ".join(f"{d}: {acc[d, 'MLP (relu)']:.3f}" for d in DATASETS),
        all(acc[d, "MLP (relu)"] >= 0.9 for d in DATASETS),
    )

    r.heading("Test accuracy")
    r.table(["data", *MODELS], [[d, *[acc[d, m] for m in MODELS]] for d in DATASETS])
    fig, axes = new_figure(len(MODELS), len(DATASETS), (3.0, 3.0))
    for i, d in enumerate(DATASETS):
        for j, m in enumerate(MODELS):
            _boundary(axes[i][j], fits[d, m], f"{d}: {m}\ntest acc {acc[d, m]:.2f}")
    r.figure(
        fig,
        "nonlinearity-boundaries",
        "Decision boundaries: the linear models draw one straight line whatever their depth; relu bends it.",
    )
    r.heading("Why")
    r.text(
        "Each layer computes h = Wh + b. Composing two gives W₂(W₁x + b₁) + b₂ = (W₂W₁)x + (W₂b₁ + b₂): "
        "again one matrix and one bias. Any number of layers collapses the same way, so the stack's decision "
        "boundary is one hyperplane. An elementwise nonlinearity between layers (relu, tanh, ...) breaks "
        "the composition and lets each layer bend the boundary."
    )
    return r
