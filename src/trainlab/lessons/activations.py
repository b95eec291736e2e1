"""Lesson ``activations``: each activation, its derivative, and what it does to a 10-layer network.

Every activation comes from the library's registry (``model.act``); derivatives are taken by
autograd. A 10-layer MLP per activation is measured at init and after training: the gradient norm of
each layer's weights (vanishing gradients), the fraction of dead units (never active on a batch of
test examples), and test accuracy.
"""

from __future__ import annotations

import torch
from torch import nn

from trainlab.lessons import LESSONS
from trainlab.lessons.base import Fitted, LessonContext, Report, new_figure
from trainlab.nn.activations import ACTIVATIONS, make_activation

ACTS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "maxout")
DEPTH = 10


def hidden_weights(model: nn.Module) -> list[torch.Tensor]:
    """The hidden layers' weight matrices in order: every weight but the output layer's (fc1..fc10 or maxout1..10)."""
    return [p for n, p in model.named_parameters() if n.endswith("weight") and p.ndim > 1 and not n.startswith("out.")]


def _grad_norms(fit: Fitted, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """Gradient norm of each hidden layer's weights on one batch (train mode, no step taken)."""
    model = fit.model
    model.zero_grad(set_to_none=True)
    fit.setup.loss(model(x), y).backward()
    norms = [w.grad.norm().item() for w in hidden_weights(model)]
    model.zero_grad(set_to_none=True)
    return norms


def _dead_fraction(fit: Fitted, x: torch.Tensor) -> float:
    """Fraction of hidden units whose output is exactly 0 for every example of ``x`` (eval mode)."""
    outs: list[torch.Tensor] = []
    hooks = [
        m.register_forward_hook(lambda mod, i, o: outs.append(o.detach()))
        for n, m in fit.model.named_children()
        if n.startswith(("act", "maxout"))
    ]
    fit.trainer.outputs(x)
    for h in hooks:
        h.remove()
    dead = sum(int((o == 0).all(0).sum()) for o in outs)
    return dead / max(sum(o.shape[1] for o in outs), 1)


@LESSONS.register(
    "activations", "every activation and its derivative; 10-layer nets: gradient per layer, dead ReLUs, accuracy"
)
def lesson(ctx: LessonContext) -> Report:
    """Run the activations lesson."""
    r = Report("activations", "the activation decides whether gradients survive depth")
    acts = [a for a in ACTS if a in ACTIVATIONS]
    width, epochs = ctx.pick(64, 128), ctx.pick(4, 5)
    data = {"data.name": ctx.pick("digits", "fashion-mnist"), "data.limit": ctx.pick(None, 5000), "data.val": 0}
    r.text(
        f"For each activation a {DEPTH}-layer MLP, {width} units per layer (`model.hidden=[{width}]*{DEPTH}`), "
        f"kaiming-normal weights with the activation's gain, trained with SGD + momentum 0.9, lr 0.01, batch 64, "
        f"{epochs} epochs on {ctx.pick('digits', 'Fashion-MNIST (5,000 examples)')}. Gradient norms are measured on "
        "one batch "
        "of 256 training examples before training and after it."
    )
    g0: dict[str, list[float]] = {}
    cfgs = {
        a: ctx.config(
            **data,
            **{
                "model.hidden": [width] * DEPTH,
                "model.act": a,
                "optim.name": "sgd(momentum=0.9)",
                "optim.lr": 0.01,
                "optim.batch_size": 64,
                "train.epochs": epochs,
            },
        )
        for a in acts
    }
    for a, cfg in cfgs.items():
        s = ctx.setup(cfg)
        x, y = s.data.train.x[:256], s.data.train.y[:256]
        model = s.model
        model.zero_grad(set_to_none=True)
        s.loss(model(x), y).backward()
        g0[a] = [w.grad.norm().item() for w in hidden_weights(model)]
    fits = dict(
        zip(acts, ctx.fit_many(list(cfgs.values()), list(acts)), strict=True)
    )  # stacked where the activation allows
    data0 = next(iter(fits.values())).setup.data
    xb, yb = data0.train.x[:256], data0.train.y[:256]
    g1 = {a: _grad_norms(f, xb, yb) for a, f in fits.items()}
    dead = {a: _dead_fraction(f, data0.test.x[:512]) for a, f in fits.items()}
    acc = {a: f.evaluate("test")["accuracy"] for a, f in fits.items()}
    ratio = {a: g0[a][0] / max(g0[a][-1], 1e-30) for a in acts}

    r.claim(
        "sigmoid kills gradients: in a deep sigmoid net the first layers barely get any",
        f"at init, layer-1 / layer-{DEPTH} weight-gradient norm < 0.01 for sigmoid, > 0.1 for relu",
        f"sigmoid {ratio['sigmoid']:.2e}, relu {ratio['relu']:.3g}",
        ratio["sigmoid"] < 0.01 and ratio["relu"] > 0.1,
    )
    r.claim(
        "the deep sigmoid net trains worst",
        "sigmoid has the lowest test accuracy of all activations",
        f"sigmoid {acc['sigmoid']:.3f}; others "
        f"{min(v for k, v in acc.items() if k != 'sigmoid'):.3f}–{max(acc.values()):.3f}",
        acc["sigmoid"] <= min(acc.values()),
    )
    r.claim(
        "zero-centred tanh trains better than sigmoid",
        "tanh test accuracy ≥ sigmoid's + 0.05",
        f"tanh {acc['tanh']:.3f}, sigmoid {acc['sigmoid']:.3f}",
        acc["tanh"] >= acc["sigmoid"] + 0.05,
    )
    r.claim(
        "ReLU units can die (output 0 for every input); leaky ReLU's cannot",
        "after training, > 0 relu units are 0 on all 512 test examples, and 0 leaky_relu units are",
        f"relu {dead['relu']:.2%} dead, leaky_relu {dead['leaky_relu']:.2%}",
        dead["relu"] > 0 and dead["leaky_relu"] == 0,
    )

    r.heading("The activations and their derivatives")
    fig, axes = new_figure(2, 1, (5.0, 3.6))
    z = torch.linspace(-4, 4, 401, requires_grad=True)
    # lazy: matplotlib loads only when a figure is drawn (it costs ~0.3 s at start-up)
    from matplotlib import colormaps

    # every activation in the catalogue but maxout, a layer (max over k linear pieces), not a function
    elementwise = [a for a in ACTIVATIONS.names() if a != "maxout"]
    for i, a in enumerate(elementwise):
        out = make_activation(a)(z)
        (d,) = torch.autograd.grad(out.sum(), z)
        color = colormaps["tab20"](i / max(len(elementwise) - 1, 1))
        axes[0][0].plot(z.detach(), out.detach(), label=a, color=color)
        axes[0][1].plot(z.detach(), d, label=a, color=color)
    axes[0][0].set_title("f(z)", fontsize=9)
    axes[0][1].set_title("f'(z) (autograd)", fontsize=9)
    for ax in axes[0]:
        ax.axhline(0, color="0.8", lw=0.5)
        ax.legend(fontsize=6, ncol=2)
    r.figure(
        fig,
        "activations-functions",
        "Every activation of `trainlab list activations` and its derivative. Sigmoid's derivative never exceeds 0.25, "
        "so a chain of them shrinks gradients.",
    )
    if "maxout" in acts:
        r.text(
            "`maxout` is not elementwise: each unit outputs the max of k linear pieces (a layer), so it has no single "
            "curve to draw."
        )
    r.heading("Gradient norm per layer")
    r.table(
        [
            "activation",
            *[f"fc{i} (init)" for i in (1, 5, DEPTH)],
            *[f"fc{i} (trained)" for i in (1, 5, DEPTH)],
            "layer1 / layer10 at init",
        ],
        [[a, g0[a][0], g0[a][4], g0[a][-1], g1[a][0], g1[a][4], g1[a][-1], ratio[a]] for a in acts],
    )
    fig, axes = new_figure(2, 1, (4.4, 3.2))
    for a in acts:
        axes[0][0].plot(range(1, DEPTH + 1), g0[a], marker="o", ms=3, label=a)
        axes[0][1].plot(range(1, DEPTH + 1), g1[a], marker="o", ms=3, label=a)
    for ax, t in zip(axes[0], ("at init", "after training"), strict=True):
        ax.set_yscale("log")
        ax.set_xlabel("layer")
        ax.set_title(f"weight-gradient norm {t}", fontsize=9)
        ax.legend(fontsize=6)
    r.figure(
        fig, "activations-gradients", "Gradient norm of each layer's weights (log scale), at init and after training."
    )
    r.heading("Outcome")
    r.table(
        ["activation", "final train loss", "test accuracy", "dead units"],
        [[a, f.final("train_loss"), acc[a], f"{dead[a]:.2%}"] for a, f in fits.items()],
    )
    return r
