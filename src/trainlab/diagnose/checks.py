"""The doctor's checks: each measures one thing before training and says whether it looks healthy.

Every check takes the objects a config builds (``trainlab.build.setup``), works on its own copy
of the model when it trains (the caller's model is never changed) and returns a ``CheckResult``:
a name, the measured numbers, pass/fail, and an explanation that names the likely fix.
Thresholds are module constants so the docs and tests can quote them.
"""

from __future__ import annotations

import copy
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trainlab.data.augment import TwoViews
from trainlab.data.dataset import Dataset, Split
from trainlab.diagnose.lr_find import LRFindOptions, MakeTrainer, lr_range_test
from trainlab.nn.causes import initial_loss_causes, input_scale
from trainlab.nn.losses import Loss, LossContext, expected_initial_loss
from trainlab.nn.stats import ActivationRecorder, WeightSnapshot, gradient_norms, kind_of
from trainlab.training.loop import Callback, batch_bounds, needs_two
from trainlab.training.metrics import correct_count
from trainlab.training.optim import make_optimizer

INITIAL_LOSS_TOLERANCE = 0.5  # relative deviation from the expected initial loss that fails
OVERFIT_EXAMPLES = 20
OVERFIT_STEPS = 500
OVERFIT_LOSS = 0.02  # "near 0": below 2% of the initial loss
VANISHING_ACT = 1e-2  # activation rms below 1% of the input rms
EXPLODING_ACT = 1e2
VANISHING_GRAD = 1e-5  # ||grad W|| / ||W|| at init
EXPLODING_GRAD = 10.0
DEAD_FRACTION = 0.5  # ReLU units that output 0 for every example of a batch
SATURATED_FRACTION = 0.2  # tanh/sigmoid outputs in the flat tails
UPDATE_RATIO = (
    1e-5,
    1e-1,
)  # per-step ||dW|| / ||W||: ~1e-3 classic; Adam's first steps move each weight by ~lr
UPDATE_STEPS = 10
LR_FIND_STEPS = 60


@dataclass
class CheckResult:
    """One line of the doctor's checklist."""

    name: str
    passed: bool
    summary: str  # the measured numbers, one line
    explanation: str = ""  # what a failure means and what to change
    measured: dict[str, Any] = field(default_factory=dict)
    details: list[str] = field(default_factory=list)  # per-layer lines


@dataclass
class Subject:
    """What the checks examine: the model (never modified), loss, data and how to build an optimizer."""

    model: nn.Module
    loss: Loss
    data: Dataset
    optim_cfg: Any
    batch_size: int = 256
    expected_loss: float | None = None
    seed: int = 0
    train_batch: int | None = None  # the batch size training uses (batch_size above is capped for the checks)
    setup: Any = None  # the build.Setup the subject comes from: the LR range test trains it with ...
    make_trainer: MakeTrainer | None = None  # ... the trainer build.make_trainer makes (this layer cannot import build)
    views: Callable[[torch.Tensor], torch.Tensor] | None = None  # SimCLR's view maker: N examples -> 2N rows

    def view(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` as the model sees it in training: both views stacked for SimCLR, else as it is."""
        return self.views(x) if self.views is not None else x

    def copy_model(self) -> nn.Module:
        """A deep copy to train on."""
        return copy.deepcopy(self.model)

    def optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        """A fresh optimizer of the configured kind over ``model``."""
        return make_optimizer(self.optim_cfg, model.parameters())

    def batch(self, n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """A seeded random batch of ``n`` (default: batch size) training examples."""
        train = self.data.train
        n = min(n or self.batch_size, len(train))
        idx = torch.randperm(len(train), generator=torch.Generator().manual_seed(self.seed))[:n].to(train.x.device)
        return self.view(train.x.index_select(0, idx)), train.y.index_select(0, idx)


def _s(items: Any) -> str:
    return "" if len(items) == 1 else "s"


def _fmt_layers(names: list[str], limit: int = 6) -> str:
    return ", ".join(names[:limit]) + (f" (+{len(names) - limit} more)" if len(names) > limit else "")


def check_initial_loss(sub: Subject, sample: int = 2048) -> CheckResult:
    """Loss before any step against its expected value (ln C for cross-entropy), with likely causes."""
    x, y = sub.batch(sample)
    model = sub.model
    was = model.training
    model.eval()
    with torch.inference_mode():
        out = model(x)
        value = sub.loss(out, y).item()
    model.train(was)
    exp = sub.expected_loss
    ln = f" = ln({sub.data.num_classes})" if sub.loss.name in ("cross_entropy", "nll") else ""
    if sub.views is not None and sub.loss.name.startswith("nt_xent"):
        # every row's softmax over its 2N - 1 others: uniform similarities give ln(2N - 1)
        exp, ln = math.log(2 * len(y) - 1), f" = ln(2x{len(y)}-1) for uniform similarities"
    measured = {"initial_loss": value, "expected": exp}
    if exp is None:
        return CheckResult(
            "initial loss",
            math.isfinite(value),
            f"{value:.4f} (no expected value for loss {sub.loss.name})",
            measured=measured,
        )
    ok = math.isfinite(value) and abs(value - exp) <= INITIAL_LOSS_TOLERANCE * exp
    summary = f"{value:.4f} (expected {exp:.4f}{ln})"
    expl = "" if ok else "likely cause: " + "; ".join(initial_loss_causes(value, exp, x, out, sub.loss.name))
    return CheckResult("initial loss", ok, summary, expl, measured)


def check_overfit(
    sub: Subject,
    examples: int = OVERFIT_EXAMPLES,
    steps: int = OVERFIT_STEPS,
    check_every: int = 25,
) -> CheckResult:
    """Train a copy on ``examples`` examples, full batch: loss near 0 and accuracy 1.0 within ``steps``.

    SimCLR's objective has no "near 0" to reach (its floor depends on the temperature and the views): skipped,
    saying so. A pretraining objective is judged by its loss alone (its outputs are not class scores)."""
    if sub.views is not None:
        return CheckResult(
            "overfit a tiny subset",
            True,
            f"skipped: {sub.loss.name} is a contrastive objective with no near-0 target on {examples} examples "
            "(its floor depends on the temperature and the views); the LR range test below trains it",
            measured={"skipped": True},
        )
    x, y = sub.batch(examples)
    model = sub.copy_model()
    opt = sub.optimizer(model)
    classification = sub.data.task == "classification" and not sub.loss.unsupervised

    def measure() -> tuple[float, float]:
        model.eval()
        with torch.inference_mode():
            out = model(x)
            loss = sub.loss(out, y)
            acc = correct_count(out, y).float() / len(y) if classification else torch.ones(())
            values = torch.stack([loss.float(), acc.float().to(loss.device)]).cpu().tolist()
        model.train()
        return values[0], values[1]

    start, _ = measure()
    target = OVERFIT_LOSS * start if math.isfinite(start) and start > 0 else 0.0
    loss, acc, taken = start, 0.0, 0
    model.train()
    while taken < steps:
        for _ in range(min(check_every, steps - taken)):
            value = sub.loss(model(x), y)
            opt.zero_grad(set_to_none=True)
            value.backward()
            opt.step()
            taken += 1
        loss, acc = measure()
        if not math.isfinite(loss) or (loss <= target and acc == 1.0):
            break
    ok = math.isfinite(loss) and loss <= target and acc == 1.0
    what = f"loss {start:.3f} -> {loss:.4f}" + (f", train accuracy {acc:.2f}" if classification else "")
    summary = (
        f"{len(y)} examples: {what} after {taken} steps "
        f"(target loss <= {target:.3g}{', accuracy 1.00' if classification else ''}, budget {steps})"
    )
    expl = (
        ""
        if ok
        else (
            "a network that cannot memorize 20 examples has a bug or cannot learn at this setting: "
            "check the learning rate (optim.lr), the init (model.init), and the loss / output layer pairing"
        )
    )
    return CheckResult(
        "overfit a tiny subset",
        ok,
        summary,
        expl,
        {"examples": len(y), "start_loss": start, "loss": loss, "accuracy": acc, "steps": taken},
    )


def check_inputs(data: Dataset) -> CheckResult:
    """Input statistics on the training split: mean/std, NaN/Inf counts and constant features."""
    x = data.train.x.float().reshape(len(data.train), -1)
    nan = int(torch.isnan(x).sum())
    inf = int(torch.isinf(x).sum())
    mean, std = input_scale(x)
    constant = int((x.amax(0) == x.amin(0)).sum())
    nfeat = x.shape[1]
    summary = f"mean {mean:.3g}, std {std:.3g}, {nan} NaN, {inf} Inf, {constant} constant features of {nfeat}"
    problems = []
    if nan or inf:
        problems.append(f"{nan} NaN and {inf} Inf values in the training inputs: check the data files")
    if abs(mean) > 3 or std > 3:
        problems.append(
            f"inputs are not normalized (mean {mean:.3g}, std {std:.3g}): use data.preprocess=scale or standardize"
        )
    if constant == nfeat:
        problems.append("every feature is constant: the data carries no information")
    details = (
        [f"{constant} features never change (e.g. image borders): harmless, but standardize leaves them 0"]
        if constant
        else []
    )
    return CheckResult(
        "input statistics",
        not problems,
        summary,
        "; ".join(problems),
        {"mean": mean, "std": std, "nan": nan, "inf": inf, "constant": constant, "features": nfeat},
        details,
    )


def check_batches(sub: Subject) -> CheckResult:
    """The batches one epoch trains on, as the loop cuts them, and a training step on the smallest.

    A model with batch norm cannot take a training step on one example (torch raises "Expected more
    than 1 value per channel"); the loop lets such a last batch join the one before it
    (``training.loop.batch_bounds``). This check shows the sizes and proves the smallest batch trains.
    """
    n = len(sub.data.train)
    bs = sub.train_batch or sub.batch_size
    smallest_allowed = 2 if needs_two(sub.model) else 1
    bounds = batch_bounds(n, bs, smallest_allowed)
    sizes = [b - a for a, b in bounds]
    rest = n % bs
    merged = bool(rest) and rest < smallest_allowed and n > bs
    shape = f"{len(bounds)} batch{'es' if len(bounds) != 1 else ''} of {sizes[0]} per epoch" + (
        f", the last of {sizes[-1]}" if sizes[-1] != sizes[0] else ""
    )
    note = (
        f" (a last batch of {rest} joins the one before: batch norm cannot normalize {rest} example in training)"
        if merged
        else ""
    )
    model = sub.copy_model()
    model.train()
    x, y = sub.view(sub.data.train.x[: min(sizes)]), sub.data.train.y[: min(sizes)]
    try:
        loss = sub.loss(model(x), y)
        loss.backward()
        sub.optimizer(model).step()
    except (RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return CheckResult(
            "training batches",
            False,
            f"{shape}; a training step on a batch of {min(sizes)} fails: {first[:160]}",
            "change optim.batch_size (or use model.norm=layer, which needs no batch)",
            {"batches": len(bounds), "sizes": sorted(set(sizes)), "merged": merged},
        )
    ok = bool(torch.isfinite(loss.detach()).all())
    summary = (
        f"{shape}{note}; a training step on the smallest ({min(sizes)}) {'works' if ok else 'gives a non-finite loss'}"
    )
    return CheckResult(
        "training batches",
        ok,
        summary,
        "" if ok else "the smallest batch gives a non-finite loss: check the data and the loss",
        {"batches": len(bounds), "sizes": sorted(set(sizes)), "merged": merged},
    )


def _forward_backward(sub: Subject, model: nn.Module, recorder: ActivationRecorder | None = None) -> None:
    x, y = sub.batch()
    model.train()
    model.zero_grad(set_to_none=True)
    if recorder is None:
        sub.loss(model(x), y).backward()
        return
    with recorder:
        out = model(x)
    sub.loss(out, y).backward()


def check_gradient_flow(sub: Subject) -> CheckResult:
    """Per-layer ||grad W|| / ||W|| at init: vanishing (< 1e-5) and exploding (> 10) layers named."""
    model = sub.copy_model()
    _forward_backward(sub, model)
    norms = gradient_norms(model)
    if not norms:
        return CheckResult(
            "gradient flow at init",
            False,
            "no layer received a gradient",
            "nothing in the model is trainable or connected to the loss",
        )
    vanishing = [n for n, v in norms.items() if not v["grad_ratio"] >= VANISHING_GRAD]
    exploding = [n for n, v in norms.items() if v["grad_ratio"] > EXPLODING_GRAD or not math.isfinite(v["grad_ratio"])]
    vanishing = [n for n in vanishing if n not in exploding]
    ratios = [v["grad_ratio"] for v in norms.values()]
    summary = f"|grad|/|W| per layer {min(ratios):.2g} .. {max(ratios):.2g} over {len(norms)} layer{_s(norms)}"
    parts = []
    if vanishing:
        parts.append(f"vanishing gradients in {_fmt_layers(vanishing)} (|grad|/|W| < {VANISHING_GRAD:g})")
    if exploding:
        parts.append(f"exploding gradients in {_fmt_layers(exploding)} (|grad|/|W| > {EXPLODING_GRAD:g})")
    if parts:
        parts.append(
            "fix the init scale (model.init=kaiming_normal for relu, xavier_normal for tanh), add normalization "
            "(model.norm=batch), or use fewer layers"
        )
    details = [
        f"{n:<12} |grad| {v['grad_norm']:.3g}  |W| {v['weight_norm']:.3g}  ratio {v['grad_ratio']:.3g}"
        for n, v in norms.items()
    ]
    return CheckResult(
        "gradient flow at init",
        not (vanishing or exploding),
        summary,
        "; ".join(parts),
        {"layers": norms, "vanishing": vanishing, "exploding": exploding},
        details,
    )


def check_activations(sub: Subject) -> CheckResult:
    """Activations at init: scale per layer against the input (vanishing/exploding), dead ReLUs,
    saturated tanh/sigmoid."""
    model = sub.copy_model()
    rec = ActivationRecorder(model)
    x, _ = sub.batch()
    _forward_backward(sub, model, rec)
    stats = rec.results()
    in_mean, in_std = input_scale(x)
    in_rms = math.sqrt(in_mean**2 + in_std**2) or 1.0

    kinds = {n: kind_of(m) for n, m in model.named_modules() if n}
    vanishing, exploding, dead, saturated, details = [], [], [], [], []
    for name, s in stats.items():
        rms = math.sqrt(s["mean"] ** 2 + s["std"] ** 2) / in_rms
        kind = kinds.get(name, "")
        if not rms >= VANISHING_ACT:
            vanishing.append(name)
        elif rms > EXPLODING_ACT:
            exploding.append(name)
        if kind == "relu" and s["dead"] > DEAD_FRACTION:
            dead.append(name)
        if kind in ("tanh", "sigmoid") and s["saturated"] > SATURATED_FRACTION:
            saturated.append(name)
        extra = (
            f"  zero {s['zero']:.0%} dead {s['dead']:.0%}"
            if kind == "relu"
            else (f"  saturated {s['saturated']:.0%}" if kind in ("tanh", "sigmoid") else "")
        )
        details.append(f"{name:<12} mean {s['mean']:+.3g}  std {s['std']:.3g}  rms/input {rms:.3g}{extra}")
    parts = []
    if vanishing:
        parts.append(
            f"vanishing activations in {_fmt_layers(vanishing)} (rms < {VANISHING_ACT:g} x input rms): the init scale "
            "is too small for this depth"
        )
    if exploding:
        parts.append(
            f"exploding activations in {_fmt_layers(exploding)} (rms > {EXPLODING_ACT:g} x input rms): the init scale "
            "is too large"
        )
    if dead:
        parts.append(
            f"dead ReLUs in {_fmt_layers(dead)} (> {DEAD_FRACTION:.0%} of units output 0 for the whole batch): use "
            "kaiming init, bias_init=constant(0.01) or leaky_relu"
        )
    if saturated:
        parts.append(
            f"saturated units in {_fmt_layers(saturated)} (> {SATURATED_FRACTION:.0%} in the flat tails): smaller "
            "init (xavier_normal) or normalized inputs"
        )
    acts = [s for n, s in stats.items() if kinds.get(n) in ("relu", "tanh", "sigmoid")]
    zero = statistics.mean(s["zero"] for s in acts) if acts else 0.0
    sat = statistics.mean(s["saturated"] for s in acts) if acts else 0.0
    summary = (
        f"{len(stats)} layer{_s(stats)}: {len(vanishing)} vanishing, {len(exploding)} exploding, "
        f"{len(dead)} with dead ReLUs, {len(saturated)} saturated "
        f"(mean zero fraction {zero:.0%}, saturated {sat:.0%})"
    )
    ok = not (vanishing or exploding or dead or saturated)
    return CheckResult(
        "activations at init",
        ok,
        summary,
        "; ".join(parts),
        {
            "layers": stats,
            "vanishing": vanishing,
            "exploding": exploding,
            "dead": dead,
            "saturated": saturated,
        },
        details,
    )


def check_update_ratio(sub: Subject, steps: int = UPDATE_STEPS) -> CheckResult:
    """Per-step ||dW|| / ||W|| over the first ``steps`` optimizer steps (on a copy); about 1e-3 is the classic
    healthy value."""
    model = sub.copy_model()
    opt = sub.optimizer(model)
    train: Split = sub.data.train
    gen = torch.Generator().manual_seed(sub.seed)
    per_layer: dict[str, list[float]] = {}
    model.train()
    for _ in range(steps):
        idx = torch.randint(len(train), (min(sub.batch_size, len(train)),), generator=gen).to(train.x.device)
        snap = WeightSnapshot(model)
        value = sub.loss(model(sub.view(train.x.index_select(0, idx))), train.y.index_select(0, idx))
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
        for name, r in snap.update_ratios().items():
            per_layer.setdefault(name, []).append(r)
    medians = {n: statistics.median(v) for n, v in per_layer.items()}
    if not medians:
        return CheckResult(
            "update/weight ratio",
            False,
            "no weight layers",
            "the model has no weight matrices to update",
        )
    overall = statistics.median(medians.values())
    lo, hi = UPDATE_RATIO
    low = [n for n, r in medians.items() if not r >= lo]
    high = [n for n, r in medians.items() if r > hi or not math.isfinite(r)]
    low = [n for n in low if n not in high]
    lr = sub.optim_cfg.lr
    parts = []
    if high:
        parts.append(
            f"updates too large in {_fmt_layers(high)} (> {hi:g} of the weights per step): lower optim.lr (now "
            f"{lr:g}), e.g. to {lr / 10:g}"
        )
    if low:
        parts.append(
            f"updates too small in {_fmt_layers(low)} (< {lo:g}): raise optim.lr (now {lr:g}) or fix vanishing "
            "gradients"
        )
    details = [
        f"{n:<12} median {r:.3g}  (steps: "
        f"{', '.join(f'{v:.2g}' for v in per_layer[n][:5])}{', ...' if len(per_layer[n]) > 5 else ''})"
        for n, r in medians.items()
    ]
    summary = (
        f"median {overall:.3g} per step over {steps} steps, "
        f"layers {min(medians.values()):.3g} .. {max(medians.values()):.3g} "
        f"(healthy about 1e-3; band {lo:g} .. {hi:g})"
    )
    return CheckResult(
        "update/weight ratio",
        not (low or high),
        summary,
        "; ".join(parts),
        {"median": overall, "layers": medians},
        details,
    )


def check_lr_range(
    sub: Subject,
    steps: int = LR_FIND_STEPS,
    plot: Path | None = None,
    start: float = 1e-7,
    end: float = 10.0,
) -> CheckResult:
    """A short LR range test with the training run's trainer (weights restored afterwards): passes when some
    learning rate lowers the loss; suggests one."""
    if sub.setup is None or sub.make_trainer is None:
        raise TypeError("check_lr_range needs a Subject from subject_from_setup(s, make_trainer=build.make_trainer)")
    res = lr_range_test(sub.setup, LRFindOptions(start=start, end=end, steps=steps), make_trainer=sub.make_trainer)
    if plot is not None:
        res.save_plot(plot, current_lr=sub.optim_cfg.lr)
    lr = sub.optim_cfg.lr
    measured = {
        "suggestion": res.suggestion,
        "valley": res.suggest("valley"),
        "minimum": res.suggest("minimum"),
        "configured": lr,
        "plot": str(plot) if plot else None,
        "diverged": res.diverged,
    }
    if res.suggestion is None:
        return CheckResult(
            "LR range test",
            False,
            f"{len(res.losses)} steps from {start:g} to {res.lrs[-1] if res.lrs else end:g}: the smoothed loss never "
            "fell 2% below its start",
            "no learning rate lowered the loss: check the model, the loss and the data before tuning",
            measured,
        )
    note = ""
    if lr > 10 * res.suggestion:
        note = f"; configured lr {lr:g} is over 10x the suggestion"
    elif lr < res.suggestion / 100:
        note = f"; configured lr {lr:g} is under 1/100 of the suggestion"
    summary = (
        f"suggested lr {res.suggestion:.2g} (steepest descent; minimum/10 {measured['minimum']:.2g}), configured "
        f"{lr:g}{note}" + (f"; plot {plot}" if plot else "")
    )
    return CheckResult("LR range test", True, summary, measured=measured)


CHECKS = (
    "initial loss",
    "overfit a tiny subset",
    "input statistics",
    "training batches",
    "gradient flow at init",
    "activations at init",
    "update/weight ratio",
    "LR range test",
)


def run_checks(
    sub: Subject,
    plot: Path | None = None,
    lr_steps: int = LR_FIND_STEPS,
    overfit_steps: int = OVERFIT_STEPS,
) -> list[CheckResult]:
    """Every check, in checklist order; torch's RNG state is restored afterwards."""
    rng = torch.get_rng_state()
    try:
        return [
            check_initial_loss(sub),
            check_overfit(sub, steps=overfit_steps),
            check_inputs(sub.data),
            check_batches(sub),
            check_gradient_flow(sub),
            check_activations(sub),
            check_update_ratio(sub),
            check_lr_range(sub, steps=lr_steps, plot=plot),
        ]
    finally:
        torch.set_rng_state(rng)


def _builder_trainer(setup: Any, callbacks: Sequence[Callback]) -> Any:
    """``build.make_trainer`` reached through the Setup (a copy of it too): this layer cannot import build."""
    return type(setup).new_trainer(setup, callbacks)


def subject_from_setup(s: Any, make_trainer: MakeTrainer | None = None) -> Subject:
    """The Subject for a ``trainlab.build.Setup`` (what ``setup(config)`` returns); the LR range test
    trains with ``make_trainer`` (default: the setup's own ``new_trainer``, i.e. ``build.make_trainer``)."""
    if make_trainer is None and hasattr(s, "new_trainer"):
        make_trainer = _builder_trainer
    # a pretraining objective has no catalogue value (check_initial_loss knows NT-Xent's); SimCLR sees its views
    unsupervised = s.loss.unsupervised
    expected = (
        None
        if unsupervised
        else expected_initial_loss(s.config.loss.name, LossContext(s.data.task, s.data.num_classes))
    )
    return Subject(
        s.model,
        s.loss,
        s.data,
        s.config.optim,
        min(s.batch_size, 512),
        expected,
        s.config.seed,
        s.batch_size,
        s,
        make_trainer,
        s.augment if unsupervised and isinstance(s.augment, TwoViews) else None,
    )
