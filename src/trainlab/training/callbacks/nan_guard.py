"""NaN/Inf guard: stop at the first non-finite loss or gradient, say where it started and what to change.

Detection is cheap and happens before the damage: an optimizer *step pre-hook* checks the global
gradient norm before the weights are updated, and the batch loss is checked after each step. On the
CPU a host sync costs nothing, so both run every step. On an accelerator a sync per step would stall
the device, so the checks accumulate a flag on the device (the first bad step is recorded there and
its gradients are zeroed so the weights stay finite) and the flag is read every ``check_every`` steps
and at every epoch end.

Only after detection does the guard spend time: it re-runs the offending batch through the model
with a hook on every layer to find the first layer whose output is NaN/Inf, else the first layer (in
backward order) whose gradient is. The run stops with status ``diverged`` (the CLI exits with code 3);
the checkpoint written at the last epoch end is not overwritten.

It also warns about the learning rate, but only on evidence (a warning is right or silent):

- too high: the loss, smoothed over about ten steps (an exponential moving average), climbs above
  ``rise`` times its initial value. A single noisy batch does not count: a sine MLP whose second
  batch spikes to 8x its initial loss and then reaches R² 0.99 is not warned about.
- too low: after the first epoch that completes ``EVIDENCE_STEPS`` steps, the loss moved less than
  ``flat`` (relative) *and* a probe shows that a larger rate would do better: on a copy of the
  weights, ``PROBE_STEPS`` steps on a fixed batch at 10x, 100x, ... the rate must lower that batch's
  loss by ``PROBE_GAIN`` (and three times what the configured rate does). A model that cannot fit the
  task (a perceptron on xor, at chance from the start) or sits at its floor is left alone, whatever
  its rate; the suggestion is the rate the probe found to work.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trainlab.nn.causes import divergence_causes
from trainlab.training.loop import Callback, StopTraining, Trainer

DIVERGED = "diverged"
EMA = 0.1  # weight of the newest loss in the smoothed loss the "too high" warning watches (~10 steps)
EVIDENCE_STEPS = 20  # the "too low" warning looks at the first epoch end with at least this many steps
PROBE_EXAMPLES = 512  # the probe's fixed batch: the first training examples
PROBE_STEPS = 10
PROBE_MULTIPLIERS = (10, 100, 1000, 10**4, 10**5, 10**6)  # each tried while the rate stays <= PROBE_MAX_LR
PROBE_MAX_LR = 10.0
PROBE_GAIN = 0.05  # a larger rate must lower the probe batch's loss by 5% to count as evidence


class NanGuard(Callback):
    """Stop training at the first NaN/Inf in the loss or gradients; warn on LR too high/low."""

    def __init__(self, check_every: int = 0, rise: float = 3.0, explode: float = 100.0, flat: float = 0.01):
        self.check_every = check_every  # 0 = automatic: 1 on the CPU, 50 on accelerators
        self.rise = rise
        self.explode = explode
        self.flat = flat
        self.trainer: Trainer | None = None
        self.start_weight = 0.0  # the largest |weight| at fit start (set in on_fit_start)
        self._handles: list[Any] = []
        self._x: torch.Tensor | None = None
        self._warned_high = False
        self._smoothed: float | None = None  # moving average of the batch losses seen
        self._checked_low = False
        self._probing = False

    # -- wiring ---------------------------------------------------------------
    def on_fit_start(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.every = self.check_every or (1 if trainer.device.type == "cpu" else 50)
        self.initial = trainer.facts.initial_loss
        # the largest |weight| at the start: huge or non-finite pretrained weights are named before the rate
        weights = [p.detach().abs().max() for p in trainer.model.parameters() if p.numel()]
        self.start_weight = float(torch.stack(weights).max()) if weights else 0.0
        self._first_bad = torch.full((), -1, dtype=torch.long, device=trainer.device)  # deferred mode only
        self._handles = [
            trainer.optimizer.register_step_pre_hook(self._before_step),
            trainer.model.register_forward_pre_hook(self._remember_input),
        ]

    def on_fit_end(self, trainer: Trainer) -> None:
        self._remove()

    def on_error(self, trainer: Trainer) -> None:
        self._remove()

    def _remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
        self._x = None

    def watch(self, x: torch.Tensor) -> None:
        """Remember ``x`` as the batch the next step trains on (a stacked run gives each member's own slice)."""
        self._x = x

    @contextlib.contextmanager
    def unwatched(self) -> Iterator[None]:
        """Forward passes inside do not replace the remembered batch (the learning-rate probe's)."""
        self._probing = True
        try:
            yield
        finally:
            self._probing = False

    def _remember_input(self, module: nn.Module, args: tuple) -> None:
        if module.training and args and not self._probing:  # a reference, not a copy: the batch the next step trains on
            self._x = args[0]

    # -- detection --------------------------------------------------------------
    def _before_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        trainer = self.trainer
        assert trainer is not None
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        if not grads:
            return
        norm = _total_norm(grads)
        if self.every == 1:
            if not math.isfinite(norm.item()):
                self.stop(trainer, trainer.step + 1, "gradient")
            return
        bad = ~torch.isfinite(norm)
        self._first_bad = torch.where(bad & (self._first_bad < 0), trainer.step + 1, self._first_bad)
        for g in grads:  # no sync: a bad step becomes a no-op, so the weights stay finite until the flag is read
            g.masked_fill_(bad, 0.0)

    def on_batch_end(self, trainer: Trainer) -> None:
        if trainer.step % self.every:
            return
        loss = trainer.last_loss.detach()
        if self.every == 1:
            value = loss.item()
            if not math.isfinite(value):
                self.stop(trainer, trainer.step, "loss")
            self.check_rise(trainer, value)
            return
        first, value = torch.stack([self._first_bad.float(), loss.float()]).tolist()
        if first >= 0:
            self.stop(trainer, int(first), "gradient", deferred=True)
        if not math.isfinite(value):
            self.stop(trainer, trainer.step, "loss")
        self.check_rise(trainer, value)

    def on_epoch_end(self, trainer: Trainer) -> None:
        if self.every > 1 and self._first_bad.item() >= 0:
            self.stop(trainer, int(self._first_bad.item()), "gradient", deferred=True)
        loss = trainer.metrics.get("train_loss", 0.0)
        if not math.isfinite(loss):
            self.stop(trainer, trainer.step, "loss")
        if not self._checked_low and trainer.step >= EVIDENCE_STEPS and self.initial and math.isfinite(self.initial):
            self._checked_low = True  # looked at once, with enough steps behind it to mean something
            moved = (self.initial - loss) / self.initial
            if abs(moved) < self.flat:
                self._check_low(trainer, loss, moved)

    def _check_low(self, trainer: Trainer, loss: float, moved: float) -> None:
        """Warn that the rate is too low only if a larger one measurably does better (``probe_rates``)."""
        lr = trainer.lr
        if not lr > 0:
            return
        found = probe_rates(trainer, lr, self)
        if found is None:
            return  # no rate does better: the model sits at what it can reach, the rate is not the cause
        better, gain, base = found
        self._warn(
            trainer,
            f"the loss barely moved over the first {trainer.step} steps ({self.initial:.4f} -> {loss:.4f}, "
            f"{-moved:+.1%}),"
            f" and a larger rate does better ({PROBE_STEPS} steps on {PROBE_EXAMPLES} training examples: lr "
            f"{better:g} lowers their loss"
            f" by {gain:.0%}, lr {lr:g} by {base:.0%}): the learning rate optim.lr={lr:g} is probably too low; try "
            f"{better:g} or run `trainlab lr-find`",
        )

    def check_rise(self, trainer: Trainer, value: float) -> None:
        """One step's finite loss ``value``: stop when it exploded, warn once when its average rose for good."""
        if not self.initial or not math.isfinite(self.initial) or self.initial <= 0:
            return
        if value > self.explode * self.initial:  # finite but hopeless (Adam at lr=10 gets here, not to NaN)
            self.stop(trainer, trainer.step, "loss", exploded=value)
        self._smoothed = (
            self.initial + EMA * (value - self.initial)
            if self._smoothed is None
            else self._smoothed + EMA * (value - self._smoothed)
        )
        if (
            not self._warned_high and self._smoothed > self.rise * self.initial
        ):  # a rise that lasts, not one noisy batch
            self._warned_high = True
            self._warn(
                trainer,
                f"the loss, averaged over the last ~{round(1 / EMA)} steps, is {self._smoothed:.3g} at step "
                f"{trainer.step}, above {self.rise:g}x its initial value {self.initial:.3g}: "
                f"the learning rate optim.lr={trainer.lr:g} is probably too high; try {trainer.lr / 10:g} or run "
                "`trainlab lr-find`",
            )

    @staticmethod
    def _warn(trainer: Trainer, text: str) -> None:
        trainer.facts.warnings.append(text)

    # -- diagnosis (runs once, after detection) -----------------------------------
    def stop(
        self, trainer: Trainer, step: int, what: str, deferred: bool = False, exploded: float | None = None
    ) -> None:
        """Stop ``trainer``: a non-finite ``what`` (loss, gradient) or an exploded loss at ``step``; the first bad layer
        is looked for by re-running the remembered batch (``watch``). Raises ``StopTraining(status="diverged")``."""
        found = locate_nonfinite(trainer.model, self._x) if self._x is not None else {}
        if not found and self._x is not None:
            found = largest_growth(trainer.model, self._x)
        where = found.get("where", "")
        epoch, batch = trainer.epoch + 1, trainer.batch_index + 1
        if exploded is not None:
            msg = (
                f"the loss exploded to {exploded:.3g} (over {self.explode:g}x its initial {self.initial:.3g}) "
                f"at step {step} (epoch {epoch}, batch {batch}) with lr {trainer.lr:g}"
            )
        else:
            msg = f"non-finite {what} at step {step} (epoch {epoch}, batch {batch}) with lr {trainer.lr:g}"
        if deferred:
            msg += f" (found at step {trainer.step}: the guard reads its device-side flag every {self.every} steps)"
        if where:
            msg += f"; {where}"
        msg += f". Fix: {suggest_fix(trainer, found, self.start_weight)}"
        run_dir = trainer.facts.run_dir
        if run_dir and (Path(run_dir) / "checkpoint.pt").is_file():
            msg += ". checkpoint.pt keeps the last good state (not overwritten)"
        trainer.facts.nan_guard = {
            "step": step,
            "what": "exploded loss" if exploded is not None else what,
            "lr": trainer.lr,
            "layer": found.get("layer"),
            "kind": found.get("kind"),
        }
        raise StopTraining("stopped by the NaN/Inf guard: " + msg, status=DIVERGED)


def probe_rates(trainer: Trainer, lr: float, guard: NanGuard | None = None) -> tuple[float, float, float] | None:
    """(a larger rate, its gain, the configured rate's gain) when a larger rate measurably trains better, else None.

    On a copy of the current weights (the model, its optimizer and every RNG stream are left as they
    were; the model's hooks are set aside), ``PROBE_STEPS`` steps of the run's optimizer on the first
    ``PROBE_EXAMPLES`` training examples, at the configured rate and at each of ``PROBE_MULTIPLIERS``
    times it; the gain is the relative drop of that batch's loss. The first larger rate that gains at
    least ``PROBE_GAIN`` and three times the configured rate's gain is returned.
    """
    import inspect  # lazy: only when the warning's condition holds, once per run

    from torch.func import functional_call  # lazy: as above

    model, opt = trainer.model, trainer.optimizer
    x = trainer.data.train.x[:PROBE_EXAMPLES]
    y = trainer.data.train.y[:PROBE_EXAMPLES]
    accepted = set(inspect.signature(type(opt).__init__).parameters)
    settings = {k: v for k, v in opt.param_groups[0].items() if k in accepted and k not in ("params", "lr")}
    params = {n: p.detach().clone() for n, p in model.named_parameters()}
    buffers = {n: b.detach().clone() for n, b in model.named_buffers()}
    modules = list(model.modules())
    saved_hooks = [(m, dict(m._forward_hooks), dict(m._forward_pre_hooks), dict(m._backward_hooks)) for m in modules]
    was_training = model.training

    def gain(rate: float) -> float:
        ps = {n: t.clone().requires_grad_(True) for n, t in params.items()}
        bs = {n: t.clone() for n, t in buffers.items()}
        probe = type(opt)(list(ps.values()), lr=rate, **settings)

        def measure() -> float:
            model.eval()
            with torch.no_grad():
                return float(trainer.loss(functional_call(model, (ps, bs), (x,)), y))

        before = measure()
        model.train()
        for _ in range(PROBE_STEPS):
            probe.zero_grad(set_to_none=True)
            trainer.loss(functional_call(model, (ps, bs), (x,)), y).backward()
            probe.step()
        after = measure()
        return (before - after) / before if before > 0 and math.isfinite(after) else 0.0

    devices = [trainer.device.index or 0] if trainer.device.type == "cuda" else []
    with guard.unwatched() if guard is not None else contextlib.nullcontext():  # the guard keeps the run's batch
        try:
            for m in modules:  # no callback hook sees the probe's passes (statistics, the guard's own)
                m._forward_hooks.clear()
                m._forward_pre_hooks.clear()
                m._backward_hooks.clear()
            with torch.random.fork_rng(devices=devices):  # dropout in the probe draws from copies of the streams
                base = gain(lr)
                for mult in PROBE_MULTIPLIERS:
                    if lr * mult > PROBE_MAX_LR:
                        break
                    g = gain(lr * mult)
                    if g >= PROBE_GAIN and g > 3 * max(base, 0.0):
                        return lr * mult, g, base
            return None
        except (RuntimeError, TypeError, ValueError):  # an optimizer that cannot be rebuilt this way: no evidence
            return None
        finally:
            for m, fwd, pre, bwd in saved_hooks:
                m._forward_hooks.update(fwd)
                m._forward_pre_hooks.update(pre)
                m._backward_hooks.update(bwd)
            model.train(was_training)


def _total_norm(grads: list[torch.Tensor]) -> torch.Tensor:
    """The 2-norm of all gradients together, a device scalar (NaN/Inf if any element is)."""
    fused = getattr(torch.nn.utils, "get_total_norm", None)  # torch >= 2.6: one foreach kernel per dtype/device
    if fused is not None:
        return fused(grads)
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.detach()) for g in grads]))


def suggest_fix(trainer: Trainer, found: dict[str, Any], start_weight: float = 0.0) -> str:
    """The most likely fix for a divergence, given what ``locate_nonfinite`` found: the loss's extreme parameters
    and huge starting weights (``start_weight``) first, then the learning rate."""
    if found.get("kind") == "input":
        return (
            "the training batch itself holds NaN/Inf: check the data files and data.preprocess "
            "(`trainlab doctor` checks input statistics)"
        )
    lr = trainer.lr
    rate = (
        f"lower the learning rate (optim.lr={lr:g} -> {lr / 10:g}; `trainlab lr-find` suggests one), "
        "clip gradients (optim.clip_grad=1.0), or add normalization (model.norm=batch)"
    )
    first = divergence_causes(trainer.loss.name, start_weight)
    return "; ".join(first) + f"; only then {rate}" if first else rate


@torch.no_grad()
def _forward_finite(model: nn.Module, x: torch.Tensor) -> dict[str, Any]:
    """Run ``x`` through ``model`` with a hook on every leaf layer; the first non-finite output, in execution order."""
    if not bool(torch.isfinite(x).all()):
        return {"layer": "input", "kind": "input", "where": "the input batch already holds NaN/Inf"}
    seen: list[tuple[str, nn.Module, torch.Tensor]] = []
    leaves = [(n, m) for n, m in model.named_modules() if n and not any(True for _ in m.children())]
    handles = [m.register_forward_hook(lambda mod, a, out, n=n: seen.append((n, mod, out))) for n, m in leaves]
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    prev_max = x.abs().max().item()
    prev = "the input"
    for name, mod, out in seen:
        if not isinstance(out, torch.Tensor):
            continue
        if not bool(torch.isfinite(out).all()):
            bad = "NaN" if bool(torch.isnan(out).any()) else "Inf"
            return {
                "layer": name,
                "kind": "activation",
                "where": f"first non-finite activation: output of layer {name} ({type(mod).__name__}) holds {bad}; "
                f"largest |value| entering it ({prev}): {prev_max:.3g}",
            }
        prev_max, prev = out.abs().max().item(), name
    return {}


def locate_nonfinite(model: nn.Module, x: torch.Tensor | None) -> dict[str, Any]:
    """Where a NaN/Inf starts: the first layer with a non-finite output on ``x`` (forward order), else
    the first with a non-finite gradient (backward order), else the first non-finite weight.

    Returns ``{"layer", "kind" ("input"|"activation"|"gradient"|"weight"), "where" (a sentence)}`` or {}.
    The model's buffers (BatchNorm statistics), mode and torch's RNG are left as they were.
    """
    modules = [(n, m) for n, m in model.named_modules() if n and any(True for _ in m.parameters(recurse=False))]
    for name, m in modules:
        for pname, p in m.named_parameters(recurse=False):
            if not bool(torch.isfinite(p).all()):
                return {
                    "layer": name,
                    "kind": "weight",
                    "where": f"the weights are already non-finite, first in {name}.{pname}",
                }
    if x is not None:
        buffers = {k: v.clone() for k, v in model.state_dict().items() if k not in dict(model.named_parameters())}
        rng = torch.get_rng_state()
        try:
            found = _forward_finite(model, x)
        finally:
            model.load_state_dict(buffers, strict=False)
            torch.set_rng_state(rng)
        if found:
            return found
    for name, m in reversed(modules):  # backward order: the layer nearest the loss first
        for pname, p in m.named_parameters(recurse=False):
            if p.grad is not None and not bool(torch.isfinite(p.grad).all()):
                return {
                    "layer": name,
                    "kind": "gradient",
                    "where": "every activation is finite; "
                    f"the first non-finite gradient (backward order) is in {name}.{pname}",
                }
    return {}


@torch.no_grad()
def largest_growth(model: nn.Module, x: torch.Tensor) -> dict[str, Any]:
    """When everything is finite: the layer whose output grows most over what enters it (max |value| ratio)."""
    seen: list[tuple[str, torch.Tensor]] = []
    leaves = [(n, m) for n, m in model.named_modules() if n and not any(True for _ in m.children())]
    handles = [
        m.register_forward_hook(lambda mod, a, out, n=n: seen.append((n, out.detach().abs().max()))) for n, m in leaves
    ]
    buffers = {k: v.clone() for k, v in model.state_dict().items() if k not in dict(model.named_parameters())}
    rng = torch.get_rng_state()
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
        model.load_state_dict(buffers, strict=False)
        torch.set_rng_state(rng)
    if not seen:
        return {}
    maxima = torch.stack([x.detach().abs().max(), *[m for _, m in seen]]).float().cpu().tolist()
    ratios = [(b / a if a > 0 else math.inf, i) for i, (a, b) in enumerate(zip(maxima, maxima[1:]))]
    ratio, i = max(ratios)
    name = seen[i][0]
    return {
        "layer": name,
        "kind": "growth",
        "where": f"activations grow most in layer {name} "
        f"(largest |value| {maxima[i + 1]:.3g} from {maxima[i]:.3g} entering it)",
    }
