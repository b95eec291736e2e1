"""One memory plan per run, counted before anything is allocated.

A run holds, at its peak: the model's float32 weights with their gradients, the optimizer's state
copies and one more copy for saving (``models.model_memory``), the pretraining head or decoder
included; and, one at a time, one training batch's activations (each layer's output, kept for the
backward pass and matched by as many gradients), the augmented batch (``shift``/``crop`` pad it),
SimCLR's similarity matrix of the 2N views, and one evaluation batch's widest layer. Layer output
sizes come from one forward pass on torch's ``meta`` device (no bytes; a convolution's output
follows the formula in nn/cnn.py). ``check_plan`` refuses a plan over ``models.memory_limit`` in one
line naming the figures and the bound (``TRAINLAB_MAX_MODEL_BYTES`` raises it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from trainlab.errors import ConfigError
from trainlab.nn.models import (
    FLOAT_BYTES,
    check_model_memory,
    describe,
    gigabytes,
    memory_limit,
    plan_model,
)
from trainlab.nn.ssl import make_pretraining

# SimCLR's NT-Xent holds the (2N)x(2N) similarities, their log-softmax and its gradient
SIMILARITY_COPIES = 3
# layers whose output is a view of their input or is never kept for backward: no bytes of their own
VIEWS = (nn.Flatten, nn.Identity, nn.Unflatten)


@dataclass
class MemoryPlan:
    """The bytes one run needs at its peak, by part, and what they come from."""

    weights: int  # weights, gradients, optimizer state copies, a copy for saving (pretraining head included)
    parameters: int  # the parameter count behind ``weights``
    batch: int  # training examples per step (the rows the model sees: 2N for SimCLR's views)
    activations: int  # one training batch's layer outputs, forward and backward
    evaluation: int  # one evaluation batch's widest layer, its input and output
    inputs: int = 0  # the augmented training batch at its largest (padding included)
    similarity: int = 0  # SimCLR's similarity matrices of one batch
    notes: dict[str, str] = field(default_factory=dict)  # part -> what it is, for the message

    def parts(self) -> dict[str, int]:
        """Each part's bytes; the batch parts are alive one at a time, so the peak adds only the largest."""
        return {
            "weights": self.weights,
            "activations": self.activations + self.similarity,
            "inputs": self.inputs,
            "evaluation": self.evaluation,
        }

    @property
    def total(self) -> int:
        """The peak: the weights and the largest batch part."""
        p = self.parts()
        return p["weights"] + max(p["activations"], p["inputs"], p["evaluation"])


def layer_outputs(model: nn.Module, input_shape: tuple[int, ...]) -> list[int]:
    """Per-example output size of each leaf layer of a ``meta`` model, in execution order (one forward pass on
    ``meta`` tensors: nothing allocated); [] when a layer cannot run there."""
    sizes: list[int] = []
    leaves = [m for n, m in model.named_modules() if n and not any(True for _ in m.children())]

    def record(module: nn.Module, args: Any, out: Any) -> None:
        if isinstance(out, torch.Tensor) and not isinstance(module, VIEWS):
            sizes.append(out[0].numel() if out.ndim else 1)

    handles = [m.register_forward_hook(record) for m in leaves]
    try:
        with torch.no_grad():
            model(torch.empty((1, *input_shape), device="meta"))
    except (RuntimeError, NotImplementedError, TypeError, ValueError):  # an op without a meta kernel: no estimate
        return []
    finally:
        for h in handles:
            h.remove()
    return sizes


def plan_memory(
    model_cfg: Any,
    input_shape: tuple[int, ...],
    out_features: int,
    *,
    optimizer_states: int,
    batch_size: int,
    eval_batch_size: int,
    pretrain: str | None = None,
    views: int = 1,
    augmented_bytes: int = 0,
    augment_note: str = "",
) -> MemoryPlan:
    """The memory plan of a run, counted on the ``meta`` device.

    ``pretrain``: the ``pretrain.method`` spec (its head or decoder is planned too; SimCLR's
    similarity matrix counted); ``views``: copies of each example the model sees per step (2 for
    SimCLR); ``augmented_bytes``: the augmented batch's largest tensor (from the data side, which
    knows the augmentations), ``augment_note`` what makes it so large.
    """
    model = plan_model(model_cfg, input_shape, out_features)
    simclr = False
    if pretrain is not None:
        with torch.device("meta"):
            model, loss = make_pretraining(pretrain, model, input_shape, list(model_cfg.hidden))
        simclr = views > 1
    params = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for b in model.buffers())
    weights = (params * (3 + optimizer_states) + buffers) * FLOAT_BYTES
    sizes = layer_outputs(model, tuple(input_shape))
    rows = batch_size * views
    per_example = sum(sizes) + math.prod(input_shape)
    activations = 2 * rows * per_example * FLOAT_BYTES  # forward outputs kept for backward, and their gradients
    widest = max((a + b for a, b in zip([math.prod(input_shape), *sizes], sizes)), default=0)
    evaluation = eval_batch_size * views * widest * FLOAT_BYTES
    similarity = SIMILARITY_COPIES * rows * rows * FLOAT_BYTES if simclr else 0
    notes = {"augment": augment_note} if augment_note else {}
    notes["model"] = f"{model_cfg.spec('name').name} {describe(model)}".strip()
    return MemoryPlan(weights, params, rows, activations, evaluation, augmented_bytes, similarity, notes)


def check_plan(
    plan: MemoryPlan, model_cfg: Any, input_shape: tuple[int, ...], out_features: int, states: int, device: Any = None
) -> MemoryPlan:
    """``plan``, or a ConfigError in one line naming its figures and the bound when it needs more than
    ``memory_limit(device)``. The model's own weights over the bound keep their message (``check_model_memory``)."""
    check_model_memory(model_cfg, input_shape, out_features, states, device)
    limit = memory_limit(device)
    if limit is None or plan.total <= limit:
        return plan
    where = "on the GPU" if device is not None and torch.device(device).type == "cuda" else "available"
    parts = plan.parts()
    said = [
        f"{gigabytes(plan.weights)} for {plan.parameters:,} parameters with their gradients, optimizer state and a copy"
    ]
    largest = max(("activations", "inputs", "evaluation"), key=lambda k: parts[k])
    fix = ""
    if plan.weights > limit:  # the weights alone do not fit: no batch size helps
        fix = "use smaller layers (model.hidden, model.blocks, or the pretraining head: proj=[...], hidden=[...])"
    if largest == "activations":
        said.append(
            f"{gigabytes(parts['activations'])} for one training batch of {plan.batch:,} rows"
            f" (each layer's output, forward and backward"
            + (f"; {gigabytes(plan.similarity)} of it the views' similarity matrix" if plan.similarity else "")
            + ")"
        )
        batch_fix = "use a smaller optim.batch_size or smaller layers (model.hidden, model.blocks: channels, padding)"
    elif largest == "inputs":
        said.append(f"{gigabytes(plan.inputs)} for the augmented batch ({plan.notes.get('augment', 'augmentation')})")
        batch_fix = "use less padding in the augmentation (shift, crop) or a smaller optim.batch_size"
    else:
        said.append(f"{gigabytes(plan.evaluation)} for one evaluation batch's widest layer")
        batch_fix = "use a smaller train.eval_batch_size or smaller layers (model.hidden, model.blocks)"
    fix = fix or batch_fix
    raise ConfigError(
        f"this run needs {gigabytes(plan.total)} of memory ({plan.notes['model']}): {', '.join(said)};"
        f" only {gigabytes(limit)} is {where} - {fix}, or set TRAINLAB_MAX_MODEL_BYTES to raise the bound"
    )
