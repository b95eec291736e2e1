"""Lesson ``optimizers``: gradient descent and its descendants, on a network and on 2-D landscapes.

Each optimizer comes from the library's registry (``optim.name``), trains the same MLP, and is timed:
loss against steps and against seconds. The same torch optimizers then walk two 2-D functions, an
ill-conditioned quadratic and Rosenbrock's valley, so their paths can be drawn.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from trainlab.lessons import LESSONS
from trainlab.lessons.base import Fitted, LessonContext, Report, is_finite, new_figure
from trainlab.training.optim import OPTIMIZERS

# label -> (optim.name, lr, batch size); the SGD family shares one rate, so only batch size or momentum differ
NETWORK = {
    "GD (full batch)": ("gd", 0.02, "full"),
    "SGD (batch 1)": ("sgd", 0.02, 1),
    "SGD (batch 64)": ("sgd", 0.02, 64),
    "momentum": ("sgd(momentum=0.9)", 0.02, 64),
    "Nesterov": ("sgd(momentum=0.9,nesterov=true)", 0.02, 64),
    "AdaGrad": ("adagrad", 0.01, 64),
    "RMSProp": ("rmsprop", 1e-3, 64),
    "Adam": ("adam", 1e-3, 64),
    "AdamW": ("adamw", 1e-3, 64),
}
KAPPA = 100.0  # condition number of the quadratic


def quadratic(p: torch.Tensor) -> torch.Tensor:
    """f(x, y) = (x² + κy²) / 2: curvature 1 along x and κ along y; minimum 0 at (0, 0)."""
    return 0.5 * (p[0] ** 2 + KAPPA * p[1] ** 2)


def rosenbrock(p: torch.Tensor) -> torch.Tensor:
    """f(x, y) = (1 − x)² + 100 (y − x²)²: a curved, flat-bottomed valley; minimum 0 at (1, 1)."""
    return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2


# label -> (optim.name, lr on the quadratic, lr on Rosenbrock)
PATHS = {
    "GD": ("gd", 0.01, 1e-3),
    "momentum": ("sgd(momentum=0.9)", 0.01, 1e-3),
    "Nesterov": ("sgd(momentum=0.9,nesterov=true)", 0.01, 1e-3),
    "AdaGrad": ("adagrad", 0.5, 0.5),
    "RMSProp": ("rmsprop", 0.02, 0.01),
    "Adam": ("adam", 0.1, 0.05),
}


def walk(
    f: Callable[[torch.Tensor], torch.Tensor], start: tuple[float, float], spec: str, lr: float, steps: int
) -> torch.Tensor:
    """The path (steps+1, 2) a registry optimizer takes from ``start`` minimizing ``f``."""
    p = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt = OPTIMIZERS.create(spec, params=[p], lr=lr, weight_decay=0.0)
    path = [p.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        f(p).backward()
        opt.step()
        path.append(p.detach().clone())
    return torch.stack(path)


def _steps_to(f: Callable[[torch.Tensor], torch.Tensor], path: torch.Tensor, target: float) -> int | None:
    """First step at which f falls below ``target`` (None if never)."""
    for i, q in enumerate(path):
        if f(q).item() < target:
            return i
    return None


@LESSONS.register(
    "optimizers", "GD, SGD, momentum, Nesterov, AdaGrad, RMSProp, Adam, AdamW: loss vs steps and seconds; 2-D paths"
)
def lesson(ctx: LessonContext) -> Report:
    """Run the optimizers lesson."""
    r = Report("optimizers", "from gradient descent to Adam: speed per step, per second, and the paths they take")
    epochs = ctx.pick(6, 5)
    data = {"data.name": ctx.pick("digits", "fashion-mnist"), "data.limit": ctx.pick(400, 5000), "data.val": 0}
    r.text(
        "The same MLP [128] (relu, kaiming-normal) on "
        f"{ctx.pick('digits (400 examples)', 'Fashion-MNIST (5,000 examples)')}, "
        f"{epochs} epochs with each optimizer (from `trainlab list optimizers`). Full-batch GD, SGD at batch 1 and 64, "
        "momentum and Nesterov share one learning rate (0.02), so batch size or momentum is the only difference."
    )
    fits: dict[str, Fitted] = {}
    for label, (spec, lr, bs) in NETWORK.items():
        cfg = ctx.config(
            **data,
            **{
                "model.hidden": [128],
                "optim.name": spec,
                "optim.lr": lr,
                "optim.batch_size": bs,
                "train.epochs": epochs,
            },
        )
        fits[label] = ctx.fit(cfg, label=label)
    loss = {k: f.final("train_loss") for k, f in fits.items()}
    acc = {k: f.evaluate("test")["accuracy"] for k, f in fits.items()}
    sec = {k: f.recorder.epoch_seconds[-1] / max(len(f.recorder.epoch_seconds), 1) for k, f in fits.items()}

    r.claim(
        "per epoch, more (noisier) steps make more progress: batch-1 SGD < minibatch SGD < full-batch GD in training "
        "loss",
        f"final training loss after {epochs} epochs ordered batch 1 < batch 64 < full batch",
        f"batch 1 {loss['SGD (batch 1)']:.3f}, batch 64 {loss['SGD (batch 64)']:.3f}, full batch "
        f"{loss['GD (full batch)']:.3f}",
        loss["SGD (batch 1)"] < loss["SGD (batch 64)"] < loss["GD (full batch)"],
    )
    r.claim(
        "per second, batch-1 SGD is slow: one example per step wastes the vectorized hardware",
        "seconds per epoch of batch-1 SGD ≥ 5 × those of batch-64 SGD",
        f"batch 1 {sec['SGD (batch 1)']:.3f} s/epoch, batch 64 {sec['SGD (batch 64)']:.3f} s/epoch "
        f"({sec['SGD (batch 1)'] / max(sec['SGD (batch 64)'], 1e-9):.0f}×)",
        sec["SGD (batch 1)"] >= 5 * sec["SGD (batch 64)"],
    )
    r.claim(
        "momentum accelerates SGD (same learning rate and batch)",
        "final training loss with momentum 0.9 and with Nesterov both below plain SGD's",
        f"SGD {loss['SGD (batch 64)']:.3f}, momentum {loss['momentum']:.3f}, Nesterov {loss['Nesterov']:.3f}",
        loss["momentum"] < loss["SGD (batch 64)"] and loss["Nesterov"] < loss["SGD (batch 64)"],
    )
    r.claim(
        "Adam works well out of the box (its default lr 1e-3)",
        "Adam's final training loss below plain minibatch SGD's and its test accuracy at least as high",
        f"loss Adam {loss['Adam']:.3f} vs SGD {loss['SGD (batch 64)']:.3f}; test accuracy Adam {acc['Adam']:.3f} vs "
        f"SGD {acc['SGD (batch 64)']:.3f}",
        loss["Adam"] < loss["SGD (batch 64)"] and acc["Adam"] >= acc["SGD (batch 64)"],
    )

    # 2-D landscapes
    steps = ctx.pick(400, 1000)
    q_paths = {k: walk(quadratic, (-4.0, 1.5), spec, lq, steps) for k, (spec, lq, _) in PATHS.items()}
    r_paths = {k: walk(rosenbrock, (-1.5, 2.0), spec, lr_, steps) for k, (spec, _, lr_) in PATHS.items()}
    f0 = quadratic(torch.tensor([-4.0, 1.5], dtype=torch.float64)).item()
    reach = {k: _steps_to(quadratic, p, 1e-6 * f0) for k, p in q_paths.items()}
    r.claim(
        f"on an ill-conditioned quadratic (condition number {KAPPA:g}) momentum converges much faster than GD at the "
        "same learning rate",
        f"steps to reduce f by 10⁶: momentum 0.9 ≤ half of GD's (both lr 0.01; GD's limit is 2/κ = {2 / KAPPA:.2f})",
        f"GD {reach['GD'] if reach['GD'] is not None else f'> {steps}'}, momentum "
        f"{reach['momentum'] if reach['momentum'] is not None else f'> {steps}'} steps",
        reach["momentum"] is not None and (reach["GD"] is None or reach["momentum"] <= reach["GD"] / 2),
    )
    dist = {k: (p[-1] - torch.tensor([1.0, 1.0], dtype=torch.float64)).norm().item() for k, p in r_paths.items()}
    r.claim(
        "in Rosenbrock's curved valley plain GD crawls; momentum carries speed along the valley floor",
        f"after {steps} steps from (−1.5, 2) at lr 0.001: momentum's distance to the minimum (1, 1) < half of GD's",
        f"distance to (1, 1): GD {dist['GD']:.3f}, momentum {dist['momentum']:.3f} (Adam, lr 0.05: {dist['Adam']:.3f})",
        dist["momentum"] < 0.5 * dist["GD"],
    )

    r.heading("The network")
    r.table(
        ["optimizer", "optim.name", "lr", "batch", "steps", "final train loss", "test accuracy", "s / epoch"],
        [
            [k, f"`{NETWORK[k][0]}`", NETWORK[k][1], NETWORK[k][2], f.trainer.step, loss[k], acc[k], sec[k]]
            for k, f in fits.items()
        ],
    )
    fig, axes = new_figure(2, 1, (4.6, 3.4))
    for k, f in fits.items():
        losses = f.recorder.step_losses()
        w = max(1, len(losses) // 200)  # smooth batch-1 noise: mean over windows, about 200 points per curve
        xs = list(range(w, len(losses) + 1, w))
        ys = [sum(losses[i - w : i]) / w for i in xs]
        axes[0][0].plot(xs, ys, label=k, lw=1)
        axes[0][1].plot(f.recorder.epoch_seconds, [m["train_loss"] for m in f.history], marker=".", label=k, lw=1)
    for ax, xl in ((axes[0][0], "optimizer steps"), (axes[0][1], "seconds (at each epoch's end)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xl)
        ax.set_ylabel("training loss")
        ax.legend(fontsize=6)
    r.figure(
        fig,
        "optimizers-loss",
        "Training loss against optimizer steps (left, log scale) and against wall-clock seconds (right).",
    )
    r.heading("2-D landscapes")
    r.table(
        [
            "optimizer",
            "optim.name",
            "lr (quadratic)",
            "steps to f/10⁶ (quadratic)",
            "lr (Rosenbrock)",
            f"distance to (1,1) after {steps} steps",
        ],
        [
            [k, f"`{spec}`", lq, reach[k] if reach[k] is not None else f"> {steps}", lr_, dist[k]]
            for k, (spec, lq, lr_) in PATHS.items()
        ],
    )
    fig, axes = new_figure(2, 1, (4.6, 4.0))
    for ax, f, paths, (lo, hi) in (
        (axes[0][0], quadratic, q_paths, ((-4.5, -2.0), (1.5, 2.0))),
        (axes[0][1], rosenbrock, r_paths, ((-2.0, -1.0), (2.0, 3.0))),
    ):
        gx, gy = torch.meshgrid(torch.linspace(lo[0], hi[0], 200), torch.linspace(lo[1], hi[1], 200), indexing="xy")
        z = f(torch.stack([gx, gy]).double())
        ax.contour(gx, gy, torch.log10(z + 1e-3), levels=20, cmap="Greys", linewidths=0.5)
        for k, p in paths.items():
            ok = torch.isfinite(p).all(1)
            p = p[ok].clamp(min=torch.tensor([lo[0], lo[1]]).double(), max=torch.tensor([hi[0], hi[1]]).double())
            ax.plot(p[:, 0], p[:, 1], lw=1, label=k)
        ax.set_title(f.__name__, fontsize=9)
        ax.legend(fontsize=6)
    r.figure(
        fig,
        "optimizers-paths",
        f"Paths of {steps} steps on the quadratic (κ = {KAPPA:g}, start (−4, 1.5)) and Rosenbrock's function (start "
        "(−1.5, 2)).",
    )
    if not all(is_finite(v) for v in loss.values()):
        r.text("A NaN training loss means that optimizer diverged at its learning rate.")
    return r
