"""A model summary: each layer with its output shape and parameter count (via forward hooks)."""

from __future__ import annotations

import torch
from torch import nn


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


def summarize(model: nn.Module, input_shape: tuple[int, ...]) -> str:
    """Text table of layers, output shapes and parameters, with the total."""
    rows = layer_table(model, input_shape)
    lines = [f"{'layer':<14}{'type':<16}{'output shape':<20}{'params':>12}", "-" * 62, f"{'input':<14}{'':<16}{str(tuple(input_shape)):<20}{0:>12,}"]
    for name, typ, shape, params in rows:
        lines.append(f"{name:<14}{typ:<16}{str(shape):<20}{params:>12,}")
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    lines += ["-" * 62, f"total parameters {total:,} (trainable {trainable:,})"]
    return "\n".join(lines)
