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

It also warns early when the loss climbs above ``rise`` times its initial value (learning rate too
high) or moves less than ``flat`` (relative) over the first epoch (learning rate too low).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trainlab.training.loop import Callback, StopTraining, Trainer

DIVERGED = "diverged"


class NanGuard(Callback):
    """Stop training at the first NaN/Inf in the loss or gradients; warn on LR too high/low."""


    def __init__(self, check_every: int = 0, rise: float = 3.0, explode: float = 100.0, flat: float = 0.01):
        self.check_every = check_every  # 0 = automatic: 1 on the CPU, 50 on accelerators
        self.rise = rise
        self.explode = explode
        self.flat = flat
        self.trainer: Trainer | None = None
        self._handles: list[Any] = []
        self._x: torch.Tensor | None = None
        self._warned_high = False

    # -- wiring ---------------------------------------------------------------
    def on_fit_start(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.every = self.check_every or (1 if trainer.device.type == "cpu" else 50)
        self.initial = trainer.facts.initial_loss
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

    def _remember_input(self, module: nn.Module, args: tuple) -> None:
        if module.training and args:  # a reference, not a copy: the batch the next step trains on
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
                self._stop(trainer, trainer.step + 1, "gradient")
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
                self._stop(trainer, trainer.step, "loss")
            self._check_rise(trainer, value)
            return
        first, value = torch.stack([self._first_bad.float(), loss.float()]).tolist()
        if first >= 0:
            self._stop(trainer, int(first), "gradient", deferred=True)
        if not math.isfinite(value):
            self._stop(trainer, trainer.step, "loss")
        self._check_rise(trainer, value)

    def on_epoch_end(self, trainer: Trainer) -> None:
        if self.every > 1 and self._first_bad.item() >= 0:
            self._stop(trainer, int(self._first_bad.item()), "gradient", deferred=True)
        loss = trainer.metrics.get("train_loss", 0.0)
        if not math.isfinite(loss):
            self._stop(trainer, trainer.step, "loss")
        if trainer.epoch == 1 and self.initial and math.isfinite(self.initial):
            moved = (self.initial - loss) / self.initial
            if abs(moved) < self.flat:
                self._warn(trainer, f"the loss barely moved over the first epoch ({self.initial:.4f} -> {loss:.4f}, {-moved:+.1%}): "
                           f"the learning rate optim.lr={trainer.lr:g} is probably too low; try {trainer.lr * 10:g} or run `trainlab lr-find`")

    def _check_rise(self, trainer: Trainer, value: float) -> None:
        if not self.initial or not math.isfinite(self.initial) or self.initial <= 0:
            return
        if value > self.explode * self.initial:  # finite but hopeless (Adam at lr=10 gets here, not to NaN)
            self._stop(trainer, trainer.step, "loss", exploded=value)
        if not self._warned_high and value > self.rise * self.initial:
            self._warned_high = True
            self._warn(trainer, f"the loss {value:.3g} at step {trainer.step} is above {self.rise:g}x its initial value {self.initial:.3g}: "
                       f"the learning rate optim.lr={trainer.lr:g} is probably too high; try {trainer.lr / 10:g} or run `trainlab lr-find`")

    @staticmethod
    def _warn(trainer: Trainer, text: str) -> None:
        trainer.facts.warnings.append(text)

    # -- diagnosis (runs once, after detection) -----------------------------------
    def _stop(self, trainer: Trainer, step: int, what: str, deferred: bool = False, exploded: float | None = None) -> None:
        found = locate_nonfinite(trainer.model, self._x) if self._x is not None else {}
        if not found and self._x is not None:
            found = largest_growth(trainer.model, self._x)
        where = found.get("where", "")
        epoch, batch = trainer.epoch + 1, trainer.batch_index + 1
        if exploded is not None:
            msg = f"the loss exploded to {exploded:.3g} (over {self.explode:g}x its initial {self.initial:.3g}) at step {step} (epoch {epoch}, batch {batch}) with lr {trainer.lr:g}"
        else:
            msg = f"non-finite {what} at step {step} (epoch {epoch}, batch {batch}) with lr {trainer.lr:g}"
        if deferred:
            msg += f" (found at step {trainer.step}: the guard reads its device-side flag every {self.every} steps)"
        if where:
            msg += f"; {where}"
        msg += f". Fix: {suggest_fix(trainer, found)}"
        run_dir = trainer.facts.run_dir
        if run_dir and (Path(run_dir) / "checkpoint.pt").is_file():
            msg += ". checkpoint.pt keeps the last good state (not overwritten)"
        trainer.facts.nan_guard = {"step": step, "what": "exploded loss" if exploded is not None else what, "lr": trainer.lr, "layer": found.get("layer"), "kind": found.get("kind")}
        raise StopTraining("stopped by the NaN/Inf guard: " + msg, status=DIVERGED)


def _total_norm(grads: list[torch.Tensor]) -> torch.Tensor:
    """The 2-norm of all gradients together, a device scalar (NaN/Inf if any element is)."""
    fused = getattr(torch.nn.utils, "get_total_norm", None)  # torch >= 2.6: one foreach kernel per dtype/device
    if fused is not None:
        return fused(grads)
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.detach()) for g in grads]))


def suggest_fix(trainer: Trainer, found: dict[str, Any]) -> str:
    """The most likely fix for a divergence, given what ``locate_nonfinite`` found."""
    if found.get("kind") == "input":
        return "the training batch itself holds NaN/Inf: check the data files and data.preprocess (`trainlab doctor` checks input statistics)"
    lr = trainer.lr
    return (f"lower the learning rate (optim.lr={lr:g} -> {lr / 10:g}; `trainlab lr-find` suggests one), "
            "clip gradients (optim.clip_grad=1.0), or add normalization (model.norm=batch)")


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
            return {"layer": name, "kind": "activation", "where": f"first non-finite activation: output of layer {name} ({type(mod).__name__}) holds {bad}; "
                    f"largest |value| entering it ({prev}): {prev_max:.3g}"}
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
                return {"layer": name, "kind": "weight", "where": f"the weights are already non-finite, first in {name}.{pname}"}
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
                return {"layer": name, "kind": "gradient", "where": f"every activation is finite; the first non-finite gradient (backward order) is in {name}.{pname}"}
    return {}


@torch.no_grad()
def largest_growth(model: nn.Module, x: torch.Tensor) -> dict[str, Any]:
    """When everything is finite: the layer whose output grows most over what enters it (max |value| ratio)."""
    seen: list[tuple[str, torch.Tensor]] = []
    leaves = [(n, m) for n, m in model.named_modules() if n and not any(True for _ in m.children())]
    handles = [m.register_forward_hook(lambda mod, a, out, n=n: seen.append((n, out.detach().abs().max()))) for n, m in leaves]
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
    return {"layer": name, "kind": "growth", "where": f"activations grow most in layer {name} (largest |value| {maxima[i + 1]:.3g} from {maxima[i]:.3g} entering it)"}
