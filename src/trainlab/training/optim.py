"""Optimizers and learning-rate schedules by name, all from torch.optim."""

from __future__ import annotations

from typing import Any

import torch

from trainlab.errors import ConfigError
from trainlab.registry import Registry

# stackable: stacked runs (training/stacked.py) can step it for every member at once with
# torch's functional update; an optimizer that does not say so does not stack
# facts: ``states``, the values kept per parameter (Adam: two moments; SGD: a momentum buffer), which
# the model's memory check counts; ``stackable``, whether stacked runs step it (training/stacked.py)
OPTIMIZERS = Registry("optimizer", required=("states",), defaults={"stackable": False}, listed=("stackable",))
SCHEDULES = Registry("schedule")


@OPTIMIZERS.register(
    "gd",
    "full-batch gradient descent: plain SGD steps on the whole training set",
    stackable=True,
    states=0,
)
def gd(params: Any, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """Gradient descent; the loop uses one batch holding every training example."""
    return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)


@OPTIMIZERS.register(
    "sgd",
    "stochastic gradient descent (momentum, nesterov, dampening)",
    stackable=True,
    states=1,
)
def sgd(
    params: Any, lr: float, weight_decay: float, momentum: float = 0.0, nesterov: bool = False, dampening: float = 0.0
) -> torch.optim.Optimizer:
    """SGD, minibatch or batch 1, optionally with (Nesterov) momentum."""
    return torch.optim.SGD(
        params,
        lr=lr,
        momentum=float(momentum),
        nesterov=bool(nesterov),
        dampening=float(dampening),
        weight_decay=weight_decay,
    )


@OPTIMIZERS.register("adagrad", "per-parameter rates shrinking with the sum of squared gradients", states=1)
def adagrad(params: Any, lr: float, weight_decay: float, eps: float = 1e-10) -> torch.optim.Optimizer:
    """AdaGrad."""
    return torch.optim.Adagrad(params, lr=lr, eps=float(eps), weight_decay=weight_decay)


@OPTIMIZERS.register(
    "rmsprop", "per-parameter rates from a moving average of squared gradients (alpha, momentum)", states=2
)
def rmsprop(
    params: Any, lr: float, weight_decay: float, alpha: float = 0.99, momentum: float = 0.0, eps: float = 1e-8
) -> torch.optim.Optimizer:
    """RMSProp."""
    return torch.optim.RMSprop(
        params, lr=lr, alpha=float(alpha), momentum=float(momentum), eps=float(eps), weight_decay=weight_decay
    )


def _fused(params: list[Any]) -> bool:
    """True when torch's fused kernel can step ``params``: plain float tensors, all on the CPU or all on CUDA.

    On the CPU torch otherwise picks its one-tensor-at-a-time loop; the fused Adam step made an
    epoch of the reference recipe about 10% faster here (BENCHMARKS.md, "remaining speed").
    """
    if not params or any(isinstance(p, dict) for p in params):
        return False
    devices = {p.device.type for p in params}
    return len(devices) == 1 and devices <= {"cpu", "cuda"} and all(p.is_floating_point() for p in params)


@OPTIMIZERS.register(
    "adam",
    "momentum + RMSProp with bias correction (beta1, beta2); weight_decay is L2",
    stackable=True,
    states=2,
)
def adam(
    params: Any, lr: float, weight_decay: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
) -> torch.optim.Optimizer:
    """Adam (torch's fused step where it can run)."""
    params = list(params)
    return torch.optim.Adam(
        params,
        lr=lr,
        betas=(float(beta1), float(beta2)),
        eps=float(eps),
        weight_decay=weight_decay,
        fused=_fused(params) or None,
    )


@OPTIMIZERS.register(
    "adamw",
    "Adam with decoupled weight decay (optim.weight_decay, default 0.01 if 0)",
    stackable=True,
    states=2,
)
def adamw(
    params: Any, lr: float, weight_decay: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
) -> torch.optim.Optimizer:
    """AdamW (torch's fused step where it can run)."""
    params = list(params)
    return torch.optim.AdamW(
        params,
        lr=lr,
        betas=(float(beta1), float(beta2)),
        eps=float(eps),
        weight_decay=weight_decay or 0.01,
        fused=_fused(params) or None,
    )


def make_optimizer(optim_cfg: Any, params: Any) -> torch.optim.Optimizer:
    """Build the optimizer the config names over ``params``."""
    return OPTIMIZERS.create(optim_cfg.name, params=params, lr=optim_cfg.lr, weight_decay=optim_cfg.weight_decay)


class Schedule:
    """Drives torch LR schedulers from the loop: ``after_step`` after every optimizer step,
    ``after_epoch`` after each epoch's validation (plateau gets the metric there).

    Every schedule but plateau is stepped per optimizer step with its length in steps, so a step
    schedule drops exactly at epoch boundaries while cosine and exponential decay smoothly. A
    ``warmup`` (torch's LinearLR) runs for ``warmup_steps`` first when the main schedule cannot be
    chained with SequentialLR (plateau).
    """

    def __init__(
        self,
        scheduler: Any = None,
        per_step: bool = False,
        needs_metric: bool = False,
        warmup: Any = None,
        warmup_steps: int = 0,
    ):
        self.scheduler = scheduler
        self.per_step = per_step
        self.needs_metric = needs_metric
        self.warmup = warmup
        self.warmup_steps = warmup_steps
        self.steps = 0

    def after_step(self) -> None:
        """Called after every optimizer step."""
        self.steps += 1
        if self.warmup is not None and self.steps <= self.warmup_steps:
            self.warmup.step()
        if self.scheduler is not None and self.per_step:
            self.scheduler.step()

    def after_epoch(self, metric: float | None) -> None:
        """Called after each epoch's validation."""
        if self.scheduler is None or self.per_step or self.steps < self.warmup_steps:
            return
        if self.needs_metric:
            if metric is not None:
                self.scheduler.step(metric)
        else:
            self.scheduler.step()

    def state_dict(self) -> dict[str, Any]:
        """Scheduler state for checkpoints."""
        state: dict[str, Any] = {"steps": self.steps}
        if self.scheduler is not None:
            state["scheduler"] = self.scheduler.state_dict()
        if self.warmup is not None:
            state["warmup"] = self.warmup.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore scheduler state."""
        self.steps = state.get("steps", 0)
        if self.scheduler is not None and "scheduler" in state:
            self.scheduler.load_state_dict(state["scheduler"])
        if self.warmup is not None and "warmup" in state:
            self.warmup.load_state_dict(state["warmup"])


def _positive(name: str, **values: Any) -> None:
    for key, v in values.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
            raise ConfigError(f"schedule {name!r}: {key}={v!r} must be a positive number")


@SCHEDULES.register("none", "constant learning rate")
def no_schedule(optimizer: torch.optim.Optimizer, epochs: int, steps_per_epoch: int, warmup_steps: int) -> Schedule:
    """Keep the learning rate fixed."""
    return _per_step(optimizer, None, warmup_steps)


@SCHEDULES.register("step", "lr * gamma every step_size epochs (default 10, gamma 0.1)")
def step(
    optimizer: torch.optim.Optimizer,
    epochs: int,
    steps_per_epoch: int,
    warmup_steps: int,
    step_size: int = 10,
    gamma: float = 0.1,
) -> Schedule:
    """lr_e = lr * gamma^floor(e / step_size), e the epoch (counted from the end of warmup)."""
    _positive("step", step_size=step_size, gamma=gamma)
    sched = torch.optim.lr_scheduler.StepLR(
        optimizer, step_size=max(1, round(step_size * steps_per_epoch)), gamma=float(gamma)
    )
    return _per_step(optimizer, sched, warmup_steps)


@SCHEDULES.register("multistep", "lr * gamma at each milestone epoch (default [epochs/2, 3*epochs/4], gamma 0.1)")
def multistep(
    optimizer: torch.optim.Optimizer,
    epochs: int,
    steps_per_epoch: int,
    warmup_steps: int,
    milestones: Any = None,
    gamma: float = 0.1,
) -> Schedule:
    """lr_e = lr * gamma^(number of milestones <= e)."""
    _positive("multistep", gamma=gamma)
    ms = milestones if milestones is not None else [epochs // 2, (3 * epochs) // 4]
    if (
        not isinstance(ms, (list, tuple))
        or not ms
        or any(isinstance(m, bool) or not isinstance(m, (int, float)) or m <= 0 for m in ms)
    ):
        raise ConfigError(
            f"schedule 'multistep': milestones={milestones!r} must be a list of positive epochs, e.g. [5,8]"
        )
    steps = sorted({max(1, round(m * steps_per_epoch)) for m in ms})
    return _per_step(
        optimizer, torch.optim.lr_scheduler.MultiStepLR(optimizer, steps, gamma=float(gamma)), warmup_steps
    )


@SCHEDULES.register("exponential", "lr * gamma^epoch, decayed smoothly every step (gamma default 0.9)")
def exponential(
    optimizer: torch.optim.Optimizer, epochs: int, steps_per_epoch: int, warmup_steps: int, gamma: float = 0.9
) -> Schedule:
    """lr_t = lr * gamma^(t / steps_per_epoch): gamma per epoch, applied as gamma^(1/steps) per step."""
    _positive("exponential", gamma=gamma)
    sched = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=float(gamma) ** (1.0 / steps_per_epoch))
    return _per_step(optimizer, sched, warmup_steps)


@SCHEDULES.register("cosine", "cosine annealing from lr to min_lr over the run (after warmup)")
def cosine(
    optimizer: torch.optim.Optimizer, epochs: int, steps_per_epoch: int, warmup_steps: int, min_lr: float = 0.0
) -> Schedule:
    """lr_t = min_lr + (lr - min_lr) * (1 + cos(pi * t / T)) / 2, T the steps after warmup."""
    total = max(1, epochs * steps_per_epoch - warmup_steps)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total, eta_min=float(min_lr))
    return _per_step(optimizer, sched, warmup_steps)


@SCHEDULES.register("one_cycle", "up to max_lr (default 10x lr) for pct_start of the run, then down (Smith)")
def one_cycle(
    optimizer: torch.optim.Optimizer,
    epochs: int,
    steps_per_epoch: int,
    warmup_steps: int,
    max_lr: float | None = None,
    pct_start: float = 0.3,
) -> Schedule:
    """torch's OneCycleLR: cosine rise from max_lr/25 to max_lr, then cosine fall to max_lr/1e4."""
    if warmup_steps:
        raise ConfigError("schedule 'one_cycle' has its own warmup (pct_start); set optim.warmup=0")
    if not 0 < float(pct_start) < 1:
        raise ConfigError(f"schedule 'one_cycle': pct_start={pct_start} must be between 0 and 1")
    peak = float(max_lr) if max_lr is not None else 10 * optimizer.param_groups[0]["lr"]
    _positive("one_cycle", max_lr=peak)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=peak, total_steps=max(2, epochs * steps_per_epoch), pct_start=float(pct_start)
    )
    return Schedule(sched, per_step=True)


@SCHEDULES.register("plateau", "lr * factor when the val loss has not improved for patience epochs")
def plateau(
    optimizer: torch.optim.Optimizer,
    epochs: int,
    steps_per_epoch: int,
    warmup_steps: int,
    factor: float = 0.1,
    patience: int = 2,
    min_lr: float = 0.0,
) -> Schedule:
    """torch's ReduceLROnPlateau on the validation loss (train loss without a val split), per epoch."""
    _positive("plateau", factor=factor)
    if factor >= 1:
        raise ConfigError(f"schedule 'plateau': factor={factor} must be below 1")
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=float(factor), patience=int(patience), min_lr=float(min_lr)
    )
    return Schedule(sched, needs_metric=True, warmup=_warmup(optimizer, warmup_steps), warmup_steps=warmup_steps)


def _warmup(optimizer: torch.optim.Optimizer, warmup_steps: int) -> Any:
    """Linear warmup: lr_t = lr * (1/W + (1 - 1/W) * t / W) for t < W steps, then lr."""
    if not warmup_steps:
        return None
    return torch.optim.lr_scheduler.LinearLR(
        optimizer, start_factor=1.0 / warmup_steps, end_factor=1.0, total_iters=warmup_steps
    )


def _per_step(optimizer: torch.optim.Optimizer, main: Any, warmup_steps: int) -> Schedule:
    """A per-step schedule, preceded by linear warmup when asked (torch's SequentialLR chains them)."""
    if not warmup_steps:
        return Schedule(main, per_step=True)
    if main is None:
        return Schedule(None, warmup=_warmup(optimizer, warmup_steps), warmup_steps=warmup_steps)
    warm = _warmup(optimizer, warmup_steps)
    return Schedule(
        torch.optim.lr_scheduler.SequentialLR(optimizer, [warm, main], milestones=[warmup_steps]), per_step=True
    )


def make_schedule(
    spec: str, optimizer: torch.optim.Optimizer, epochs: int, steps_per_epoch: int, warmup: float = 0.0
) -> Schedule:
    """Build the LR schedule named by ``spec``, after ``warmup`` epochs of linear warmup."""
    warmup_steps = round(warmup * steps_per_epoch)
    if warmup_steps >= epochs * steps_per_epoch:
        raise ConfigError(f"optim.warmup={warmup:g} epochs is not shorter than the run ({epochs} epochs)")
    return SCHEDULES.create(
        spec, optimizer=optimizer, epochs=epochs, steps_per_epoch=steps_per_epoch, warmup_steps=warmup_steps
    )
