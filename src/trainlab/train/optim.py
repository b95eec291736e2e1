"""Optimizers and learning-rate schedules by name, all from torch.optim."""

from __future__ import annotations

from typing import Any

import torch

from trainlab.registry import Registry

OPTIMIZERS = Registry("optimizer")
SCHEDULES = Registry("schedule")


@OPTIMIZERS.register("gd", "full-batch gradient descent: plain SGD steps on the whole training set")
def gd(params: Any, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """Gradient descent; the loop uses one batch holding every training example."""
    return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)


@OPTIMIZERS.register("sgd", "stochastic gradient descent (momentum, nesterov, dampening)")
def sgd(params: Any, lr: float, weight_decay: float, momentum: float = 0.0, nesterov: bool = False, dampening: float = 0.0) -> torch.optim.Optimizer:
    """SGD, minibatch or batch 1, optionally with (Nesterov) momentum."""
    return torch.optim.SGD(params, lr=lr, momentum=float(momentum), nesterov=bool(nesterov), dampening=float(dampening), weight_decay=weight_decay)


@OPTIMIZERS.register("adagrad", "per-parameter rates shrinking with the sum of squared gradients")
def adagrad(params: Any, lr: float, weight_decay: float, eps: float = 1e-10) -> torch.optim.Optimizer:
    """AdaGrad."""
    return torch.optim.Adagrad(params, lr=lr, eps=float(eps), weight_decay=weight_decay)


@OPTIMIZERS.register("rmsprop", "per-parameter rates from a moving average of squared gradients (alpha, momentum)")
def rmsprop(params: Any, lr: float, weight_decay: float, alpha: float = 0.99, momentum: float = 0.0, eps: float = 1e-8) -> torch.optim.Optimizer:
    """RMSProp."""
    return torch.optim.RMSprop(params, lr=lr, alpha=float(alpha), momentum=float(momentum), eps=float(eps), weight_decay=weight_decay)


@OPTIMIZERS.register("adam", "momentum + RMSProp with bias correction (beta1, beta2); weight_decay is L2")
def adam(params: Any, lr: float, weight_decay: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> torch.optim.Optimizer:
    """Adam."""
    return torch.optim.Adam(params, lr=lr, betas=(float(beta1), float(beta2)), eps=float(eps), weight_decay=weight_decay)


@OPTIMIZERS.register("adamw", "Adam with decoupled weight decay (optim.weight_decay, default 0.01 if 0)")
def adamw(params: Any, lr: float, weight_decay: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> torch.optim.Optimizer:
    """AdamW."""
    return torch.optim.AdamW(params, lr=lr, betas=(float(beta1), float(beta2)), eps=float(eps), weight_decay=weight_decay or 0.01)


def make_optimizer(optim_cfg: Any, params: Any) -> torch.optim.Optimizer:
    """Build the optimizer the config names over ``params``."""
    return OPTIMIZERS.create(optim_cfg.name, params=params, lr=optim_cfg.lr, weight_decay=optim_cfg.weight_decay)


class Schedule:
    """Drives a torch LR scheduler from the loop: per step or per epoch, plateau gets the metric."""

    def __init__(self, scheduler: Any = None, per_step: bool = False, needs_metric: bool = False):
        self.scheduler = scheduler
        self.per_step = per_step
        self.needs_metric = needs_metric

    def after_step(self) -> None:
        """Called after every optimizer step."""
        if self.scheduler is not None and self.per_step:
            self.scheduler.step()

    def after_epoch(self, metric: float | None) -> None:
        """Called after each epoch's validation."""
        if self.scheduler is None or self.per_step:
            return
        if self.needs_metric:
            if metric is not None:
                self.scheduler.step(metric)
        else:
            self.scheduler.step()

    def state_dict(self) -> dict[str, Any]:
        """Scheduler state for checkpoints."""
        return self.scheduler.state_dict() if self.scheduler is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore scheduler state."""
        if self.scheduler is not None and state:
            self.scheduler.load_state_dict(state)


@SCHEDULES.register("none", "constant learning rate")
def no_schedule(optimizer: torch.optim.Optimizer, epochs: int, steps_per_epoch: int) -> Schedule:
    """Keep the learning rate fixed."""
    return Schedule()


def make_schedule(spec: str, optimizer: torch.optim.Optimizer, epochs: int, steps_per_epoch: int) -> Schedule:
    """Build the LR schedule named by ``spec``."""
    return SCHEDULES.create(spec, optimizer=optimizer, epochs=epochs, steps_per_epoch=steps_per_epoch)
