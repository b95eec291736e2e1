"""Lesson ``landscape``: what the loss surface of a small network looks like around its solutions.

One MLP with batch norm is trained twice (two seeds) while its weights are recorded. Then, on one
fixed training batch: the loss along the straight line from initialization to the solution
(Goodfellow et al. 2015) and between the two solutions; a 2-D filter-normalized slice around a
solution (Li et al. 2018); the Hessian's largest eigenvalue by power iteration on Hessian-vector
products, against the stability bound 2/lr; its smallest eigenvalue at initialization (negative:
a saddle, Dauphin et al. 2014); and the weights' path in its own PCA coordinates.

Batch norm is handled by evaluating every point in train mode on the same fixed batch: each set of
weights is normalized with that batch's own statistics, not with running averages collected for
other weights. Biases and batch-norm parameters get no component in the slice's directions (Li et al.).
"""

from __future__ import annotations

import torch
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from trainlab.lessons import LESSONS
from trainlab.lessons.base import Callback, LessonContext, Report, new_figure
from trainlab.training.loop import Trainer

RISE = 0.02  # largest rise along init -> solution, as a fraction of the total fall, that still counts as "no barrier"
BARRIER = 0.1  # nats above the ends' mean that count as a barrier between two solutions
EDGE = 1.1  # power iteration's estimate of a curvature hovering at 2/lr may land a little above it
PCA2 = 0.8  # variance of the weight path the first two principal components must explain


class WeightPath(Callback):
    """Keeps the flattened weights at the start and every ``every`` steps (a vector copy, no host sync)."""

    def __init__(self, every: int) -> None:
        self.every = max(1, every)
        self.points: list[torch.Tensor] = []

    def on_fit_start(self, trainer: Trainer) -> None:
        self.points.append(parameters_to_vector(trainer.model.parameters()).detach().clone())

    def on_batch_end(self, trainer: Trainer) -> None:
        if trainer.step % self.every == 0:
            self.points.append(parameters_to_vector(trainer.model.parameters()).detach().clone())


class Surface:
    """The training loss of one model as a function of its flattened weights, on one fixed batch."""

    def __init__(self, model: torch.nn.Module, loss: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
        self.model, self.loss, self.x, self.y = model, loss, x, y
        self.params = [p for p in model.parameters() if p.requires_grad]
        model.train()  # batch norm uses this batch's statistics: consistent at every point (no dropout in this model)

    def set(self, theta: torch.Tensor) -> None:
        """Load the weights ``theta`` into the model."""
        vector_to_parameters(theta, self.params)

    def at(self, theta: torch.Tensor) -> float:
        """The loss at ``theta``."""
        self.set(theta)
        with torch.no_grad():
            return float(self.loss(self.model(self.x), self.y))

    def hvp(self, theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Hessian-vector product H(theta) v by double backward (Pearlmutter's trick)."""
        self.set(theta)
        grads = torch.autograd.grad(self.loss(self.model(self.x), self.y), self.params, create_graph=True)
        g = torch.cat([gi.reshape(-1) for gi in grads])
        hv = torch.autograd.grad(g @ v, self.params)
        return torch.cat([h.reshape(-1) for h in hv]).detach()

    def eig(self, theta: torch.Tensor, iters: int, shift: float = 0.0, seed: int = 0) -> float:
        """An extreme eigenvalue of H by power iteration on H - shift·I (shift = λ_max finds λ_min)."""
        gen = torch.Generator().manual_seed(seed)
        v = torch.randn(theta.numel(), generator=gen).to(theta)
        v /= v.norm()
        lam = 0.0
        for _ in range(iters):
            w = self.hvp(theta, v) - shift * v
            lam = float(v @ w)  # Rayleigh quotient of the shifted operator
            v = w / w.norm()
        return lam + shift


def filter_normalized(model: torch.nn.Module, theta: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A random direction scaled per filter (per output row) to the norm of that row of ``theta``;
    biases and 1-D parameters (batch norm) get 0 (Li et al. 2018)."""
    parts, i = [], 0
    for p in model.parameters():
        n = p.numel()
        w = theta[i : i + n].view_as(p)
        if p.dim() <= 1:
            parts.append(torch.zeros_like(w).reshape(-1))
        else:
            d = torch.randn(p.shape, generator=gen).to(w)
            rows, drows = w.reshape(len(w), -1), d.reshape(len(d), -1)
            d = drows * (rows.norm(dim=1, keepdim=True) / drows.norm(dim=1, keepdim=True).clamp_min(1e-12))
            parts.append(d.reshape(-1))
        i += n
    return torch.cat(parts)


@LESSONS.register(
    "landscape",
    "loss along init->solution and between two seeds; a 2-D slice; top Hessian eigenvalue vs 2/lr; saddles; the "
    "weight path in PCA",
)
def lesson(ctx: LessonContext) -> Report:
    """Run the landscape lesson."""
    r = Report("landscape", "local minima are rarely the problem: what the loss surface looks like")
    lr, epochs, hidden = 0.1, ctx.pick(10, 20), [32, 32]
    data = {"data.name": ctx.pick("digits", "fashion-mnist"), "data.limit": ctx.pick(None, 2000), "data.val": 0}
    keys = {
        **data,
        "model.hidden": hidden,
        "model.norm": "batch",
        "optim.name": "sgd",
        "optim.lr": lr,
        "optim.batch_size": 64,
        "train.epochs": epochs,
    }
    r.text(
        f"An MLP {hidden} with batch norm (relu, kaiming-normal) on "
        f"{ctx.pick('digits', 'Fashion-MNIST (2,000 examples)')}, "
        f"plain SGD at lr {lr:g}, batch 64, {epochs} epochs, trained from seeds {ctx.seed} and {ctx.seed + 1}. Every "
        "loss "
        "below is the training loss on one fixed batch of up to 1,000 training examples, in train mode (batch norm "
        "uses that "
        "batch's statistics, so every point is normalized consistently)."
    )
    paths, fits = [], []
    for k in range(2):
        path = WeightPath(every=0)
        cfg = ctx.config(**keys, seed=ctx.seed + k)
        path.every = max(1, -(-min(len(ctx.data(cfg).train), 10**9) // 64) // 4)  # four points per epoch
        fits.append(ctx.fit(cfg, callbacks=[path], label=f"seed {ctx.seed + k}"))
        paths.append(path)
    model, train = fits[0].model, fits[0].setup.data.train
    n = min(1000, len(train))
    surf = Surface(model, fits[0].setup.loss, train.x[:n], train.y[:n])
    theta0, thetaA, thetaB = (
        paths[0].points[0],
        parameters_to_vector(model.parameters()).detach().clone(),
        parameters_to_vector(fits[1].model.parameters()).detach().clone(),
    )

    # 1. the straight line from initialization to the solution
    alphas = [i / 20 for i in range(-4, 25)]  # -0.2 .. 1.2
    line = [surf.at((1 - a) * theta0 + a * thetaA) for a in alphas]
    inside = [v for a, v in zip(alphas, line, strict=True) if 0 <= a <= 1]
    fall = inside[0] - inside[-1]
    rise = max(max(b - a for a, b in zip(inside, inside[1:])), 0.0)
    r.claim(
        "the loss falls along the straight line from initialization to the solution, without a barrier (Goodfellow et "
        "al. 2015)",
        f"along α ∈ [0, 1] in steps of 0.05, the largest rise between neighbouring points < {RISE:.0%} of the total "
        "fall",
        f"loss {inside[0]:.3f} → {inside[-1]:.3f}; largest rise {rise:.4f} ({rise / max(fall, 1e-12):.1%} of the fall)",
        fall > 0 and rise < RISE * fall,
    )

    # 2. between the solutions of two seeds
    between = [surf.at((1 - a) * thetaA + a * thetaB) for a in alphas]
    mid = [v for a, v in zip(alphas, between, strict=True) if 0 <= a <= 1]
    ends = (mid[0] + mid[-1]) / 2
    barrier = max(mid) - ends
    r.claim(
        "two seeds find different solutions of similar loss, separated by a barrier on the straight line between them",
        f"the highest loss on the line between them exceeds the mean of its ends by > {BARRIER:g} (nats)",
        f"ends {mid[0]:.3f} and {mid[-1]:.3f}; highest {max(mid):.3f} at α = "
        f"{alphas[alphas.index(0.0) + mid.index(max(mid))]:.2f} (barrier {barrier:.3f}); "
        f"distance between them {float((thetaA - thetaB).norm()):.1f} vs {float(thetaA.norm()):.1f} from the origin",
        barrier > BARRIER,
    )

    # 3. curvature: the top Hessian eigenvalue against the stability bound 2/lr; negative curvature at init
    iters = ctx.pick(15, 30)
    top = {k: surf.eig(t, iters, seed=ctx.seed) for k, t in (("init", theta0), ("solution", thetaA))}
    low = {k: surf.eig(t, iters, shift=top[k], seed=ctx.seed) for k, t in (("init", theta0), ("solution", thetaA))}
    r.claim(
        "SGD cannot settle where the curvature exceeds 2/lr (a step would overshoot): the sharpest direction ends at "
        "or below 2/lr "
        "(Cohen et al. 2021: it rises to about 2/lr and hovers there, the edge of stability)",
        f"the Hessian's largest eigenvalue at the solution (power iteration, {iters} Hessian-vector products) ≤ "
        f"{EDGE:g} × 2/lr = {EDGE * 2 / lr:g}",
        f"λ_max {top['solution']:.2f} at the solution = {top['solution'] * lr / 2:.2f} × 2/lr ({top['init']:.2f} at "
        "initialization)",
        top["solution"] <= EDGE * 2 / lr,
    )
    r.claim(
        "at initialization the surface curves down in some directions: a saddle region, not a bad local minimum "
        "(Dauphin et al. 2014)",
        "the Hessian's smallest eigenvalue at initialization (power iteration on H − λ_max·I) < 0, by more than 1% of "
        "λ_max",
        f"λ_min {low['init']:.3g} at initialization (λ_max {top['init']:.3g}); at the solution λ_min "
        f"{low['solution']:.3g}",
        low["init"] < -0.01 * abs(top["init"]),
    )

    # 4. the weight path in PCA coordinates
    P = torch.stack(paths[0].points + [thetaA]).double()
    Pc = P - P.mean(0)
    _, S, V = torch.linalg.svd(Pc, full_matrices=False)
    explained = (S**2 / (S**2).sum()).tolist()
    coords = (Pc @ V[:2].T).float()
    r.claim(
        "the weights travel through a tiny subspace: the training path is nearly flat (Li et al. 2018)",
        f"the first two principal components of the {len(P)} recorded weight vectors explain ≥ {PCA2:.0%} of their "
        "variance",
        f"PC1 {explained[0]:.1%}, PC2 {explained[1]:.1%} (together {explained[0] + explained[1]:.1%}) of {len(P)} "
        f"points in {P.shape[1]:,} dimensions",
        explained[0] + explained[1] >= PCA2,
    )

    # 5. a filter-normalized 2-D slice around the solution
    gen = torch.Generator().manual_seed(ctx.seed)
    d1, d2 = filter_normalized(model, thetaA, gen), filter_normalized(model, thetaA, gen)
    steps = ctx.pick(11, 21)
    grid = torch.linspace(-1, 1, steps)
    Z = torch.tensor([[surf.at(thetaA + float(a) * d1 + float(b) * d2) for a in grid] for b in grid])
    c = steps // 2
    ring = torch.tensor(
        [float(Z[i, j]) for i in range(steps) for j in range(steps) if max(abs(i - c), abs(j - c)) == c]
    )  # the border of the square: distance 1 in either direction
    r.claim(
        "a solution sits at the bottom of a basin in a filter-normalized slice",
        f"on a {steps}×{steps} grid over [−1, 1]² (directions scaled filter by filter to the weights), the centre is "
        "the lowest point "
        "and the grid's border averages ≥ 2× its loss",
        f"centre {float(Z[c, c]):.3f}, lowest {float(Z.min()):.3f}, border mean {float(ring.mean()):.3f}",
        float(Z[c, c]) <= float(Z.min()) + 1e-6 and float(ring.mean()) >= 2 * float(Z[c, c]),
    )
    surf.set(thetaA)  # the model keeps its trained weights
    low_at = divmod(int(Z.argmin()), steps)
    if low_at != (c, c):
        r.text(
            f"The slice's lowest point is not the solution itself but ({float(grid[low_at[1]]):.1f}, "
            f"{float(grid[low_at[0]]):.1f}) in its "
            f"coordinates, loss {float(Z.min()):.3f} vs {float(Z[c, c]):.3f}: SGD at a constant rate of {lr:g} ends "
            "on the wall of its basin, "
            "bouncing across it (its sharpest curvature sits at the edge 2/lr), not at the bottom."
        )

    r.heading("Lines through weight space")
    r.table(
        ["α", "init → solution", "solution (seed A) → solution (seed B)"],
        [[a, v, w] for a, v, w in zip(alphas, line, between, strict=True) if round(a * 20) % 2 == 0],
    )
    fig, axes = new_figure(2, 1, (4.2, 3.0))
    axes[0][0].plot(alphas, line, marker=".")
    axes[0][0].set_title("θ = (1−α)·θ_init + α·θ_solution", fontsize=8)
    axes[0][1].plot(alphas, between, marker=".", color="C1")
    axes[0][1].set_title("θ = (1−α)·θ_seed A + α·θ_seed B", fontsize=8)
    for ax in axes[0]:
        ax.axvline(0, color="0.6", lw=0.8)
        ax.axvline(1, color="0.6", lw=0.8)
        ax.set_xlabel("α")
        ax.set_ylabel("training loss")
    r.figure(
        fig,
        "landscape-lines",
        "Loss along straight lines: from initialization to the solution it falls monotonically; between two seeds' "
        "solutions it rises over a barrier.",
    )
    r.heading("Curvature")
    r.table(["point", "λ_max", "λ_min", "2/lr"], [[k, top[k], low[k], 2 / lr] for k in top])
    r.heading("The 2-D slice and the path")
    fig, axes = new_figure(2, 1, (4.6, 3.4))
    fig.subplots_adjust(wspace=0.55)  # room for the colour bar between the two panels
    cs = axes[0][0].contourf(grid.numpy(), grid.numpy(), Z.log10().numpy(), levels=20, cmap="viridis")
    fig.colorbar(cs, ax=axes[0][0], fraction=0.046, label="log10 loss")
    axes[0][0].plot([0], [0], "r*", ms=8)
    axes[0][0].set_xlabel("direction 1 (filter-normalized)")
    axes[0][0].set_ylabel("direction 2")
    axes[0][1].plot(coords[:, 0].numpy(), coords[:, 1].numpy(), marker=".", ms=3)
    axes[0][1].plot([float(coords[0, 0])], [float(coords[0, 1])], "go", label="init")
    axes[0][1].plot([float(coords[-1, 0])], [float(coords[-1, 1])], "r*", ms=8, label="solution")
    axes[0][1].set_xlabel(f"PC1 ({explained[0]:.0%})")
    axes[0][1].set_ylabel(f"PC2 ({explained[1]:.0%})")
    axes[0][1].legend(fontsize=7)
    r.figure(
        fig,
        "landscape-slice",
        "Left: log loss on a filter-normalized 2-D slice around the solution (star). Right: the weights' path in its "
        "first two principal components.",
    )
    return r
