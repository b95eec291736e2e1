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

The test runs on the ordinary Trainer that the one builder makes (``build.make_trainer``), so every
``train.*``, ``loss.*``, ``optim.*`` and ``data.*`` key means what it means in ``trainlab train``
(bf16 autocast, augmentation, the L1 term, gradient clipping, the class-aware sampler, the batch
size and the seed's batch order). The ``LRFinder`` callback is the test: it sets each step's rate
(the range test is the schedule: ``optim.schedule`` and ``optim.warmup`` are not used), records the
data loss of every step at ``batch_end`` (the L1 term, like ``train_loss``, apart) and stops the fit
with ``StopTraining`` at divergence or after ``steps``. ``LRFindOptions`` holds the sweep's own
numbers. The model's weights, the optimizer's and the sampler's state and torch's RNG are restored
afterwards, so the test leaves nothing behind. Losses are gathered every ``check_every`` steps (one
host sync), not per step.
"""

from __future__ import annotations

import copy
import csv
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainlab.errors import ConfigError
from trainlab.registry import Registry
from trainlab.training.events import Callback, StopTraining
from trainlab.training.optim import Schedule

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
            ax.axvline(
                self.suggestion, color="C3", ls="--", lw=1.2, label=f"suggested {self.suggestion:.2g} ({self.method})"
            )
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


@dataclass(frozen=True)
class LRFindOptions:
    """How the range test sweeps and reads the curve; everything else (batch size, seed, precision,
    augmentation, L1, clipping, sampler, ...) comes from the config, as in ``trainlab train``."""

    start: float = 1e-7  # first learning rate
    end: float = 10.0  # last learning rate
    steps: int = 100  # optimizer steps, one learning rate each
    beta: float | None = None  # the stopping average's smoothing; None: 1 - 2/steps within [0.5, 0.99]
    diverge: float = 4.0  # stop once the averaged loss exceeds this times its best
    method: str = "steepest"  # how the suggestion is read (LR_SUGGESTIONS)
    check_every: int = 10  # steps between host syncs that gather the losses

    def __post_init__(self) -> None:
        if not (0 < self.start < self.end):
            raise ConfigError(f"lr range test: start={self.start:g} and end={self.end:g} must satisfy 0 < start < end")
        if self.steps < 2:
            raise ConfigError(f"lr range test: steps={self.steps} must be at least 2")
        LR_SUGGESTIONS.bind(self.method)  # fail on an unknown method before spending any time

    @property
    def smoothing(self) -> float:
        """beta: the average's lag, ~1/(1-beta) steps, stays the same share of the sweep (0.98 at 100 steps)."""
        return self.beta if self.beta is not None else min(0.99, max(0.5, 1 - 2 / self.steps))

    def lr(self, i: int) -> float:
        """The learning rate of step ``i``: start * (end / start) ** (i / (steps - 1))."""
        return self.start * ((self.end / self.start) ** (1.0 / (self.steps - 1))) ** i


class LRFinder(Callback):
    """Drives a Trainer through the range test: sets each step's learning rate, records the loss of
    every step at ``batch_end``, and stops with ``StopTraining`` on divergence or after ``steps``."""

    def __init__(self, options: LRFindOptions):
        self.options = options
        self.result = LRFindResult(method=options.method)
        self._pending: list[torch.Tensor] = []  # this step's losses, gathered every check_every steps
        self._avg, self._best = 0.0, math.inf
        self._step = 0

    def _set_lr(self, trainer: Any) -> None:
        lr = self.options.lr(self._step)
        for group in trainer.optimizer.param_groups:
            group["lr"] = lr

    def on_fit_start(self, trainer: Any) -> None:
        """The first step's learning rate."""
        self._set_lr(trainer)

    def on_epoch_start(self, trainer: Any) -> None:
        """Re-apply the step's rate: nothing between two epochs may change it."""
        self._set_lr(trainer)

    def on_batch_end(self, trainer: Any) -> None:
        """Record the step's loss; stop on divergence or after the last step, else set the next rate."""
        self.result.lrs.append(self.options.lr(self._step))
        self._pending.append(trainer.last_loss.detach())
        self._step += 1
        last = self._step >= self.options.steps
        if len(self._pending) >= self.options.check_every or last:
            self._gather()
            if self.result.diverged:
                raise StopTraining(f"the loss diverged at lr {self.result.lrs[-1]:.3g}", "diverged")
        if last:
            raise StopTraining(f"the range test took its {self.options.steps} steps", "completed")
        self._set_lr(trainer)

    def on_fit_end(self, trainer: Any) -> None:
        """Gather what is left and read the curve: smoothed losses and the suggestion."""
        if not self.result.diverged:
            self._gather()
        r = self.result
        r.lrs = r.lrs[: len(r.losses)]
        r.smoothed = centered_average(r.losses, max(3, self.options.steps // 10) | 1)
        r.suggestion = r.suggest(self.options.method)

    def _gather(self) -> None:
        """One host sync for the pending losses; the bias-corrected average decides divergence."""
        if not self._pending:
            return
        values, self._pending = torch.stack(self._pending).float().cpu().tolist(), []
        beta, r = self.options.smoothing, self.result
        for v in values:
            k = len(r.losses)
            self._avg = beta * self._avg + (1 - beta) * v
            smooth = self._avg / (1 - beta ** (k + 1))
            if not math.isfinite(smooth) or smooth > self.options.diverge * self._best:
                r.diverged = True
                r.lrs = r.lrs[:k]
                return
            r.losses.append(v)
            self._best = min(self._best, smooth)


MakeTrainer = Callable[[Any, Sequence[Callback]], Any]  # build.make_trainer: (Setup, callbacks) -> Trainer


def lr_range_test(s: Any, options: LRFindOptions | None = None, *, make_trainer: MakeTrainer) -> LRFindResult:
    """Run the exponential LR range test on a built setup (``build.setup``) with the ordinary Trainer
    that ``make_trainer`` (``build.make_trainer``: this layer cannot import the builder) makes from it,
    so every train.*, loss.*, optim.* and data.* key applies as in training. The range test is the
    schedule (``optim.schedule`` and ``optim.warmup`` are not used), nothing is validated, and the
    model, the optimizer, the sampler and the RNGs are restored afterwards."""
    options = options or LRFindOptions()
    finder = LRFinder(options)
    # every epoch has at least one step, so `steps` epochs always reach the last step
    ranged = replace(
        s,
        config=s.config.replace(**{"train.epochs": options.steps}),
        schedule=Schedule(),
        data=replace(s.data, val=None),
    )
    saved_model = copy.deepcopy(s.model.state_dict())
    saved_opt = copy.deepcopy(s.optimizer.state_dict())
    saved_sampler = copy.deepcopy(s.sampler.state_dict()) if s.sampler is not None else None
    was_training = s.model.training
    try:
        with torch.random.fork_rng(devices=[s.device] if s.device.type == "cuda" else []):
            make_trainer(ranged, [finder]).fit()
    finally:
        s.model.load_state_dict(saved_model)
        s.optimizer.load_state_dict(saved_opt)
        if saved_sampler is not None:
            s.sampler.load_state_dict(saved_sampler)
        s.model.train(was_training)
    return finder.result
