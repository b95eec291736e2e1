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

from trainlab.errors import ConfigError
from trainlab.nn.losses import LOSSES
from trainlab.registry import parse_spec

# a loss parameter whose size lies outside this range (a temperature of 1e-5, a scale of 1e6) is named
# first when the loss turns NaN/Inf: exp(x / 1e-5) overflows whatever the learning rate
SANE_PARAMETER = (1e-3, 1e3)
# a weight larger than this at the start (a model.pretrained run's, or an init's) is named first too
LARGE_WEIGHT = 1e4


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


def extreme_loss_parameters(loss_name: str) -> list[str]:
    """The numeric inline parameters of a loss's name (``nt_xent(temperature=1e-05)``) whose size lies outside
    ``SANE_PARAMETER``, written ``key=value``."""
    try:
        spec = parse_spec(loss_name)
    except ConfigError:
        return []
    low, high = SANE_PARAMETER
    return [
        f"{k}={v:g}"
        for k, v in spec.kwargs.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v != 0 and not low <= abs(v) <= high
    ]


def divergence_causes(loss_name: str, start_weight: float) -> list[str]:
    """What made a run diverge before its learning rate could: extreme loss parameters, or weights that start
    huge or non-finite (``start_weight``: the largest |weight| when training started)."""
    causes: list[str] = []
    params = extreme_loss_parameters(loss_name)
    if params:
        causes.append(
            f"the loss's parameters are extreme ({', '.join(params)} in {loss_name}): its exponentials overflow at any "
            "learning rate; use a value nearer the default"
        )
    if not math.isfinite(start_weight) or start_weight > LARGE_WEIGHT:
        causes.append(
            f"the weights started with |w| up to {start_weight:.3g}: the model.pretrained run's weights (or"
            " model.init) are unusable; start from other weights"
        )
    return causes
