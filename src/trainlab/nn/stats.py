"""Per-layer statistics: activations (forward hooks), gradient norms and update/weight ratios.

For a layer's output ``a`` (a batch of activations, units along dim 1):

    mean, std          over every element of ``a``
    zero               fraction of elements exactly 0            (ReLU's "off" share)
    dead               fraction of units that are 0 for every example of the batch
    saturated          fraction of elements in the flat tails: |a| > 0.99 for tanh-like,
                       a < 0.01 or a > 0.99 for sigmoid-like     (no gradient flows there)

and for a layer with weights ``W`` (gradient ``g``, weights before the step ``W0``):

    grad_norm          ||g||_2
    grad_ratio         ||g||_2 / ||W||_2
    update_ratio       ||W - W0||_2 / ||W0||_2                   (about 1e-3 is the classic healthy value)

Every statistic is computed on the device and gathered with one host transfer per measurement,
so recording every K steps costs one forward's worth of reductions every K steps, nothing between.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from trainlab.nn.activations import ACTIVATIONS

WEIGHT_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Bilinear)

ACT_FIELDS = ("mean", "std", "zero", "dead", "saturated", "absmax")


def kind_of(module: nn.Module) -> str:
    """A catalogue activation's ``stat_kind`` fact (tanh, sigmoid, relu, identity), 'weight' for Linear/Conv, else ''.

    An activation module is recognised by its entry's ``module`` fact (``nn/activations.py``), so a
    newly registered activation is watched, with its own meaning of "saturated", without a change here.
    """
    for entry in ACTIVATIONS:
        cls = entry.facts["module"]
        if cls is not None and isinstance(module, cls):
            return entry.facts["stat_kind"]
    if isinstance(module, WEIGHT_TYPES):
        return "weight"
    return ""


def watched_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The (name, module) pairs statistics are taken on, in definition order: weight layers and activations."""
    return [(name, m) for name, m in model.named_modules() if name and kind_of(m)]


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) of the layers with a weight matrix/kernel, in definition order."""
    return [
        (name, m)
        for name, m in model.named_modules()
        if name and isinstance(getattr(m, "weight", None), torch.Tensor) and m.weight.ndim > 1
    ]


@torch.no_grad()
def activation_stats(a: torch.Tensor, kind: str) -> torch.Tensor:
    """The ACT_FIELDS of one output tensor as a 1-D float tensor on its device (no host sync)."""
    a = a.detach().float()
    flat = a.reshape(-1)
    zero = (flat == 0).float().mean()
    if a.ndim >= 2:
        # a unit is dead when it is 0 for every example: reduce over the batch (and any spatial dims)
        per_unit = (a != 0).transpose(0, 1).reshape(a.shape[1], -1).any(dim=1)
        dead = 1.0 - per_unit.float().mean()
    else:
        dead = torch.zeros((), device=a.device)
    if kind == "tanh":
        sat = (flat.abs() > 0.99).float().mean()
    elif kind == "sigmoid":
        sat = ((flat < 0.01) | (flat > 0.99)).float().mean()
    else:
        sat = torch.zeros((), device=a.device)
    std = flat.std() if flat.numel() > 1 else torch.zeros((), device=a.device)
    return torch.stack([flat.mean(), std, zero, dead, sat, flat.abs().max()])


@dataclass
class ActivationRecorder:
    """Forward hooks that record activation statistics (and optionally a sample of values) of every watched layer.

    Use as a context manager around the forward passes to measure; hooks are removed on exit, so
    nothing runs outside it. ``sample=N`` keeps N evenly spaced values of each output (on the
    device until ``samples_cpu``), from which histograms over time are drawn with one common range.
    """

    model: nn.Module
    sample: int = 0  # 0 = keep no values
    stats: dict[str, torch.Tensor] = field(default_factory=dict)
    samples: dict[str, torch.Tensor] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)  # execution order of the last forward

    def __post_init__(self) -> None:
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def __enter__(self) -> ActivationRecorder:
        self.stats, self.samples, self.order = {}, {}, []
        for name, module in watched_layers(self.model):
            self._handles.append(module.register_forward_hook(self._hook(name, kind_of(module))))
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _hook(self, name: str, kind: str):  # noqa: ANN202 - a torch hook
        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            if not isinstance(output, torch.Tensor):
                return
            self.order.append(name)
            self.stats[name] = activation_stats(output, kind)
            if self.sample:
                flat = output.detach().reshape(-1)
                step = max(1, flat.numel() // self.sample)
                self.samples[name] = flat[::step][: self.sample].float().clone()

        return hook

    def results(self) -> dict[str, dict[str, float]]:
        """Layer name -> {stat: value}, in execution order (one host transfer)."""
        names = [n for n in self.order if n in self.stats]
        if not names:
            return {}
        values = torch.stack([self.stats[n] for n in names]).cpu().tolist()
        return {n: dict(zip(ACT_FIELDS, v)) for n, v in zip(names, values)}


def _norms(tensors: list[torch.Tensor]) -> torch.Tensor:
    """The 2-norm of each tensor, stacked (one device tensor)."""
    return torch.stack([torch.linalg.vector_norm(t.detach().float()) for t in tensors])


def gradient_norms(model: nn.Module) -> dict[str, dict[str, float]]:
    """Per weight layer: ||grad||, ||W|| and their ratio (one host transfer); layers without grads are skipped."""
    layers = [(n, m) for n, m in weight_layers(model) if m.weight.grad is not None]
    if not layers:
        return {}
    g = _norms([m.weight.grad for _, m in layers])
    w = _norms([m.weight for _, m in layers])
    rows = torch.stack([g, w, g / w.clamp_min(1e-30)], dim=1).cpu().tolist()
    return {n: {"grad_norm": r[0], "weight_norm": r[1], "grad_ratio": r[2]} for (n, _), r in zip(layers, rows)}


class WeightSnapshot:
    """A copy of every weight layer's weight, to measure ``||W - W0|| / ||W0||`` after an optimizer step."""

    def __init__(self, model: nn.Module):
        self.layers = weight_layers(model)
        self.before = [m.weight.detach().clone() for _, m in self.layers]

    def update_ratios(self) -> dict[str, float]:
        """Per weight layer, the size of the update since the snapshot relative to the weights then."""
        if not self.layers:
            return {}
        delta = _norms([m.weight.detach() - w0 for (_, m), w0 in zip(self.layers, self.before)])
        ratio = (delta / _norms(self.before).clamp_min(1e-30)).cpu().tolist()
        return {n: r for (n, _), r in zip(self.layers, ratio)}


def iter_nonfinite(named: Iterator[tuple[str, torch.Tensor | None]]) -> Iterator[str]:
    """Names whose tensor holds a NaN or an Inf (one host sync per tensor: for diagnosis, not the hot path)."""
    for name, t in named:
        if t is not None and not bool(torch.isfinite(t).all()):
            yield name
