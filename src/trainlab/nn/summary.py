"""A model summary: each layer with its output shape, parameter count and (for CNNs) receptive field.

The receptive field of a unit is the span of input positions that can influence it. Walking the
layers in order with ``r`` (receptive field) and ``j`` (jump: input positions between neighbouring
units), starting from ``r = 1, j = 1`` on the input, each convolution or pooling layer with kernel
``k``, stride ``s`` and dilation ``d`` updates, per spatial dimension::

    r ← r + (d·(k − 1)) · j
    j ← j · s

Padding moves where the field sits but not its size; element-wise layers (activations, norms,
dropout) leave both unchanged; after ``Flatten`` every unit sees the whole input.
"""

from __future__ import annotations

import torch
from torch import nn

_WINDOWED = (nn.Conv1d, nn.Conv2d, nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d)


def layer_table(model: nn.Module, input_shape: tuple[int, ...]) -> list[tuple[str, str, tuple[int, ...], int]]:
    """(name, type, output shape without batch, parameters) for each leaf layer, in forward order."""
    rows: list[tuple[str, str, tuple[int, ...], int]] = []
    hooks = []
    for name, module in model.named_modules():
        if name and not list(module.children()):

            def hook(mod: nn.Module, inp: object, out: torch.Tensor, name: str = name) -> None:
                rows.append((name, type(mod).__name__, tuple(out.shape[1:]), sum(p.numel() for p in mod.parameters())))

            hooks.append(module.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        with torch.no_grad():
            model(torch.zeros((2, *input_shape), device=device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return rows


def _per_dim(value: int | tuple[int, ...], dims: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (int(value),) * dims


def receptive_fields(layers: list[nn.Module], dims: int) -> list[tuple[int, ...] | None]:
    """Receptive field (per spatial dimension) of each layer's output units; None once flattened."""
    rf, jump = (1,) * dims, (1,) * dims
    out: list[tuple[int, ...] | None] = []
    flat = False
    for layer in layers:
        if isinstance(layer, (nn.Flatten, nn.Linear)):
            flat = True
        if flat:
            out.append(None)
            continue
        if isinstance(layer, _WINDOWED):
            k = _per_dim(layer.kernel_size, dims)
            s = _per_dim(layer.stride if layer.stride is not None else layer.kernel_size, dims)
            d = _per_dim(getattr(layer, "dilation", 1), dims)
            rf = tuple(r + di * (ki - 1) * j for r, ki, di, j in zip(rf, k, d, jump))
            jump = tuple(j * si for j, si in zip(jump, s))
        out.append(rf)
    return out


def _fmt_rf(rf: tuple[int, ...] | None) -> str:
    return "all" if rf is None else "x".join(map(str, rf))


def summarize(model: nn.Module, input_shape: tuple[int, ...]) -> str:
    """Text table of layers, output shapes, parameters (and receptive fields for CNNs), with the total."""
    rows = layer_table(model, input_shape)
    modules = [model.get_submodule(name) for name, *_ in rows]
    conv = any(isinstance(m, (nn.Conv1d, nn.Conv2d)) for m in modules)
    dims = len(input_shape) - 1
    rfs = receptive_fields(modules, dims) if conv and dims >= 1 else [None] * len(rows)
    width = max([14, *(len(name) + 2 for name, *_ in rows)])
    rule = "-" * (width + 48 + (16 if conv else 0))
    rf_head = f"{'receptive field':>16}" if conv else ""
    lines = [f"{'layer':<{width}}{'type':<16}{'output shape':<20}{'params':>12}{rf_head}", rule]
    lines.append(
        f"{'input':<{width}}{'':<16}{str(tuple(input_shape)):<20}{0:>12,}"
        + (f"{_fmt_rf((1,) * dims):>16}" if conv else "")
    )
    for (name, typ, shape, params), rf in zip(rows, rfs):
        lines.append(f"{name:<{width}}{typ:<16}{str(shape):<20}{params:>12,}" + (f"{_fmt_rf(rf):>16}" if conv else ""))
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    lines += [rule, f"total parameters {total:,} (trainable {trainable:,})"]
    if conv:
        last = next((rf for rf in reversed(rfs) if rf is not None), None)
        if dims == 1:
            lines.append(f"receptive field of the last conv features: {_fmt_rf(last)} of {input_shape[1]} input steps")
        else:
            spatial = "x".join(map(str, input_shape[1:]))
            lines.append(f"receptive field of the last conv features: {_fmt_rf(last)} of the {spatial} input")
    return "\n".join(lines)
