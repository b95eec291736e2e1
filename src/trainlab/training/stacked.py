"""Many runs at the price of one: runs that share an architecture and data shape train as one stacked model.

Each member is an ordinary ``Trainer`` made by ``build.make_trainer`` from its own config: its own
model init, data split, permutation generator (or sampler), loss, optimizer settings, schedule and
callbacks. ``StackedEngine`` copies the members' Linear layers into ``[K, in, out]`` tensors and,
per step, gathers each member's batch from its own permutation, runs the layers as batched matmuls
(``torch.baddbmm``: measured faster than ``torch.func.vmap`` over ``functional_call`` here,
BENCHMARKS.md), sums the members' mean losses (so each member's gradient is its own) and steps
each member's slices of the stacked tensors with torch.optim's functional Adam, AdamW or SGD and
that member's own settings (``StackedOptimizer``; a torch.optim optimizer cannot step one tensor
with several learning rates).

At each epoch's end the weights and optimizer state go back into each member's model and torch
optimizer, and the member's own Trainer finishes the epoch exactly as a single run does
(validation, schedule, history, callbacks: metrics.csv, checkpoint.pt, early stopping, the NaN
guard). A member that stops (early stopping, divergence, its last epoch) leaves the stack; the
others go on. The engine declares what it cannot train (``StackedEngine.UNSUPPORTED``, the keys members
may differ in, ``why_not_together`` for configs and ``why_not_built`` for built trainers);
``build.why_alone`` asks it once and callers then train such runs one by one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
import torch.optim.adam as _adam  # the functional updates torch.optim's Adam, AdamW and SGD run
import torch.optim.sgd as _sgd
from torch import nn

from trainlab.config import Config, flat_keys
from trainlab.nn.activations import maxout_pieces
from trainlab.nn.models import MODELS
from trainlab.registry import Registry
from trainlab.training.callbacks import Checkpoint, Interrupt, NanGuard, NotebookProgress, Progress
from trainlab.training.engines import Engine, Unsupported
from trainlab.training.loop import StopTraining, Trainer
from trainlab.training.metrics import predictions
from trainlab.training.optim import OPTIMIZERS

# config keys whose values may differ between members: each member applies its own
MEMBER_KEYS = (
    "seed",
    "optim.lr",
    "optim.weight_decay",
    "optim.name",
    "optim.schedule",
    "optim.warmup",
    "model.act",
    "model.init",
    "model.bias_init",
    "loss.name",
    "train.epochs",
    "train.patience",
    "train.monitor",
    "train.min_delta",
    "train.restore_best",
    "train.nan_guard",
    "train.checkpoint",
    "train.eval_batch_size",
    "output.",
)
# bytes of one stack's working set (weights, gradients, Adam's moments, the batch): on a quiet 2-core
# EPYC, 8 reference members (784-256-10, 4 MB each) in one stack trained 1.85x faster than one by one
# and 2 per stack 1.55x; under heavy load 8 per stack lost (BENCHMARKS.md, "Stacked runs")
STACK_BYTES = 32 * 2**20


def _layers(model: nn.Module) -> list[tuple[nn.Linear, nn.Module | None]] | None:
    """(Linear, activation or None) per layer when the model is Flatten, (Linear, activation)*, Linear; else None."""
    mods = list(model.children()) if isinstance(model, nn.Sequential) else []
    if mods and isinstance(mods[0], nn.Flatten):
        mods = mods[1:]
    out: list[tuple[nn.Linear, nn.Module | None]] = []
    for mod in mods:
        if isinstance(mod, nn.Linear) and mod.bias is not None:
            out.append((mod, None))
        elif (
            out
            and out[-1][1] is None
            and not isinstance(mod, nn.Linear)
            and not any(True for _ in mod.parameters())
            and not any(True for _ in mod.buffers())
        ):
            if isinstance(mod, (nn.Dropout, nn.Flatten)) or list(mod.children()):
                return None
            out[-1] = (out[-1][0], mod)
        else:
            return None
    return out if out and out[-1][1] is None else None


def _hyper(opt: torch.optim.Optimizer) -> tuple[str, dict[str, float]] | None:
    """The update kind and its settings of a member's torch optimizer, or None when StackedOptimizer cannot do it."""
    if len(opt.param_groups) != 1:
        return None
    g = opt.param_groups[0]
    if g.get("maximize") or g.get("amsgrad") or g.get("differentiable"):
        return None
    if type(opt) in (torch.optim.Adam, torch.optim.AdamW):
        if isinstance(g["lr"], torch.Tensor):
            return None
        kind = "adamw" if type(opt) is torch.optim.AdamW else "adam"
        return kind, {
            "lr": g["lr"],
            "weight_decay": g["weight_decay"],
            "beta1": g["betas"][0],
            "beta2": g["betas"][1],
            "eps": g["eps"],
        }
    if type(opt) is torch.optim.SGD:
        return "sgd", {
            "lr": g["lr"],
            "weight_decay": g["weight_decay"],
            "momentum": g["momentum"],
            "dampening": g["dampening"],
            "nesterov": float(g["nesterov"]),
        }
    return None


# callbacks with an on_batch_end that a stack serves itself: the NaN guard's per-step checks
# (StackedEngine._guard), Ctrl-C (its interrupt), checkpoints every N steps (refused by its UNSUPPORTED)
# and progress lines (epoch-level in a stack)
STACK_SERVED = (NanGuard, Interrupt, Checkpoint, Progress, NotebookProgress)


def step_reader(trainer: Trainer) -> str | None:
    """The name of a callback whose ``on_batch_end`` a stack cannot serve (it reads the member's
    weights or state every step: ``Callback.loss_only_batch_end`` is False), else None."""
    for c in trainer.callbacks:
        if "batch_end" in c.handlers() and not c.loss_only_batch_end and not isinstance(c, STACK_SERVED):
            return type(c).__name__
    return None


def stack_size(trainer: Trainer) -> int:
    """Members per stacked model for runs like ``trainer``: as many as fit ``STACK_BYTES``, at least 2."""
    params = sum(p.numel() for p in trainer.model.parameters())
    features = trainer.data.train.x[0].numel()
    per_member = 4 * (4 * params + trainer.batch_size * features)  # float32 weights, grads, 2 moments; the batch
    return max(2, STACK_BYTES // per_member)


class StackedOptimizer:
    """Each member's own torch.optim update on its slice of the stacked tensors.

    torch.optim cannot give one tensor several learning rates, so each member's slices (views of the
    stacked parameters, gradients and moments) go through torch's functional update
    (``torch.optim.adam.adam`` with ``decoupled_weight_decay`` for AdamW, ``torch.optim.sgd.sgd``) with
    the settings of that member's own optimizer group (``groups``, live: a schedule's new lr is seen at
    the next step), fused or foreach exactly as the member's optimizer would step.
    """

    def __init__(self, kind: str, params: list[torch.Tensor], groups: list[dict[str, Any]]):
        self.kind = kind
        self.params = params
        self.groups = list(groups)
        adam = kind in ("adam", "adamw")
        self.exp_avg = [torch.zeros_like(p) for p in params] if adam else []
        self.exp_avg_sq = [torch.zeros_like(p) for p in params] if adam else []
        # torch keeps Adam's step as a float32 tensor per parameter (on the device when fused)
        self.steps = (
            [
                [torch.zeros((), dtype=torch.float32, device=p.device if g.get("fused") else "cpu") for p in params]
                for g in self.groups
            ]
            if adam
            else []
        )
        self.momentum: list[list[torch.Tensor | None]] = [[None] * len(params) for _ in self.groups]

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor], skip: Sequence[int] = ()) -> None:
        """One update of every member but the ``skip`` rows, each with its own settings."""
        for r, g in enumerate(self.groups):
            if r in skip:  # (its NaN guard stopped it before this update, as the guard's step pre-hook does)
                continue
            ps = [p[r] for p in self.params]
            gs = [x[r] for x in grads]
            if self.kind == "sgd":
                _sgd.sgd(
                    ps,
                    gs,
                    self.momentum[r],
                    foreach=g.get("foreach"),
                    fused=g.get("fused"),
                    weight_decay=g["weight_decay"],
                    momentum=g["momentum"],
                    lr=g["lr"],
                    dampening=g["dampening"],
                    nesterov=g["nesterov"],
                    maximize=False,
                )
            else:
                _adam.adam(
                    ps,
                    gs,
                    [m[r] for m in self.exp_avg],
                    [v[r] for v in self.exp_avg_sq],
                    [],
                    self.steps[r],
                    foreach=g.get("foreach"),
                    fused=g.get("fused"),
                    decoupled_weight_decay=bool(g.get("decoupled_weight_decay", self.kind == "adamw")),
                    amsgrad=False,
                    beta1=g["betas"][0],
                    beta2=g["betas"][1],
                    lr=g["lr"],
                    weight_decay=g["weight_decay"],
                    eps=g["eps"],
                    maximize=False,
                )

    def keep(self, rows: list[int]) -> None:
        """Keep only these members' state (members that stopped leave the stack)."""
        index = torch.tensor(rows, dtype=torch.long, device=self.params[0].device)
        self.exp_avg = [m[index] for m in self.exp_avg]
        self.exp_avg_sq = [v[index] for v in self.exp_avg_sq]
        self.steps = [self.steps[r] for r in rows] if self.steps else []
        self.momentum = [self.momentum[r] for r in rows]
        self.groups = [self.groups[r] for r in rows]

    def member_state(self, row: int, transpose: list[bool]) -> list[dict[str, Any]]:
        """One member's state in torch.optim's per-parameter form (for its optimizer and checkpoint)."""

        def one(t: torch.Tensor | None, tr: bool) -> torch.Tensor | None:
            if t is None:
                return None
            # contiguous like the parameter: torch's fused Adam reads its moments as flat arrays
            return (t.t() if tr else t.reshape(-1)).clone(memory_format=torch.contiguous_format)

        out: list[dict[str, Any]] = []
        for i, tr in enumerate(transpose):
            if self.kind == "sgd":
                buf = self.momentum[row][i]
                out.append({"momentum_buffer": one(buf, tr)} if buf is not None else {})
            else:
                out.append(
                    {
                        "step": self.steps[row][i].clone(),
                        "exp_avg": one(self.exp_avg[i][row], tr),
                        "exp_avg_sq": one(self.exp_avg_sq[i][row], tr),
                    }
                )
        return out


def _member_reason(t: Trainer) -> str | None:
    """Why this built trainer cannot be a member of any stack (None: it can, with like members)."""
    layers = _layers(t.model)
    if layers is None:
        return "the model is not Linear layers with element-wise activations"
    if _hyper(t.optimizer) is None:
        return f"optimizer {type(t.optimizer).__name__} with these settings has no stacked update"
    if any(not p.requires_grad for p in t.model.parameters()) or len(list(t.model.parameters())) != 2 * len(layers):
        return "frozen or extra parameters"
    bad = (
        (t.augment is not None, "augmentation"),
        (bool(t.l1), "L1 penalty"),
        (bool(t.clip_grad), "gradient clipping"),
        (t.precision != "fp32", "precision"),
        (t.logit_offset is not None, "logit adjustment"),
        (t.unsupervised, "pretraining"),
        (t.loss.start_epoch is not None, f"loss {t.loss.name} changes per epoch"),
        (t.engine.sharded, "data-parallel"),
        (t.epoch != 0 or t.step != 0, "a resumed run"),
    )
    reason = next((why for b, why in bad if b), None)
    reader = step_reader(t) if reason is None else None
    if reader is not None:
        reason = f"callback {reader} reads the model every step"
    return reason


def _shared(cfg: Config) -> dict[str, Any]:
    """The flat config keys every member of a stack must share (the optimizer's name without its parameters too)."""
    flat = {k: v for k, v in flat_keys(cfg.to_dict()).items() if not StackedEngine.may_differ(k)}
    flat["optim.name"] = cfg.spec("optim.name").name
    return flat


def _unsupported(test: Any, reason: Any) -> Unsupported:
    """A declared unsupported feature; ``reason`` a fixed text or a function of the config."""
    return Unsupported(test, reason if callable(reason) else lambda cfg, why=reason: why)


def _stackable(registry: Registry) -> str:
    """The entries of a catalogue that declare the fact ``stackable`` (models of Linear layers and
    element-wise activations; optimizers whose functional update the stack runs per member)."""
    return ", ".join(e.name for e in registry if registry.fact(e.name, "stackable", False))


def _pretrains(cfg: Config) -> bool:
    """Whether the run pretrains, starts from pretrained weights or freezes layers."""
    return cfg.spec("pretrain.method").name != "none" or bool(cfg.model.pretrained) or cfg.train.freeze != "none"


class StackedEngine(Engine):
    """Trains several member Trainers as one stacked model; each member ends as its single run would.

    Its declaration: ``UNSUPPORTED`` (what no member may use), ``MEMBER_KEYS`` (what members may differ in),
    ``why_not_together`` (configs) and ``why_not_built`` (built trainers); ``build.why_alone`` reads them.
    """

    name = "stacked"
    MEMBER_KEYS = MEMBER_KEYS
    UNSUPPORTED = (  # what no member may use: the runs that do train alone, each saying why
        _unsupported(
            lambda c: not MODELS.fact(c.spec("model.name"), "stackable", False),
            lambda c: f"model.name={c.model.name} (only {_stackable(MODELS)} stack)",
        ),
        _unsupported(
            lambda c: c.model.dropout > 0,
            lambda c: f"model.dropout={c.model.dropout:g} (its masks cannot follow the single run's random draws)",
        ),
        _unsupported(lambda c: c.model.norm != "none", lambda c: f"model.norm={c.model.norm}"),
        _unsupported(
            lambda c: maxout_pieces(c.model.act) is not None or c.spec("model.act").name == "prelu",
            lambda c: f"model.act={c.model.act} (a layer with its own shape or parameters)",
        ),
        _unsupported(lambda c: bool(c.data.augment), "data.augment (its random draws cannot follow the single run's)"),
        _unsupported(lambda c: _pretrains(c), "pretraining, model.pretrained or train.freeze"),
        _unsupported(lambda c: c.train.precision != "fp32", lambda c: f"train.precision={c.train.precision}"),
        _unsupported(lambda c: c.loss.l1 > 0, lambda c: f"loss.l1={c.loss.l1:g}"),
        _unsupported(lambda c: bool(c.optim.clip_grad), lambda c: f"optim.clip_grad={c.optim.clip_grad}"),
        _unsupported(
            lambda c: not OPTIMIZERS.fact(c.spec("optim.name"), "stackable", False),
            lambda c: f"optim.name={c.optim.name} (only {_stackable(OPTIMIZERS)} stack)",
        ),
        _unsupported(lambda c: c.diagnostics.every > 0, "diagnostics.every"),
        _unsupported(lambda c: c.logging.tensorboard, "logging.tensorboard"),
        _unsupported(
            lambda c: c.train.checkpoint_every > 0, "train.checkpoint_every (members checkpoint at epoch ends)"
        ),
        _unsupported(lambda c: c.eval.logit_adjust != 0, "eval.logit_adjust"),
    )

    @classmethod
    def may_differ(cls, key: str) -> bool:
        """True when members of one stack may differ in this dotted config key."""
        return any(key == p or (p.endswith(".") and key.startswith(p)) for p in cls.MEMBER_KEYS)

    @classmethod
    def why_not_together(cls, configs: Sequence[Config]) -> str | None:
        """Why configs that each may stack cannot share one stack: the first shared key they differ in."""
        first = _shared(configs[0])
        for cfg in configs[1:]:
            other = _shared(cfg)
            diff = sorted(k for k in first.keys() | other.keys() if first.get(k) != other.get(k))
            if diff:
                return f"{diff[0]} differs ({first.get(diff[0])!r} vs {other.get(diff[0])!r})"
        return None

    @classmethod
    def why_not_built(cls, trainers: Sequence[Trainer]) -> str | None:
        """Why these built trainers cannot train as one stacked model (None: they can; one: with like ones)."""
        first = trainers[0]
        kind = _hyper(first.optimizer)
        shapes = None
        for t in trainers:
            reason = _member_reason(t)
            if reason is not None:
                return reason
            these = [tuple(lin.weight.shape) for lin, _ in _layers(t.model) or []]
            if shapes is not None and these != shapes:
                return f"layer shapes differ ({shapes} vs {these})"
            shapes = these
            hyper = _hyper(t.optimizer)
            if hyper[0] != kind[0] or hyper[1].get("nesterov") != kind[1].get("nesterov"):  # type: ignore[index]
                return "optimizers differ"
            if t.bounds != first.bounds:
                return "batches differ (data size or batch size)"
            if t.device != first.device:
                return "devices differ"
        return None

    def __init__(self, trainers: Sequence[Trainer], plain_cross_entropy: bool = False):
        reason = self.why_not_built(trainers) if len(trainers) > 1 else "a single run"
        if reason is not None:
            raise ValueError(f"these runs cannot be stacked: {reason}")
        self.members = list(trainers)
        self.rows = list(range(len(trainers)))  # stack row -> member index
        first = trainers[0]
        self.device = first.device
        self.bounds = first.bounds
        self.layers = [_layers(t.model) for t in trainers]
        with torch.no_grad():
            ws, bs = [], []
            for i in range(len(self.layers[0])):  # [K, in, out] and [K, 1, out], so x @ W + b is baddbmm
                ws.append(
                    torch.stack([layers[i][0].weight.t() for layers in self.layers]).contiguous().requires_grad_(True)
                )
                bs.append(
                    torch.stack([layers[i][0].bias.unsqueeze(0) for layers in self.layers])
                    .contiguous()
                    .requires_grad_(True)
                )
        self.weights, self.biases = ws, bs
        self.kind = _hyper(first.optimizer)[0]  # type: ignore[index]
        self.optimizer = StackedOptimizer(self.kind, self._params(), [t.optimizer.param_groups[0] for t in trainers])
        self.scheduled = [
            i for i, t in enumerate(trainers) if t.schedule.scheduler is not None or t.schedule.warmup is not None
        ]
        self._acts = self._activations()
        self.interrupt: Interrupt | None = None  # a group-wide stop request (set by the caller's signal handler)
        self.plain_cross_entropy = (
            plain_cross_entropy  # every member's loss is F.cross_entropy, no weights or smoothing
        )
        self.step = 0
        self.seconds = 0.0
        # each member's loss-only batch_end handlers (a lesson's Recorder), called every step with its own loss
        self._step_hooks = [
            [c.handlers()["batch_end"] for c in t.callbacks if c.loss_only_batch_end and "batch_end" in c.handlers()]
            for t in trainers
        ]

    def _params(self) -> list[torch.Tensor]:
        return [p for pair in zip(self.weights, self.biases, strict=True) for p in pair]

    # -- the members' view ---------------------------------------------------------
    def _active(self) -> list[Trainer]:
        return [self.members[i] for i in self.rows]

    @torch.no_grad()
    def _sync(self, row: int) -> None:
        """Copy stack row ``row`` into its member's model and torch optimizer (weights, moments, step)."""
        t = self.members[self.rows[row]]
        lin_layers = self.layers[self.rows[row]]
        for (lin, _), w, b in zip(lin_layers, self.weights, self.biases, strict=True):
            lin.weight.copy_(w[row].t())
            lin.bias.copy_(b[row, 0])
        params = [p for lin, _ in lin_layers for p in (lin.weight, lin.bias)]
        states = self.optimizer.member_state(row, [True, False] * len(lin_layers))
        for p, st in zip(params, states, strict=True):
            if not st:
                continue
            t.optimizer.state[p] = st

    def _keep(self, rows: list[int]) -> None:
        """Only these stack rows go on (the others' members have stopped)."""
        index = torch.tensor(rows, dtype=torch.long, device=self.device)
        with torch.no_grad():
            self.weights = [w[index].detach().requires_grad_(True) for w in self.weights]
            self.biases = [b[index].detach().requires_grad_(True) for b in self.biases]
        self.optimizer.params = self._params()
        self.optimizer.keep(rows)
        self.rows = [self.rows[r] for r in rows]
        self._acts = self._activations()
        self.scheduled = [i for i in self.scheduled if i in self.rows]

    # -- training ----------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[K, B, features] → [K, B, outputs]: each member's layers on its own slice."""
        h = x
        for (w, b), acts in zip(zip(self.weights, self.biases, strict=True), self._acts, strict=True):
            h = torch.baddbmm(b, h, w)
            if acts is None:
                continue
            if len(acts) == 1:
                h = acts[0](h)  # one element-wise call for the whole stack
            else:  # members differ in activation: each on its own slice
                h = torch.stack([a(h[r]) for r, a in enumerate(acts)])
        return h

    def _activations(self) -> list[list[nn.Module] | None]:
        """Per layer: None (no activation), one module all members share, or each member's own."""
        out: list[list[nn.Module] | None] = []
        for i in range(len(self.weights) if self.rows else 0):
            acts = [self.layers[m][i][1] for m in self.rows]
            if acts[0] is None:
                out.append(None)
            elif all(type(a) is type(acts[0]) and repr(a) == repr(acts[0]) for a in acts):
                out.append([acts[0]])  # type: ignore[list-item]
            else:
                out.append(acts)  # type: ignore[arg-type]
        return out

    def _losses(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Each member's mean loss over its batch, [K]."""
        members = self._active()
        if self.plain_cross_entropy:  # one call for the stack
            k, b, c = out.shape
            return F.cross_entropy(out.reshape(k * b, c), y.reshape(-1), reduction="none").view(k, b).mean(1)
        return torch.stack([t.loss(out[r], y[r]) for r, t in enumerate(members)])

    def fit(self) -> list[Trainer]:
        """Train every member to its end (or its stop); returns the members, each with its status and history."""
        start = time.perf_counter()
        for t in self.members:
            t.start_clock(start)
        try:
            for t in self.members:
                t.fire("fit_start")
            while self.rows:
                for t in self._active():
                    t.fire("epoch_start")
                self._train_epoch()
                self._end_epoch()
        except BaseException:
            for t in self._active():
                t.status = "failed"
                t.stop_clock()
                t.fire("error")
            raise
        self.seconds = time.perf_counter() - start
        return self.members

    def _finish(self, row: int, stop: StopTraining | None) -> None:
        """Member of stack row ``row`` is done: its status, its time, its fit_end."""
        t = self.members[self.rows[row]]
        t.status, t.stop_reason = (stop.status, stop.reason) if stop is not None else ("completed", "")
        t.stop_clock()
        t.fire("fit_end")

    def _guard_gradients(self, norms: list[float], xb: torch.Tensor, index: int) -> list[int]:
        """The NaN guard's check before the update (its optimizer step pre-hook): rows whose gradient
        norm is non-finite stop with the weights of before this step, as their single runs would."""
        stopped = []
        for r, norm in enumerate(norms):
            t = self.members[self.rows[r]]
            guard = next((c for c in t.callbacks if isinstance(c, NanGuard)), None)
            if guard is None or math.isfinite(norm):
                continue
            self._sync(r)
            t.step, t.batch_index = self.step, index
            guard.watch(xb[r])  # the batch this member was about to train on: the guard looks for the first bad layer
            try:
                guard.stop(t, self.step + 1, "gradient")
            except StopTraining as stop:
                self._finish(r, stop)
                stopped.append(r)
        return stopped

    def _guard(self, losses: list[float], xb: torch.Tensor, index: int, skip: Sequence[int] = ()) -> list[int]:
        """The per-step checks of each member's NaN guard: rows whose loss is non-finite or exploded stop."""
        stopped = []
        for r, value in enumerate(losses):
            if r in skip:
                continue
            t = self.members[self.rows[r]]
            guard = next((c for c in t.callbacks if isinstance(c, NanGuard)), None)
            if guard is None:
                continue
            t.step, t.batch_index = self.step, index
            initial = guard.initial
            if not math.isfinite(value) or (initial and math.isfinite(initial) and value > guard.explode * initial):
                self._sync(r)  # it stops: the guard looks for the first bad layer in the weights of after this step
                guard.watch(xb[r])
            try:
                if not math.isfinite(value):
                    guard.stop(t, self.step, "loss")
                guard.check_rise(t, value)
            except StopTraining as stop:
                self._finish(r, stop)
                stopped.append(r)
        return stopped

    def _train_epoch(self) -> None:
        members = self._active()
        n = len(members[0].data.train)
        perms = [
            (t.sampler.order(n, t.generator) if t.sampler is not None else torch.randperm(n, generator=t.generator)).to(
                self.device
            )
            for t in members
        ]
        order = torch.stack(perms)
        k = len(members)
        loss_sum = torch.zeros(k, device=self.device)
        correct = torch.zeros(k, device=self.device, dtype=torch.long)
        seen = 0
        classification = members[0].classification
        datasets = [t.data.train for t in members]
        shared = all(d.x is datasets[0].x and d.y is datasets[0].y for d in datasets)
        checked = any(isinstance(c, NanGuard) for t in members for c in t.callbacks)
        for index, (a, b) in enumerate(self.bounds):
            idx = order[:, a:b]
            if shared:  # one gather for the whole stack
                flat = idx.reshape(-1)
                xb = datasets[0].x.index_select(0, flat).view(k, b - a, -1)
                yb = datasets[0].y.index_select(0, flat).view(k, b - a, *datasets[0].y.shape[1:])
            else:  # each member its own split (seeds differ)
                xb = torch.stack([d.x.index_select(0, idx[r]).reshape(b - a, -1) for r, d in enumerate(datasets)])
                yb = torch.stack([d.y.index_select(0, idx[r]) for r, d in enumerate(datasets)])
            out = self.forward(xb)
            losses = self._losses(out, yb)
            params = self._params()
            grads = torch.autograd.grad(losses.sum(), params)
            checks: list[float] = []
            bad: list[int] = []
            if checked:  # the NaN guard's two checks for every member, in one host sync
                norms = torch.stack([g.detach().flatten(1).norm(dim=1) for g in grads]).norm(dim=0)
                checks = torch.cat([losses.detach(), norms]).tolist()
                bad = self._guard_gradients(checks[k:], xb, index)
            self.optimizer.step(list(grads), skip=bad)
            if self.step == 0:  # each member's torch optimizer was stepped, through its slices: tell its scheduler so
                for t in members:  # (torch warns of a scheduler stepped before its optimizer otherwise)
                    t.optimizer._opt_called = True  # type: ignore[attr-defined]
            for i in self.scheduled:  # moves lr in the member's optimizer group, which the next step reads
                self.members[i].schedule.after_step()
            with torch.no_grad():
                loss_sum += losses.detach() * (b - a)
                if classification:
                    correct += (predictions(out.reshape(k * (b - a), -1)).view(k, b - a) == yb).sum(1)
            seen += b - a
            self.step += 1
            stopped = bad + self._guard(checks[:k], xb, index, skip=bad) if checked else []
            if any(self._step_hooks[m] for m in self.rows):
                self._send_step(losses.detach(), index, stopped)
            if self.interrupt is not None and self.interrupt.signum is not None:
                self._interrupt(order, index + 1, loss_sum, correct, seen)
                return
            if stopped:  # diverged members leave the stack; the others go on
                keep = [r for r in range(k) if r not in stopped]
                self._keep(keep)
                if not self.rows:
                    return
                members, order, loss_sum, correct = self._active(), order[keep], loss_sum[keep], correct[keep]
                datasets = [datasets[r] for r in keep]
                k = len(keep)
                checked = any(isinstance(c, NanGuard) for t in members for c in t.callbacks)
        self._sums = (loss_sum, correct, seen)

    def _send_step(self, losses: torch.Tensor, index: int, stopped: list[int]) -> None:
        """Each going member's loss-only ``batch_end`` handlers, as its own loop would call them after this step."""
        for r, m in enumerate(self.rows):
            hooks = self._step_hooks[m]
            if not hooks or r in stopped:  # (a stopped member's loop raised before its later callbacks)
                continue
            t = self.members[m]
            t.last_loss, t.step, t.batch_index, t.position = losses[r], self.step, index, index + 1
            for hook in hooks:
                hook(t)

    def _interrupt(
        self, order: torch.Tensor, position: int, loss_sum: torch.Tensor, correct: torch.Tensor, seen: int
    ) -> None:
        """A stop signal: every member writes its mid-epoch checkpoint (its own Interrupt callback) and stops."""
        assert self.interrupt is not None
        for r in range(len(self.rows)):
            t = self.members[self.rows[r]]
            self._sync(r)
            t.perm, t.position, t.step, t.batch_index = order[r].cpu(), position, self.step, position - 1
            t.loss_sum, t.correct, t.seen = loss_sum[r].clone(), correct[r].clone(), seen
            own = next((c for c in t.callbacks if isinstance(c, Interrupt)), None)
            try:
                if own is None:
                    raise StopTraining(
                        f"{self.interrupt.signal_name}: stopped at epoch {t.epoch + 1}, step {t.step}",
                        status="interrupted",
                    )
                own.request(self.interrupt.signum)  # type: ignore[arg-type]
                own.stop(t)
            except StopTraining as stop:
                self._finish(r, stop)
        self.rows = []

    def _end_epoch(self) -> None:
        """Each member's Trainer ends its epoch as a single run does; members that stop leave the stack."""
        if not self.rows:
            return
        loss_sum, correct, seen = self._sums
        keep = []
        for r in range(len(self.rows)):
            t = self.members[self.rows[r]]
            self._sync(r)
            t.loss_sum, t.correct, t.seen = loss_sum[r].clone(), correct[r].clone(), seen
            t.step, t.perm, t.position = self.step, None, 0
            try:
                t.end_epoch()
            except StopTraining as stop:
                self._finish(r, stop)
                continue
            if t.epoch >= t.epochs:
                self._finish(r, None)
            else:
                keep.append(r)
        if len(keep) != len(self.rows):
            if keep:
                self._keep(keep)
            else:
                self.rows = []
