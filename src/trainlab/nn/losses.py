"""Losses by name. Every loss takes the model's raw outputs (logits or values) and the targets.

Losses that need probabilities apply the link themselves (``bce`` applies a sigmoid, ``nll`` a
log-softmax, ``mse`` on classes a softmax), so the same model serves every loss, no
``softmax``/``log_softmax`` output layer is ever needed, and the numerically safer fused forms
(``cross_entropy``, ``bce_with_logits``) can be compared with the textbook ones.

Which loss fits which task is checked when the loss is built (before training): class losses
(cross_entropy, nll, focal, cosine_similarity, bce*) need class labels; mae, rmse and huber need
regression targets; mse works on both (on classes it compares softmax with one-hot, the classic
comparison). ``nt_xent`` works on pairs of embeddings, so it is a Python function, not a config name.

Every loss declares its ``family`` when registered (``LOSSES`` refuses an entry without one), one of
``FAMILIES``: ``cross_entropy`` (a softmax over one logit per class: the initial-loss diagnosis looks
for outputs that are already probabilities), ``binary`` (one logit, sigmoid), ``classes`` (other
class losses), ``regression`` (values; mse also takes classes), ``unsupervised`` (a pretraining
objective). Optionally ``initial_loss``: ``f(C, params) -> float | None``, the loss a well-initialized
model (uniform prediction over C classes) starts near, ``params`` being the inline parameters
given; without it (the documented default, None) the initial-loss check has no expected value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from trainlab.errors import ConfigError, brief
from trainlab.registry import Registry, parse_spec

FAMILIES = ("cross_entropy", "binary", "classes", "regression", "unsupervised")
LOSSES = Registry("loss", required=("family",), defaults={"initial_loss": None}, listed=("family",))


def ln_classes(c: int, params: dict[str, Any]) -> float:
    """Uniform prediction over C classes: -sum p_c log(1/C) = ln C, whatever the class balance or weights."""
    return math.log(c)


def ln_two(c: int, params: dict[str, Any]) -> float:
    """One logit at 0: sigmoid 1/2 for each example, -log(1/2) = ln 2."""
    return math.log(2)


def focal_initial(c: int, params: dict[str, Any]) -> float | None:
    """Uniform p_t = 1/C gives mean(alpha_t) (1 - 1/C)^gamma ln C (None for class-balanced alpha)."""
    gamma, alpha = float(params.get("gamma", 2.0)), params.get("alpha", 0.25)
    if isinstance(alpha, str) and alpha != "none":
        return None  # class-balanced alpha: depends on the class counts
    if alpha is None or alpha == "none":
        a = 1.0
    elif isinstance(alpha, (list, tuple)):
        a = sum(alpha) / len(alpha)
    else:  # 2 classes: alpha and 1 - alpha, 0.5 on balanced data; more classes: alpha for all
        a = 0.5 if c == 2 else float(alpha)
    return a * (1 - 1 / c) ** gamma * math.log(c)


def mse_initial(c: int, params: dict[str, Any]) -> float:
    """Uniform softmax against one-hot targets: ((1 - 1/C)^2 + (C - 1)/C^2) / C."""
    return ((1 - 1 / c) ** 2 + (c - 1) / c**2) / c


@dataclass
class LossContext:
    """What a loss may need to know about the task."""

    task: str = "classification"
    num_classes: int = 10
    class_counts: torch.Tensor | None = None


@dataclass
class Loss:
    """A loss function plus what it implies for the model's output layer."""

    name: str
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    binary: bool = False  # one output unit (sigmoid family) instead of one per class
    regression: bool = False
    start_epoch: Callable[[int], None] | None = None  # told each epoch's index (LDAM's deferred re-weighting)
    unsupervised: bool = False  # a pretraining objective: ignores the labels, measures no accuracy

    def __call__(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.fn(out, y)


def _binary_check(ctx: LossContext, name: str) -> None:
    if ctx.task != "classification" or ctx.num_classes != 2:
        what = "a regression task" if ctx.task != "classification" else f"{ctx.num_classes} classes"
        raise ConfigError(f"loss {brief(name)} needs a 2-class data set, this one has {what}; use cross_entropy")


def _classes_only(ctx: LossContext, name: str) -> None:
    if ctx.task != "classification":
        raise ConfigError(
            f"loss {brief(name)} needs class labels, this data set is a regression task; use mse, mae, rmse or huber"
        )


def _regression_only(ctx: LossContext, name: str) -> None:
    # mse alone is kept on classes, as the classic softmax-vs-one-hot comparison
    if ctx.task == "classification":
        raise ConfigError(
            f"loss {brief(name)} is for regression targets, this data set has {ctx.num_classes} classes; use "
            "cross_entropy (or mse, the classic comparison)"
        )


class _OnDevice:
    """A constant tensor copied to the outputs' device once, not at every step (no per-step transfer)."""

    def __init__(self, tensor: torch.Tensor | None):
        self.tensor = tensor

    def on(self, device: torch.device) -> torch.Tensor | None:
        if self.tensor is not None and self.tensor.device != device:
            self.tensor = self.tensor.to(device)
        return self.tensor


def effective_number_weights(counts: torch.Tensor, beta: float = 0.9999) -> torch.Tensor:
    """Class-balanced weights by the effective number of examples (Cui et al. 2019).

    E_c = (1 - beta^n_c) / (1 - beta);  w_c = (1 / E_c) normalized so that sum_c w_c = C.
    beta = 0 weighs all classes alike; beta -> 1 approaches inverse class frequency. An absent class gets 0.
    """
    n = counts.double()
    effective = (1 - beta**n) / (1 - beta)
    w = torch.where(n > 0, 1 / effective.clamp(min=1e-12), torch.zeros_like(n))
    return (w * (n > 0).sum() / w.sum()).float()


def _class_weights(weights: Any, ctx: LossContext) -> torch.Tensor | None:
    """None, ``balanced`` (n / (C * n_c) from the train counts, as scikit-learn), ``effective(beta)``
    (Cui et al. 2019) or one weight per class."""
    if weights is None or weights == "none":
        return None
    if isinstance(weights, str) and parse_spec(weights).name == "effective":
        spec = parse_spec(weights)
        beta = spec.kwargs.get("beta", spec.args[0] if spec.args else 0.9999)
        if ctx.class_counts is None:
            raise ConfigError("class weights 'effective' need the training set's class counts")
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0 <= beta < 1:
            raise ConfigError(
                f"class weights {weights!r}: beta must be a number in [0, 1), e.g. effective(beta=0.9999)"
            )
        return effective_number_weights(ctx.class_counts, float(beta))
    if weights == "balanced":
        if ctx.class_counts is None:
            raise ConfigError("class weights 'balanced' need the training set's class counts")
        counts = ctx.class_counts.double()
        w = counts.sum() / (len(counts) * counts)
        return torch.where(counts > 0, w, torch.zeros_like(w)).float()  # an absent class gets weight 0
    if not isinstance(weights, (list, tuple)) or len(weights) != ctx.num_classes:
        raise ConfigError(
            f"class weights {brief(weights)}: give 'balanced', 'effective(beta=0.9999)' or a list of "
            f"{ctx.num_classes} numbers, one per class"
        )
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 for v in weights) or not any(weights):
        raise ConfigError(f"class weights {brief(weights)} must be non-negative numbers, not all zero")
    return torch.tensor([float(v) for v in weights])


def _counts(ctx: LossContext, name: str) -> torch.Tensor:
    _classes_only(ctx, name)
    if ctx.class_counts is None or ctx.num_classes < 2:
        raise ConfigError(f"loss {name!r} needs the training set's class counts (a classification data set)")
    return ctx.class_counts.double()


@LOSSES.register(
    "cross_entropy",
    "softmax + negative log-likelihood on logits (label_smoothing, weights=balanced|effective(beta)|[w0,..])",
    family="cross_entropy",
    initial_loss=ln_classes,
)
def cross_entropy(ctx: LossContext, label_smoothing: float = 0.0, weights: Any = None) -> Loss:
    """Multi-class cross-entropy, optionally label-smoothed and class-weighted (torch's F.cross_entropy)."""
    _classes_only(ctx, "cross_entropy")
    ls = float(label_smoothing)
    if not 0.0 <= ls < 1.0:
        raise ConfigError(f"loss cross_entropy: label_smoothing={label_smoothing} must be in [0, 1)")
    w = _OnDevice(_class_weights(weights, ctx))

    def fn(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(out, y, weight=w.on(out.device), label_smoothing=ls)

    return Loss("cross_entropy", fn)


@LOSSES.register(
    "ldam",
    "label-distribution-aware margins n_c^(-1/4), scale s; drw_epoch: class-balanced weights "
    "from then on (Cao et al. 2019)",
    limits={"beta": (0, 1)},  # and below 1 (the factory): 1 - beta divides the effective numbers
    family="cross_entropy",
)
def ldam(
    ctx: LossContext, max_margin: float = 0.5, s: float = 30.0, drw_epoch: int | None = None, beta: float = 0.9999
) -> Loss:
    """LDAM loss with deferred re-weighting (Cao et al. 2019), on logits.

    Margins shrink with class size: Delta_c = m / n_c^(1/4), scaled so the largest is ``max_margin``.
    The true class's logit is lowered by its margin before a scaled softmax::

        L = -w_y log( exp(s (z_y - Delta_y)) / (exp(s (z_y - Delta_y)) + sum_{j != y} exp(s z_j)) )

    w = 1 until epoch ``drw_epoch`` (0-based; None: never), then the effective-number weights
    (1 - beta)/(1 - beta^n_c), normalized to sum to C (the paper's DRW schedule), averaged as
    ``F.cross_entropy`` does (sum of w_y L / sum of w_y). The paper uses s = 30 on a normalized
    (cosine) last layer; on plain logits a smaller s may train better (docs/imbalance.md).
    """
    n = _counts(ctx, "ldam")
    if not float(max_margin) > 0 or not float(s) > 0:
        raise ConfigError(f"loss ldam: max_margin={max_margin} and s={s} must be > 0")
    if drw_epoch is not None and (isinstance(drw_epoch, bool) or not isinstance(drw_epoch, int) or drw_epoch < 0):
        raise ConfigError(f"loss ldam: drw_epoch={drw_epoch!r} must be an epoch index >= 0 (or none)")
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0 <= beta < 1:
        raise ConfigError(f"loss ldam: beta={beta!r} must be a number in [0, 1) (1 divides by zero), e.g. 0.9999")
    raw = torch.where(n > 0, n.clamp(min=1) ** -0.25, torch.zeros_like(n))
    margins = _OnDevice((raw * (float(max_margin) / raw.max())).float())
    drw = _OnDevice(effective_number_weights(n, float(beta)))
    scale = float(s)
    state = {"weighted": drw_epoch == 0}

    def start_epoch(epoch: int) -> None:
        state["weighted"] = drw_epoch is not None and epoch >= drw_epoch

    def fn(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        delta = margins.on(out.device)[y].to(out.dtype)
        z = out.scatter_add(1, y[:, None], -delta[:, None])
        return F.cross_entropy(scale * z, y, weight=drw.on(out.device) if state["weighted"] else None)

    return Loss("ldam", fn, start_epoch=start_epoch)


@LOSSES.register(
    "logit_adjusted",
    "cross-entropy on z + tau*log(prior): the logit-adjusted loss (Menon et al. 2021)",
    family="cross_entropy",
)
def logit_adjusted(ctx: LossContext, tau: float = 1.0) -> Loss:
    """Logit-adjusted cross-entropy (Menon et al. 2021), on logits, with the train class prior pi::

        L = -log( exp(z_y + tau log pi_y) / sum_j exp(z_j + tau log pi_j) )

    Training against the prior-shifted logits leaves z itself estimating a balanced classifier, so
    predictions are the plain argmax_j z_j (no adjustment at evaluation; compare ``eval.logit_adjust``).
    """
    n = _counts(ctx, "logit_adjusted")
    t = float(tau)
    if t < 0:
        raise ConfigError(f"loss logit_adjusted: tau={tau} must be >= 0")
    log_prior = torch.log((n / n.sum()).clamp(min=1e-12))
    offset = _OnDevice((t * log_prior).float())

    def fn(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(out + offset.on(out.device).to(out.dtype), y)

    return Loss("logit_adjusted", fn)


def logit_adjustment(counts: torch.Tensor, tau: float) -> torch.Tensor:
    """Post hoc logit adjustment's offset (Menon et al. 2021): predict argmax_j z_j - tau log pi_j."""
    n = counts.double()
    return (-tau * torch.log((n / n.sum()).clamp(min=1e-12))).float()


@LOSSES.register(
    "nll",
    "negative log-likelihood after log_softmax (equals cross_entropy)",
    family="cross_entropy",
    initial_loss=ln_classes,
)
def nll(ctx: LossContext) -> Loss:
    """NLL on log-softmax outputs."""
    _classes_only(ctx, "nll")
    return Loss("nll", lambda out, y: F.nll_loss(F.log_softmax(out, dim=1), y))


@LOSSES.register(
    "focal",
    "-alpha_t (1-p_t)^gamma log p_t: down-weights easy examples (gamma 2, alpha 0.25|balanced|effective(beta))",
    family="cross_entropy",
    initial_loss=focal_initial,
)
def focal(ctx: LossContext, gamma: float = 2.0, alpha: Any = 0.25) -> Loss:
    """Focal loss (Lin et al., 2017), multi-class, on logits.

    With p = softmax(z) and t the true class of an example::

        FL = -alpha_t * (1 - p_t)^gamma * log p_t          (mean over the batch)

    ``gamma`` = 0 and ``alpha`` = none give cross-entropy. ``alpha_t``: on 2-class data alpha for
    class 1 and 1 - alpha for class 0 (RetinaNet's form); on more classes a number weighs every
    class alike (it only scales the loss), a list gives one weight per class, and ``balanced`` or
    ``effective(beta=0.9999)`` the class weights of ``cross_entropy`` (class-balanced focal, Cui et al. 2019).
    """
    _classes_only(ctx, "focal")
    g = float(gamma)
    if g < 0:
        raise ConfigError(f"loss focal: gamma={gamma} must be >= 0")
    if alpha is None or alpha == "none":
        a = None
    elif isinstance(alpha, (list, tuple)):
        a = _class_weights(list(alpha), ctx)
    elif isinstance(alpha, str) and parse_spec(alpha).name in ("balanced", "effective"):  # class-balanced focal
        a = _class_weights(alpha, ctx)
    elif isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and 0 <= alpha <= 1:
        a = torch.tensor([1 - alpha, alpha]) if ctx.num_classes == 2 else torch.full((ctx.num_classes,), float(alpha))
    else:
        raise ConfigError(
            f"loss focal: alpha={brief(alpha)} must be a number in [0, 1], none, balanced, effective(beta=0.9999), or "
            f"a list of {ctx.num_classes} class weights"
        )
    alpha_t = _OnDevice(a)

    def fn(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logp_t = F.log_softmax(out, dim=1).gather(1, y[:, None]).squeeze(1)
        loss = -((1 - logp_t.exp()) ** g) * logp_t
        weights = alpha_t.on(out.device)
        if weights is not None:
            loss = weights[y] * loss
        return loss.mean()

    return Loss("focal", fn)


@LOSSES.register(
    "bce_with_logits",
    "sigmoid + binary cross-entropy fused (stable); 2-class data",
    family="binary",
    initial_loss=ln_two,
)
def bce_with_logits(ctx: LossContext) -> Loss:
    """Binary cross-entropy on a single logit."""
    _binary_check(ctx, "bce_with_logits")
    return Loss(
        "bce_with_logits", lambda out, y: F.binary_cross_entropy_with_logits(out.squeeze(-1), y.float()), binary=True
    )


@LOSSES.register(
    "bce",
    "binary cross-entropy after an explicit sigmoid (the textbook form); 2-class data",
    family="binary",
    initial_loss=ln_two,
)
def bce(ctx: LossContext) -> Loss:
    """Binary cross-entropy on sigmoid probabilities."""
    _binary_check(ctx, "bce")
    return Loss("bce", lambda out, y: F.binary_cross_entropy(torch.sigmoid(out.squeeze(-1)), y.float()), binary=True)


@LOSSES.register(
    "cosine_similarity",
    "1 - cos(outputs, one-hot target): the direction counts, not the scale",
    family="classes",  # no initial_loss: it depends on the init's logit directions
)
def cosine_similarity(ctx: LossContext) -> Loss:
    """Cosine embedding loss against one-hot class vectors: mean of 1 - cos(z, e_y)."""
    _classes_only(ctx, "cosine_similarity")
    return Loss(
        "cosine_similarity",
        lambda out, y: (1 - F.cosine_similarity(out, F.one_hot(y, out.shape[1]).to(out.dtype), dim=1)).mean(),
    )


def _as_target(out: torch.Tensor, y: torch.Tensor, ctx: LossContext) -> torch.Tensor:
    """Regression targets as they are; class labels as one-hot (MSE on classes, the classic mistake)."""
    if ctx.task == "classification":
        return F.one_hot(y, out.shape[1]).to(out.dtype)
    return y.reshape(out.shape).to(out.dtype)


@LOSSES.register(
    "mse",
    "mean squared error (regression; on classes: softmax vs one-hot)",
    family="regression",
    initial_loss=mse_initial,
)
def mse(ctx: LossContext) -> Loss:
    """Mean squared error."""
    if ctx.task == "classification":
        return Loss("mse", lambda out, y: F.mse_loss(F.softmax(out, 1), _as_target(out, y, ctx)))
    return Loss("mse", lambda out, y: F.mse_loss(out, _as_target(out, y, ctx)), regression=True)


@LOSSES.register(
    "mae",
    "mean absolute error |y - f(x)| (regression; robust to outliers)",
    family="regression",
)
def mae(ctx: LossContext) -> Loss:
    """Mean absolute error (L1 loss)."""
    _regression_only(ctx, "mae")
    return Loss("mae", lambda out, y: F.l1_loss(out, _as_target(out, y, ctx)), regression=True)


@LOSSES.register(
    "rmse",
    "sqrt of the mean squared error, in the target's units (regression)",
    family="regression",
)
def rmse(ctx: LossContext) -> Loss:
    """Root mean squared error (per batch)."""
    _regression_only(ctx, "rmse")
    return Loss("rmse", lambda out, y: F.mse_loss(out, _as_target(out, y, ctx)).sqrt(), regression=True)


@LOSSES.register(
    "huber",
    "squared below delta, linear above (delta default 1; regression)",
    family="regression",
)
def huber(ctx: LossContext, delta: float = 1.0) -> Loss:
    """Huber loss: 0.5 r^2 if |r| <= delta else delta (|r| - 0.5 delta), r = y - f(x)."""
    _regression_only(ctx, "huber")
    d = float(delta)
    if d <= 0:
        raise ConfigError(f"loss huber: delta={delta} must be > 0")
    return Loss("huber", lambda out, y: F.huber_loss(out, _as_target(out, y, ctx), delta=d), regression=True)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """NT-Xent, SimCLR's contrastive loss (Chen et al., 2020), for two views of N examples.

    Stack the 2N embeddings z = [z1; z2], normalize them, s_ij = cos(z_i, z_j) / tau. The positive of
    i is its other view p(i) (i + N mod 2N); every other embedding but i itself is a negative::

        l_i = -log( exp(s_{i,p(i)}) / sum_{k != i} exp(s_ik) )          loss = mean_i l_i

    i.e. cross-entropy over each row of the similarity matrix with the diagonal masked out.
    """
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(
            f"nt_xent needs two (N, D) tensors of the same shape, got {tuple(z1.shape)} and {tuple(z2.shape)}"
        )
    n = len(z1)
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n, device=z.device), torch.arange(0, n, device=z.device)])
    return F.cross_entropy(sim, target)


def make_loss(spec: str, ctx: LossContext) -> Loss:
    """Build the loss named by ``spec`` for the task described by ``ctx``."""
    return LOSSES.create(spec, ctx=ctx)


def default_loss(model_name: str, task: str) -> str:
    """The loss ``loss.name=auto`` resolves to."""
    if task == "regression":
        return "mse"
    return "bce_with_logits" if parse_spec(model_name).name == "perceptron" else "cross_entropy"


def expected_initial_loss(loss: str, ctx: LossContext) -> float | None:
    """The loss a well-initialized model should start near (its ``initial_loss`` fact, ln C for cross-entropy), or None.

    Only on classification data: a regression's starting loss depends on the targets' scale.
    """
    if ctx.task != "classification":
        return None
    entry, kw = LOSSES.bind(loss)
    initial = LOSSES.fact(entry.name, "initial_loss")
    return None if initial is None else initial(ctx.num_classes, kw)
