"""The learning-rate range test (Smith 2015, "Cyclical Learning Rates", section 3.3; fastai's lr_find).

Train for ``steps`` mini-batches while the learning rate grows exponentially from ``start`` to ``end``:

    lr_i = start * (end / start) ** (i / (steps - 1)),        i = 0 .. steps-1

record the loss L_i of each batch. While running, a bias-corrected exponential moving average
(beta defaults to 1 - 2/steps: fastai's 0.98 at 100 steps) decides when to stop:

    m_i = beta * m_{i-1} + (1 - beta) * L_i,   m_{-1} = 0
    e_i = m_i / (1 - beta ** (i + 1))
    stop once e_i > diverge * min_{j<=i} e_j, or e_i is not finite: the loss has blown up.

That average lags by about 1/(1 - beta) steps, which would shift the curve towards larger rates, so
the curve that is plotted and read is a *centred* moving average over w = steps/10 (odd) points:

    s_i = mean(L_{i-w//2} .. L_{i+w//2})        (ends padded with the end values)

The suggestion is read off s(log lr) up to its minimum (past it lies the blow-up) by name
(``LR_SUGGESTIONS``):

    steepest   argmin_i  d s / d log(lr)        (fastest descent; the default)
    valley     the middle of the longest decreasing subsequence of s (fastai's "valley"; the
               noise of the flat start can stretch that subsequence, pulling it low)
    minimum    lr at argmin_i s_i, divided by 10

The model's weights, the optimizer's state and torch's RNG are restored afterwards, so the test
leaves nothing behind. Losses are gathered every ``check_every`` steps (one host sync), not per step.
"""

from __future__ import annotations

import copy
import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from trainlab.data.dataset import Split
from trainlab.errors import ConfigError
from trainlab.nn.losses import Loss
from trainlab.registry import Registry

LR_SUGGESTIONS = Registry("lr suggestion")
MIN_DROP = 0.02  # the smoothed loss must fall by 2% somewhere, else noise would pick the rate


@LR_SUGGESTIONS.register("steepest", "the learning rate where the smoothed loss falls fastest per log-lr")
def steepest(lrs: list[float], losses: list[float]) -> int:
    """Index of the most negative slope of loss against log(lr)."""
    if len(losses) < 3:
        return int(np.argmin(losses))
    slope = np.gradient(np.asarray(losses), np.log(np.asarray(lrs)))
    return int(np.argmin(slope))


@LR_SUGGESTIONS.register("valley", "the middle of the longest stretch where the smoothed loss decreases (fastai)")
def valley(lrs: list[float], losses: list[float]) -> int:
    """Index halfway along the longest decreasing subsequence (O(n^2), n = steps)."""
    n = len(losses)
    length = [1] * n
    start = [i for i in range(n)]
    best = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and length[j] + 1 > length[i]:
                length[i], start[i] = length[j] + 1, start[j]
        if length[i] > length[best]:
            best = i
    lo, hi = start[best], best
    return lo + (hi - lo) // 2


@LR_SUGGESTIONS.register("minimum", "the learning rate of the lowest smoothed loss, divided by 10")
def minimum(lrs: list[float], losses: list[float]) -> float:
    """A tenth of the lr at the minimum (returned as an lr, not an index)."""
    return lrs[int(np.argmin(losses))] / 10


@dataclass
class LRFindResult:
    """What the range test measured and suggests."""

    lrs: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    smoothed: list[float] = field(default_factory=list)
    suggestion: float | None = None
    method: str = "steepest"
    diverged: bool = False
    plot: Path | None = None

    def suggest(self, method: str) -> float | None:
        """The suggestion by another method from the same curve (None when nothing was learned)."""
        if len(self.smoothed) < 2 or min(self.smoothed) > (1 - MIN_DROP) * self.smoothed[0]:
            return None  # the loss never clearly went below its start: there is no good learning rate here
        # only the descending side counts: beyond the minimum the curve is the blow-up and its spikes
        end = int(np.argmin(self.smoothed)) + 1
        picked = LR_SUGGESTIONS.create(method, lrs=self.lrs[:end], losses=self.smoothed[:end])
        return float(picked) if isinstance(picked, float) else float(self.lrs[picked])

    def write_csv(self, path: str | Path) -> Path:
        """Write lr, loss, smoothed loss per step."""
        path = Path(path)
        with path.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["step", "lr", "loss", "smoothed_loss"])
            for i, row in enumerate(zip(self.lrs, self.losses, self.smoothed)):
                w.writerow([i, *row])
        return path

    def save_plot(self, path: str | Path, current_lr: float | None = None) -> Path:
        """Loss (raw and smoothed) against the learning rate on a log axis, the suggestion marked."""
        # lazy: matplotlib loads only when a figure is drawn (it costs ~0.3 s at start-up)
        import matplotlib

        matplotlib.use("Agg")
        # lazy: matplotlib loads only when a figure is drawn (it costs ~0.3 s at start-up)
        import matplotlib.pyplot as plt

        path = Path(path)
        fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
        ax.plot(self.lrs, self.losses, color="0.75", lw=0.8, label="loss per batch")
        ax.plot(self.lrs, self.smoothed, color="C0", lw=1.8, label="smoothed")
        if self.suggestion:
            ax.axvline(self.suggestion, color="C3", ls="--", lw=1.2, label=f"suggested {self.suggestion:.2g} ({self.method})")
        if current_lr:
            ax.axvline(current_lr, color="C2", ls=":", lw=1.2, label=f"configured {current_lr:.2g}")
        ax.set_xscale("log")
        finite = [v for v in self.smoothed if math.isfinite(v)]
        low = min((v for v in self.losses if math.isfinite(v)), default=0.0)
        if finite:  # keep the blow-up from flattening the interesting part
            ax.set_ylim(min(finite + [low]) * 0.95 - 1e-3, min(max(finite), 3 * finite[0]) * 1.05)
        ax.set_xlabel("learning rate")
        ax.set_ylabel("training loss")
        ax.set_title("learning-rate range test" + (" (stopped at divergence)" if self.diverged else ""))
        ax.legend(loc="best", fontsize=8)
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
        self.plot = path
        return path


def centered_average(values: list[float], window: int) -> list[float]:
    """Moving average over ``window`` (odd) points centred on each one; the ends are padded with the end values."""
    if not values:
        return []
    half = window // 2
    padded = np.pad(np.asarray(values, dtype=float), half, mode="edge")
    return np.convolve(padded, np.ones(window) / window, mode="valid").tolist()


def lr_range_test(
    model: nn.Module,
    loss: Loss,
    train: Split,
    optimizer: torch.optim.Optimizer,
    *,
    start: float = 1e-7,
    end: float = 10.0,
    steps: int = 100,
    batch_size: int = 256,
    beta: float | None = None,
    diverge: float = 4.0,
    method: str = "steepest",
    seed: int = 0,
    check_every: int = 10,
) -> LRFindResult:
    """Run the exponential LR range test on ``model`` with ``optimizer``; both are restored afterwards."""
    if not (0 < start < end):
        raise ConfigError(f"lr range test: start={start:g} and end={end:g} must satisfy 0 < start < end")
    if steps < 2:
        raise ConfigError(f"lr range test: steps={steps} must be at least 2")
    LR_SUGGESTIONS.bind(method)  # fail on an unknown method before spending any time
    if beta is None:  # the average's lag, ~1/(1-beta) steps, stays the same share of the sweep (0.98 at 100 steps)
        beta = min(0.99, max(0.5, 1 - 2 / steps))
    saved_model = copy.deepcopy(model.state_dict())
    saved_opt = copy.deepcopy(optimizer.state_dict())
    saved_rng = torch.get_rng_state()
    was_training = model.training
    try:
        return _run(model, loss, train, optimizer, start, end, steps, batch_size, beta, diverge, method, seed, check_every)
    finally:
        model.load_state_dict(saved_model)
        optimizer.load_state_dict(saved_opt)
        torch.set_rng_state(saved_rng)
        model.train(was_training)


def _run(model: nn.Module, loss: Loss, train: Split, optimizer: torch.optim.Optimizer, start: float, end: float, steps: int, batch_size: int, beta: float, diverge: float, method: str, seed: int, check_every: int) -> LRFindResult:
    gen = torch.Generator().manual_seed(seed)
    n = len(train)
    bs = min(batch_size, n)
    factor = (end / start) ** (1.0 / (steps - 1))
    result = LRFindResult(method=method)
    model.train()
    perm, pos = torch.randperm(n, generator=gen).to(train.x.device), 0
    pending: list[torch.Tensor] = []
    avg, best = 0.0, math.inf
    for i in range(steps):
        lr = start * factor**i
        for group in optimizer.param_groups:
            group["lr"] = lr
        if pos + bs > n:  # next pass over the data: a new order
            perm, pos = torch.randperm(n, generator=gen).to(train.x.device), 0
        idx = perm[pos : pos + bs]
        pos += bs
        value = loss(model(train.x.index_select(0, idx)), train.y.index_select(0, idx))
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
        result.lrs.append(lr)
        pending.append(value.detach())
        if len(pending) < check_every and i < steps - 1:
            continue
        values, pending = torch.stack(pending).float().cpu().tolist(), []
        first = len(result.losses)
        for j, v in enumerate(values):
            k = first + j
            avg = beta * avg + (1 - beta) * v
            s = avg / (1 - beta ** (k + 1))
            if not math.isfinite(s) or s > diverge * best:
                result.diverged = True
                result.lrs = result.lrs[:k]
                break
            result.losses.append(v)
            best = min(best, s)
        if result.diverged:
            break
    result.lrs = result.lrs[: len(result.losses)]
    result.smoothed = centered_average(result.losses, max(3, steps // 10) | 1)
    result.suggestion = result.suggest(method)
    return result
