"""The one training loop. It emits events; everything optional is a callback listening to them.

The events, the callback base class and the facts callbacks share are declared in ``events.py``;
callbacks run in the order they are given (``training.callbacks.ordered`` sorts the built-in ones,
``build.make_trainer`` is the one place a Trainer is made). A callback stops training by raising
``StopTraining`` (fastai's cancel-by-exception style), so no flags are threaded through the loop.

Hot path rules: each batch is one ``index_select`` of the epoch's permutation (or a sampler's draw) from tensors already
on the device;
loss and accuracy accumulate as device tensors; the loop never calls ``.item()`` per step (the NaN
guard does on the CPU, where a host sync is free, and reads a device flag every 50 steps elsewhere).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from trainlab.data.augment import TwoViews
from trainlab.data.dataset import Dataset, Split
from trainlab.nn.losses import Loss
from trainlab.training.engines import SINGLE_ENGINE, Single
from trainlab.training.events import EVENTS, Callback, Facts, StopTraining
from trainlab.training.metrics import correct_count
from trainlab.training.optim import Schedule

__all__ = [
    "EVENTS",
    "Callback",
    "Facts",
    "StepOptions",
    "StopTraining",
    "Trainer",
    "batch_bounds",
    "evaluate_outputs",
    "needs_two",
]


def batch_bounds(n: int, batch_size: int, min_batch: int = 1) -> list[tuple[int, int]]:
    """(start, end) of each training batch of an epoch of ``n`` examples.

    Batches hold ``batch_size`` examples, the last one what is left over. A left-over smaller than
    ``min_batch`` joins the batch before it instead of making a step of its own: a model with batch
    norm cannot normalize a single example in training mode (torch raises), so it gets
    ``min_batch=2`` and, for 1293 examples in batches of 4, 322 batches of 4 and a last one of 5.
    """
    bs = max(1, batch_size)
    starts = list(range(0, n, bs)) or [0]
    if len(starts) > 1 and n - starts[-1] < min_batch:
        starts.pop()  # the short rest is merged into the batch before it
    return [(a, starts[i + 1] if i + 1 < len(starts) else n) for i, a in enumerate(starts)]


def needs_two(model: nn.Module) -> bool:
    """True when ``model`` has batch norm: in training mode it needs at least 2 examples per step."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


@dataclass(frozen=True)
class StepOptions:
    """How the Trainer's step and evaluation run, beyond model, data, loss, optimizer, epochs and batch size
    (``build.make_trainer`` fills it from the config's train.*, optim.*, loss.* and eval.* keys)."""

    seed: int = 0  # the permutation generator's seed
    l1: float = 0.0  # loss.l1: the L1 penalty's weight
    clip_grad: float | None = None  # optim.clip_grad: the gradient norm's limit
    eval_batch_size: int = 4096
    augment: Any = None  # data.augment (or pretraining's views): applied to each training batch
    precision: str = "fp32"  # train.precision: fp32 or bf16 (autocast)
    sampler: Any = None  # data.sampler: draws each epoch's order (None: randperm)
    logit_offset: torch.Tensor | None = None  # eval.logit_adjust: added to every evaluated output
    min_batch: int = 1  # a last batch smaller than this joins the one before it (batch_bounds)


class Trainer:
    """Owns the model, data, loss, optimizer and loop state; runs ``fit`` and ``evaluate``."""

    def __init__(
        self,
        model: nn.Module,
        data: Dataset,
        loss: Loss,
        optimizer: torch.optim.Optimizer,
        epochs: int,
        batch_size: int,
        schedule: Schedule | None = None,
        callbacks: list[Callback] | tuple[Callback, ...] = (),
        options: StepOptions | None = None,
        engine: Single | None = None,
    ):
        o = options or StepOptions()
        self.model = model
        self.data = data
        self.loss = loss
        self.optimizer = optimizer
        self.epochs = epochs
        self.batch_size = batch_size
        self.schedule = schedule or Schedule()
        self.callbacks = list(callbacks)  # in the order given: build.make_trainer orders them
        self.l1 = o.l1
        self.clip_grad = o.clip_grad
        self.eval_batch_size = o.eval_batch_size
        self.augment = o.augment
        self.precision = o.precision
        self.sampler = o.sampler  # draws each epoch's order (data.sampler); None: randperm
        self.device = data.train.x.device
        # post hoc logit adjustment (eval.logit_adjust): added to every evaluated output, never in training
        self.logit_offset = None if o.logit_offset is None else o.logit_offset.to(self.device)
        # bf16 autocast needs no loss scaling (float32's exponent range); one reusable context
        bf16 = o.precision == "bf16"
        self._autocast = torch.autocast(self.device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        self.unsupervised = loss.unsupervised  # pretraining: labels unused, the objective is the only metric
        self.classification = data.task == "classification" and not self.unsupervised
        # the permutation generator lives on the CPU so runs are identical across devices
        self.generator = torch.Generator().manual_seed(o.seed)
        self.epoch = 0  # epochs completed
        self.step = 0  # optimizer steps taken
        self.history: list[dict[str, float]] = []
        self.metrics: dict[str, float] = {}  # metrics of the epoch just finished
        self.facts = Facts()  # what callbacks learn and share (initial loss, warnings, ...)
        self.status = "running"
        self.stop_reason = ""
        self.fit_seconds = 0.0  # training time of finished fits (elapsed_seconds adds the current one)
        self._fit_started: float | None = None
        handlers = [Callback.handlers(c) for c in self.callbacks]  # an unknown on_* handler fails here
        self._hooks = {e: [h[e] for h in handlers if e in h] for e in EVENTS}
        self._l1_params = [p for n, p in model.named_parameters() if p.ndim > 1] if o.l1 else []
        # running sums of the current epoch (device tensors)
        self.loss_sum = torch.zeros((), device=self.device)
        self.l1_sum = torch.zeros((), device=self.device)  # the L1 penalty, reported apart as train_l1
        self.correct = torch.zeros((), device=self.device, dtype=torch.long)
        self.seen = 0
        self.batch_index = 0
        # a last batch smaller than min_batch joins the one before it (batch_bounds)
        self.bounds = batch_bounds(len(data.train), batch_size, o.min_batch)
        self.batches_per_epoch = len(self.bounds)
        # where the current epoch stands, so a checkpoint taken mid-epoch resumes exactly:
        # the epoch's permutation (CPU, None between epochs) and the batches already done
        self.perm: torch.Tensor | None = None
        self.position = 0
        self.resume_rng: Any = None  # set by restore_trainer: re-applies saved RNG states after fit_start
        # how the step is spread (training/engines.py, chosen by build.engine_for): the module it calls,
        # this process's part of each batch, the epoch's sums, evaluation's outputs, how events fire
        self.engine: Single = engine or SINGLE_ENGINE

    # -- events ---------------------------------------------------------------
    def fire(self, event: str) -> None:
        """Call every callback's handler for ``event`` (through the engine: data-parallel ranks agree on a stop)."""
        self.engine.fire(self, event, self._hooks[event])

    @property
    def elapsed_seconds(self) -> float:
        """Training time so far, the fit in progress included (what a checkpoint taken now records)."""
        return self.fit_seconds + (time.perf_counter() - self._fit_started if self._fit_started is not None else 0.0)

    def start_clock(self, at: float | None = None) -> float:
        """A fit begins (at ``at``, a ``time.perf_counter`` value; now by default): ``elapsed_seconds`` counts it."""
        self._fit_started = time.perf_counter() if at is None else at
        return self._fit_started

    def stop_clock(self) -> None:
        """The fit in progress ends: its time is added to ``fit_seconds``."""
        if self._fit_started is not None:
            self.fit_seconds += time.perf_counter() - self._fit_started
        self._fit_started = None

    @property
    def lr(self) -> float:
        """Current learning rate of the first parameter group."""
        return float(self.optimizer.param_groups[0]["lr"])

    # -- training -------------------------------------------------------------
    def fit(self) -> Trainer:
        """Train for the configured epochs (or until a callback stops it)."""
        self.start_clock()
        try:
            self.fire("fit_start")
            if self.resume_rng is not None:  # resumed: RNG streams continue where the checkpoint left them
                self.resume_rng()
                self.resume_rng = None
            while self.epoch < self.epochs:
                self.fire("epoch_start")
                self.train_epoch()
                self.end_epoch()
            self.status = "completed"
        except StopTraining as stop:
            self.status, self.stop_reason = stop.status, stop.reason
        except BaseException:
            self.status = "failed"
            self.stop_clock()
            self.fire("error")
            raise
        self.stop_clock()
        self.fire("fit_end")
        return self

    def train_epoch(self) -> None:
        """The steps of one epoch (the rest of it after a mid-epoch resume), each followed by ``batch_end``."""
        train: Split = self.data.train
        n = len(train)
        self.model.train()
        if self.perm is None:  # a fresh epoch; a resumed one keeps its order, position and running sums
            self.perm = (
                self.sampler.order(n, self.generator)
                if self.sampler is not None
                else torch.randperm(n, generator=self.generator)
            )
            self.position = 0
            self.loss_sum.zero_()
            self.l1_sum.zero_()
            self.correct.zero_()
            self.seen = 0
        perm = self.perm.to(self.device)
        x, y = train.x, train.y
        engine = self.engine
        forward = engine.module(self.model)
        for index in range(self.position, self.batches_per_epoch):
            self.batch_index = index
            # gather each batch while it is used: it stays in cache; a gathered copy of the whole
            # epoch (170 MB for Fashion-MNIST) is written, then read back from memory (~10% slower here)
            start, end = self.bounds[index]
            idx = perm[start:end]
            idx, scale = engine.shard(idx)  # data-parallel: this rank's part and its loss scale
            xb, yb = x.index_select(0, idx), y.index_select(0, idx)
            if self.augment is not None:
                xb = self.augment(xb)
            with self._autocast:
                out = forward(xb)
                loss = self.loss(out, yb)
            penalty = self.l1 * sum(p.abs().sum() for p in self._l1_params) if self.l1 else None
            total = loss if penalty is None else loss + penalty
            if scale != 1.0:
                total = total * scale
            self.optimizer.zero_grad(set_to_none=True)
            total.backward()
            if self.clip_grad:
                nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad)
            self.optimizer.step()
            self.schedule.after_step()
            if scale:  # (0 only for a data-parallel rank's stand-in example, which is not counted)
                with torch.no_grad():
                    self.loss_sum += loss.detach() * len(yb)
                    if penalty is not None:
                        self.l1_sum += penalty.detach() * len(yb)
                    if self.classification:
                        self.correct += correct_count(out, yb)
                self.seen += len(yb)
            self.step += 1
            self.position = index + 1
            self.last_loss = loss
            self.fire("batch_end")
        self.perm, self.position = None, 0  # the epoch is done: a checkpoint from here starts the next one

    def end_epoch(self) -> None:
        """The epoch's metrics from its sums (all ranks'), validation, the schedule, then ``epoch_end``."""
        self.engine.reduce(self)  # data-parallel: the whole epoch's sums on every rank
        m: dict[str, float] = {"epoch": self.epoch + 1, "train_loss": (self.loss_sum / max(self.seen, 1)).item()}
        if self.l1:  # train_loss is the data loss alone; the objective was train_loss + train_l1
            m["train_l1"] = (self.l1_sum / max(self.seen, 1)).item()
        if self.classification:
            m["train_accuracy"] = self.correct.item() / max(self.seen, 1)
        if self.data.val is not None:
            for k, v in self.evaluate(self.data.val).items():
                m[f"val_{k}"] = v
        m["lr"] = self.lr
        self.schedule.after_epoch(m.get("val_loss", m["train_loss"]))
        self.epoch += 1
        self.metrics = m
        self.history.append(m)
        self.fire("epoch_end")

    # -- evaluation -----------------------------------------------------------
    @torch.inference_mode()
    def outputs(self, x: torch.Tensor) -> torch.Tensor:
        """Model outputs for ``x`` in eval mode, in large batches (post hoc logit-adjusted if asked);
        restores the previous mode."""
        was_training = self.model.training
        self.model.eval()
        try:
            out = torch.cat(
                [self.model(x[i : i + self.eval_batch_size]) for i in range(0, len(x), self.eval_batch_size)]
            )
            return out if self.logit_offset is None else out + self.logit_offset
        finally:
            self.model.train(was_training)

    def split_outputs(self, x: torch.Tensor) -> torch.Tensor:
        """``outputs`` for every row of ``x``; data-parallel, each rank computes its part and the parts are
        all-gathered, so every rank must call it (``outputs`` stays local: rank 0 alone draws the report)."""
        return self.engine.outputs(self.outputs, x)

    def evaluate(self, split: Split) -> dict[str, float]:
        """Loss (and accuracy for classification) on a split, in eval mode, without gradients
        (data-parallel: a collective, the split's rows shared among the ranks)."""
        if self.unsupervised:
            return {"loss": self.objective(split)}
        return evaluate_outputs(self.split_outputs(split.x), split.y, self.loss, self.classification)

    @torch.inference_mode()
    def objective(self, split: Split) -> float:
        """A pretraining objective on a split, in eval mode, in training-size batches (NT-Xent depends on
        the batch size); views drawn from a fixed seed, so every epoch scores the same views, and the
        global RNG left as it was."""
        was_training = self.model.training
        self.model.eval()
        views = self.augment if isinstance(self.augment, TwoViews) else None
        total = torch.zeros((), device=self.device)
        try:
            with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
                torch.manual_seed(0)
                for i in range(0, len(split), self.batch_size):
                    xb = split.x[i : i + self.batch_size]
                    total += self.loss(self.model(views(xb) if views else xb), split.y[i : i + self.batch_size]) * len(
                        xb
                    )
        finally:
            self.model.train(was_training)
        return (total / max(len(split), 1)).item()


@torch.inference_mode()
def evaluate_outputs(out: torch.Tensor, y: torch.Tensor, loss: Loss, classification: bool) -> dict[str, float]:
    """Metrics from precomputed outputs: loss and accuracy (classification) or MSE/MAE/R² (regression)."""
    m = {"loss": loss(out, y).item()}
    if classification:
        m["accuracy"] = correct_count(out, y).item() / max(len(y), 1)
    else:
        pred = out.reshape(y.shape).float()
        yf = y.float()
        m["mse"] = ((pred - yf) ** 2).mean().item()
        m["mae"] = (pred - yf).abs().mean().item()
        var = ((yf - yf.mean()) ** 2).sum()
        m["r2"] = (1 - ((pred - yf) ** 2).sum() / var).item() if var > 0 else float("nan")
    return m
