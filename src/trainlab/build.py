"""Turn a Config into live objects: device, seeded RNGs, data, model, loss, optimizer, schedule.

``train``, ``eval``, the doctor, the LR finder and sweeps all start here, so a config means the same
thing everywhere.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from trainlab.config import Config
from trainlab.data.augment import Augment, make_augment
from trainlab.data.dataset import Dataset
from trainlab.data.sources import load_dataset
from trainlab.errors import ConfigError
from trainlab.nn.cnn import check_blocks, prefer_channels_last
from trainlab.nn.losses import Loss, LossContext, default_loss, make_loss
from trainlab.nn.models import build_model
from trainlab.registry import parse_spec
from trainlab.training.optim import Schedule, make_optimizer, make_schedule


def resolve_device(name: str) -> torch.device:
    """``auto`` → cuda, else mps, else cpu; an unavailable device is a ConfigError."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise ConfigError(f"device={name!r} is not a device; choose auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={name!r} but CUDA is not available here; use device=auto or cpu")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError(f"device={name!r} but MPS is not available here; use device=auto or cpu")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"device={name!r} is not supported; choose auto, cpu, cuda, cuda:N or mps")
    return dev


def default_threads() -> int:
    """The CPU thread count used when ``threads=0``: the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass
class Setup:
    """Everything a config names, built and ready to train."""

    config: Config
    device: torch.device
    threads: int
    data: Dataset
    model: nn.Module
    loss: Loss
    optimizer: torch.optim.Optimizer
    schedule: Schedule
    batch_size: int
    augment: Augment | None = None  # data.augment, applied by the Trainer to each training batch


def resolve_config(cfg: Config, task: str) -> Config:
    """Fill in values that depend on the data: ``loss.name=auto`` and gd's full batch."""
    updates: dict[str, Any] = {}
    if cfg.loss.name == "auto":
        updates["loss.name"] = default_loss(cfg.model.name, task)
    if parse_spec(cfg.optim.name).name == "gd" and cfg.optim.batch_size != "full":
        updates["optim.batch_size"] = "full"
    return cfg.replace(**updates) if updates else cfg


def check_names(cfg: Config) -> None:
    """Fail fast, before any data loads: every catalogue name and inline parameter must bind, and the
    mlp's norm must fit its widths (group norm's groups divide them; instance norm needs images)."""
    from trainlab.data.preprocess import PREPROCESS
    from trainlab.nn.activations import ACTIVATIONS, maxout_pieces
    from trainlab.nn.init import BIAS_INITS, INITS
    from trainlab.nn.losses import LOSSES
    from trainlab.nn.models import MODELS
    from trainlab.nn.norms import NORMS, check_norm
    from trainlab.training.optim import OPTIMIZERS, SCHEDULES

    m = cfg.model
    for registry, spec in ((MODELS, m.name), (ACTIVATIONS, m.act), (INITS, m.init), (BIAS_INITS, m.bias_init), (NORMS, m.norm), (OPTIMIZERS, cfg.optim.name), (SCHEDULES, cfg.optim.schedule), (PREPROCESS, cfg.data.preprocess)):
        registry.bind(spec)
    if cfg.loss.name != "auto":
        LOSSES.bind(cfg.loss.name)
    k = maxout_pieces(m.act)
    if parse_spec(m.name).name == "mlp":
        widths = [h * k for h in m.hidden] if k and m.norm_position == "before" else list(m.hidden)
        check_norm(m.norm, widths, dims=1)
    check_blocks(m)  # cnn block syntax; shapes need the data and are checked when the model is built


def check_monitor(cfg: Config, task: str) -> None:
    """Early stopping must watch a metric the task measures (no accuracy for regression, no R² for classes)."""
    if not cfg.train.patience:
        return
    valid = ("val_loss", "val_accuracy", "train_loss") if task == "classification" else ("val_loss", "val_mse", "val_mae", "val_r2", "train_loss")
    if cfg.train.monitor not in valid:
        raise ConfigError(f"train.monitor={cfg.train.monitor!r} is not measured on a {task} task; choose one of: {', '.join(valid)}")


def setup(cfg: Config, data: Dataset | None = None) -> Setup:
    """Build the run a config describes (seeding first, so the same config gives the same run)."""
    check_names(cfg)
    device = resolve_device(cfg.device)
    threads = cfg.threads or default_threads()
    torch.set_num_threads(threads)
    seed_everything(cfg.seed)
    if data is None:
        data = load_dataset(cfg.data, cfg.seed, device)
    cfg = resolve_config(cfg, data.task)
    check_monitor(cfg, data.task)
    counts = torch.bincount(data.train.y, minlength=data.num_classes).cpu() if data.task == "classification" else None
    ctx = LossContext(data.task, data.num_classes, counts)
    loss = make_loss(cfg.loss.name, ctx)
    if data.task == "classification":
        out_features = 1 if loss.binary else data.num_classes
    else:
        out_features = 1
    seed_everything(cfg.seed)  # the model's init does not depend on how much data loading drew
    model = build_model(cfg.model, data.input_shape, out_features).to(device)
    if device.type == "cpu":  # NHWC convolutions: measured ~30% faster on CPU (docs/models.md)
        model = prefer_channels_last(model)
    optimizer = make_optimizer(cfg.optim, model.parameters())
    batch_size = len(data.train) if cfg.optim.batch_size == "full" else int(cfg.optim.batch_size)
    steps = max(1, -(-len(data.train) // batch_size))
    schedule = make_schedule(cfg.optim.schedule, optimizer, cfg.train.epochs, steps, cfg.optim.warmup)
    augment = make_augment(cfg.data.augment, data.input_shape)
    return Setup(cfg, device, threads, data, model, loss, optimizer, schedule, batch_size, augment)
