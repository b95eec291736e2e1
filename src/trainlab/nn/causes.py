"""Why an initial loss is off: measurements of the inputs and outputs at step 0, turned into causes.

A network that starts "knowing nothing" predicts every class with about the same probability, so
cross-entropy starts near ln C. When it does not, three things explain almost every case:

- unnormalized inputs (pixels 0..255): pre-activations, hence logits, are hundreds of times too large;
- the init scale: weights too large make logits large (confident, mostly wrong: loss >> ln C);
- the final layer: a softmax/sigmoid/ReLU already applied to the outputs, or a loss on the wrong link.

``initial_loss_causes`` measures input mean/std and the spread of the logits and names the likely ones.
"""

from __future__ import annotations

import math

import torch

from trainlab.nn.losses import LOSSES


def input_scale(x: torch.Tensor) -> tuple[float, float]:
    """(mean, std) of every element of ``x`` (NaNs ignored)."""
    xf = x.detach().float()
    finite = xf[torch.isfinite(xf)]
    if finite.numel() < 2:
        return float("nan"), float("nan")
    return finite.mean().item(), finite.std().item()


def logit_spread(out: torch.Tensor) -> float:
    """Mean over examples of the std of the outputs across classes (0 = uniform prediction)."""
    out = out.detach().float()
    if out.ndim < 2 or out.shape[1] < 2:
        return out.std().item() if out.numel() > 1 else 0.0
    return out.std(dim=1).mean().item()


def initial_loss_causes(value: float, expected: float, x: torch.Tensor, out: torch.Tensor, loss_name: str) -> list[str]:
    """Likely causes of an initial loss ``value`` far from ``expected``, from measurements of ``x`` and ``out``."""
    causes: list[str] = []
    mean, std = input_scale(x)
    if not bool(torch.isfinite(x).all()):
        causes.append("the inputs contain NaN or Inf: check the data files and data.preprocess")
    elif abs(mean) > 3 or std > 3:
        causes.append(
            f"inputs are not normalized (mean {mean:.3g}, std {std:.3g}; about 0..1 expected):"
            " use data.preprocess=scale or standardize"
        )
    if not bool(torch.isfinite(out).all()):
        causes.append("the outputs are already NaN/Inf at step 0: the init scale is far too large (model.init)")
        return causes
    # a softmax loss (its family fact) on outputs that are already probabilities or clipped at 0
    softmax = loss_name in LOSSES and LOSSES.fact(loss_name, "family") == "cross_entropy"
    if softmax and out.ndim == 2 and out.shape[1] > 1:
        rows = out.detach().float()
        if bool((rows >= 0).all()) and torch.allclose(
            rows.sum(1), torch.ones(len(rows), device=rows.device), atol=1e-3
        ):
            causes.append(
                "the outputs are already probabilities (rows sum to 1): the model applies a softmax before a loss "
                "that applies its own (wrong final layer)"
            )
        elif bool((rows >= 0).all()):
            causes.append(
                "every output is >= 0: an activation (ReLU/sigmoid) after the final layer clips the logits (wrong "
                "final layer)"
            )
    spread = logit_spread(out)
    if spread > 1.0 and not any("normalized" in c for c in causes):
        causes.append(
            f"the logits are large at init (std {spread:.3g} across classes, near 0 expected):"
            " the weights start too large; use a smaller model.init (kaiming_normal/xavier_normal matched to the "
            "activation)"
        )
    elif spread > 1.0:
        causes.append(f"the logits are large at init (std {spread:.3g} across classes) because the inputs are")
        causes[-1] += " unnormalized"
    if not causes and math.isfinite(value) and value < expected:
        causes.append(
            "the loss starts below chance: the model predicts well before training (labels leaking into the inputs?)"
        )
    if not causes:
        causes.append(
            f"logit spread {spread:.3g}, input mean {mean:.3g} / std {std:.3g} look fine: check the output layer / "
            "loss pairing (loss.name)"
        )
    return causes
