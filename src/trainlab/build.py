"""The one run builder: a resolved Config becomes a run's live objects, trainer and callbacks included.

``setup`` builds what the config names (device, seeded RNGs, data, model, loss, optimizer, schedule,
augmentation); ``config_callbacks`` the callbacks the config asks for; ``make_trainer`` is the only
place a ``Trainer`` is made (its step's engine from ``engine_for``), and ``build`` does all three;
``why_alone`` is the one check of configs (and built trainers) against the stacked engine. ``train``,
resume, ``eval``, reports, lessons, compare, sweep trials, the doctor and the LR finder all start
here, so a config key means the same thing in every command.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from trainlab import cpu
from trainlab.config import Config
from trainlab.data.augment import (
    AUGMENTATIONS,
    DEFAULT_VIEWS,
    Augment,
    TwoViews,
    make_augment,
    make_views,
)
from trainlab.data.dataset import Dataset
from trainlab.data.imbalance import IMBALANCE
from trainlab.data.memo import DataCache
from trainlab.data.preprocess import PREPROCESS
from trainlab.data.sources import load_dataset
from trainlab.errors import ConfigError
from trainlab.nn.activations import ACTIVATIONS, maxout_pieces
from trainlab.nn.cnn import check_blocks, prefer_channels_last
from trainlab.nn.init import BIAS_INITS, INITS
from trainlab.nn.losses import (
    LOSSES,
    Loss,
    LossContext,
    default_loss,
    expected_initial_loss,
    logit_adjustment,
    make_loss,
)
from trainlab.nn.memory import MemoryPlan, check_plan, plan_memory
from trainlab.nn.models import (
    FLOAT_BYTES,
    MODELS,
    build_model,
    count_params,
    describe,
    memory_limit,
)
from trainlab.nn.norms import NORMS, check_norm
from trainlab.nn.ssl import PRETRAIN, make_pretraining
from trainlab.runs.rundir import WEIGHTS
from trainlab.runs.weights import check_source_run, load_encoder
from trainlab.training import distributed
from trainlab.training.callbacks import (
    Checkpoint,
    Diagnostics,
    EarlyStopping,
    History,
    InitialLoss,
    Interrupt,
    KnnMonitor,
    LossEpoch,
    NanGuard,
    RunLock,
    TensorBoard,
    ordered,
)
from trainlab.training.distributed import SINGLE, World
from trainlab.training.engines import SINGLE_ENGINE, DataParallel, Single
from trainlab.training.loop import Callback, StepOptions, Trainer, batch_bounds, needs_two
from trainlab.training.optim import OPTIMIZERS, SCHEDULES, Schedule, make_optimizer, make_schedule
from trainlab.training.samplers import DATA_SAMPLERS, Sampler, make_sampler
from trainlab.training.stacked import StackedEngine


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


def default_threads(local_world: int = 1) -> int:
    """The CPU thread count a new run gets from ``threads=0``: decided once per process from the usable
    cores and the load on them (``trainlab.cpu``), a share of them for each data-parallel process."""
    return cpu.default_threads(local_world)


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
    augment: Augment | TwoViews | None = (
        None  # data.augment (or pretraining's views), applied by the Trainer to each training batch
    )
    sampler: Sampler | None = None  # data.sampler: draws each epoch's order (None: randperm)
    logit_offset: torch.Tensor | None = None  # eval.logit_adjust: -tau log(train prior), added at evaluation
    world: World = SINGLE  # the data-parallel processes (training/distributed.py); one by default
    memory: MemoryPlan | None = None  # what the run needs at its peak (nn/memory.py), checked before building

    def new_trainer(self, callbacks: Sequence[Callback] = ()) -> Trainer:
        """A Trainer for this setup made by the one builder (``make_trainer``): for code below the builder
        (the doctor, the LR range test) that may not import it."""
        return make_trainer(self, callbacks)


def resolve_config(cfg: Config, task: str) -> Config:
    """Fill in values that depend on the data: ``loss.name=auto`` and gd's full batch."""
    updates: dict[str, Any] = {}
    if cfg.loss.name == "auto":
        updates["loss.name"] = default_loss(cfg.model.name, task)
    if cfg.spec("optim.name").name == "gd" and cfg.optim.batch_size != "full":
        updates["optim.batch_size"] = "full"
    return cfg.replace(**updates) if updates else cfg


def check_names(cfg: Config) -> None:
    """Fail fast, before any data loads: every catalogue name and inline parameter must bind, and the
    mlp's norm must fit its widths (group norm's groups divide them; instance norm needs images)."""
    m = cfg.model
    if m.spec("name").name == "baseline":  # a scikit-learn baseline's run config: no network to build
        raise ConfigError(
            f"model.name={m.name!r} is a scikit-learn baseline, not a network: fit it with `trainlab baselines NAME`"
        )
    for registry, spec in (
        (MODELS, m.name),
        (ACTIVATIONS, m.act),
        (INITS, m.init),
        (BIAS_INITS, m.bias_init),
        (NORMS, m.norm),
        (OPTIMIZERS, cfg.optim.name),
        (SCHEDULES, cfg.optim.schedule),
        (PREPROCESS, cfg.data.preprocess),
        (IMBALANCE, cfg.data.imbalance),
        (DATA_SAMPLERS, cfg.data.sampler),
    ):
        registry.bind(spec)
    IMBALANCE.create(cfg.data.imbalance)  # a bad ratio fails here, not after loading (profiles are cheap closures)
    if cfg.loss.name != "auto":
        LOSSES.bind(cfg.loss.name)
    k = maxout_pieces(m.act)
    if m.spec("name").name == "mlp":
        widths = [h * k for h in m.hidden] if k and m.norm_position == "before" else list(m.hidden)
        check_norm(m.norm, widths, dims=1)
    check_blocks(m)  # cnn block syntax; shapes need the data and are checked when the model is built
    check_pretraining(cfg)


def pretraining(cfg: Config) -> str | None:
    """The pretraining method's name (``pretrain.method``), or None for a supervised run."""
    name = cfg.spec("pretrain.method").name
    return None if name == "none" else name


def pretrained_weights(cfg: Config) -> Path:
    """The weights file ``model.pretrained`` names: a run directory (or its name under output.dir) or a
    .safetensors file."""
    given = Path(str(cfg.model.pretrained))
    for path in (given, Path(cfg.output.dir) / given):
        if path.is_dir():
            path = path / WEIGHTS
        if path.is_file():
            return path
    raise ConfigError(
        f"model.pretrained={cfg.model.pretrained!r}: no finished run (directory with {WEIGHTS}) or weights file there "
        f"or under {cfg.output.dir}/"
    )


def check_pretraining(cfg: Config) -> None:
    """``pretrain.*``, ``model.pretrained`` and ``train.freeze`` must make sense together, before data loads."""
    method = pretraining(cfg)
    if method is not None:
        PRETRAIN.bind(cfg.pretrain.method)
        if cfg.train.freeze != "none":
            raise ConfigError(
                f"train.freeze={cfg.train.freeze!r} trains only the output layer, which pretrain.method={method} "
                "replaces; use train.freeze=none"
            )
        if method == "simclr" and cfg.data.augment:
            raise ConfigError(
                "pretrain.method=simclr makes its views with pretrain.views; move data.augment there, e.g. "
                "pretrain.views=[resized_crop,noise(0.1)]"
            )
    if cfg.model.pretrained:
        check_source_run(pretrained_weights(cfg))  # a diverged, failed or unfinished run is refused before data loads


def check_monitor(cfg: Config, task: str) -> None:
    """Early stopping must watch a metric the task measures (no accuracy for regression, no R² for classes)."""
    if not cfg.train.patience:
        return
    if pretraining(cfg):
        task = "pretraining"  # measures its objective only
    valid = (
        ("val_loss", "val_accuracy", "train_loss")
        if task == "classification"
        else ("val_loss", "train_loss")
        if task == "pretraining"
        else ("val_loss", "val_mse", "val_mae", "val_r2", "train_loss")
    )
    if cfg.train.monitor not in valid:
        raise ConfigError(
            f"train.monitor={cfg.train.monitor!r} is not measured on a {task} task; choose one of: {', '.join(valid)}"
        )


def load_data(cfg: Config, device: torch.device, cache: DataCache | None = None) -> Dataset:
    """The data set a config's ``data`` section and seed name (through ``cache`` when given): the one
    way network runs and baselines load, split and preprocess their data."""
    return cache.dataset(cfg.data, cfg.seed, device) if cache is not None else load_dataset(cfg.data, cfg.seed, device)


def setup(cfg: Config, data: Dataset | None = None, cache: DataCache | None = None, world: World = SINGLE) -> Setup:
    """Build what a config names (seeding first, so the same config gives the same run).

    ``data``: an already loaded data set (cross-validation folds, a re-applied saved preprocessing);
    ``cache``: load through this cache, so runs that share data config and seed share one load;
    ``world``: data-parallel processes (joins their process group; every rank uses the same seed).
    """
    check_names(cfg)
    device = resolve_device(cfg.device)
    distributed.check_sync_bn(cfg.train.sync_bn, device, world)  # before the process group and the data
    if world.active:
        device = distributed.start(world, device)
    # ranks on one machine share its cores: threads=0 gives each its share. The count is written
    # into the config, so config.yaml, a re-run from it and resume use the same threads (their
    # count changes float rounding); only a new run's threads=0 adapts to the machine
    threads = cfg.threads or default_threads(world.local_size)
    torch.set_num_threads(threads)
    if not cfg.threads:
        cfg = cfg.replace(threads=threads)
    seed_everything(cfg.seed)
    if data is None:
        data = load_data(cfg, device, cache)
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
    # refused before a weight is allocated when the weights, gradients and optimizer state, one
    # batch's activations, the augmented batch or an evaluation batch would not fit in the memory
    # of the device they train on
    states = OPTIMIZERS.fact(cfg.spec("optim.name"), "states")  # the optimizer's copies of the weights
    plan = check_plan(run_memory(cfg, data, out_features), cfg.model, data.input_shape, out_features, states, device)
    model = build_model(cfg.model, data.input_shape, out_features, states, device, checked=True)
    if cfg.model.pretrained:
        load_encoder(pretrained_weights(cfg), model)
    if pretraining(cfg):  # the catalogue model minus its output layer becomes the encoder
        model, loss = make_pretraining(cfg.pretrain.method, model, data.input_shape, cfg.model.hidden)
    if cfg.train.freeze == "encoder":  # a linear probe: only the output layer learns
        for name, p in model.named_parameters():
            p.requires_grad_(name.startswith("out."))
    model = model.to(device)
    if (
        cfg.train.sync_bn
    ):  # data-parallel: one set of batch statistics across ranks (before the optimizer sees the model)
        model = distributed.sync_batch_norm(model, world)
    if device.type == "cpu":  # NHWC convolutions: measured ~30% faster on CPU (docs/models.md)
        model = prefer_channels_last(model)
    optimizer = make_optimizer(cfg.optim, [p for p in model.parameters() if p.requires_grad])
    batch_size = len(data.train) if cfg.optim.batch_size == "full" else int(cfg.optim.batch_size)
    check_batch_norm(model, batch_size, len(data.train), world)
    steps = len(batch_bounds(len(data.train), batch_size, min_batch(model, world)))
    schedule = make_schedule(cfg.optim.schedule, optimizer, cfg.train.epochs, steps, cfg.optim.warmup)
    augment = (
        make_views(cfg.pretrain.views, data.input_shape)
        if pretraining(cfg) == "simclr"
        else make_augment(cfg.data.augment, data.input_shape)
    )
    sampler, offset = None, None
    if data.task == "classification":  # class-aware sampling and post hoc adjustment (docs/imbalance.md)
        sampler = make_sampler(cfg.data.sampler, data.train.y, data.num_classes, cfg.seed)
        if cfg.eval.logit_adjust and loss.binary:
            raise ConfigError(
                f"eval.logit_adjust={cfg.eval.logit_adjust:g} needs one output per class; loss {cfg.loss.name} has "
                "one (use cross_entropy, or eval.logit_adjust=0)"
            )
        offset = logit_adjustment(counts, cfg.eval.logit_adjust) if cfg.eval.logit_adjust else None
    elif (cfg.data.sampler, cfg.data.imbalance, cfg.data.resample, cfg.eval.logit_adjust) != (
        "uniform",
        "none",
        "none",
        0,
    ):
        raise ConfigError(
            "data.sampler, data.imbalance, data.resample and eval.logit_adjust need class labels;"
            f" {data.name} is a regression task (use uniform, none, none and 0)"
        )
    return Setup(
        cfg, device, threads, data, model, loss, optimizer, schedule, batch_size, augment, sampler, offset, world, plan
    )


def stack_fits(s: Setup) -> int:
    """How many runs like ``s`` one stacked model may hold: a stack of K members holds K models and K batches,
    so as many as fit in the memory of its device (``memory_limit``), at least 1 (then each trains alone)."""
    limit = memory_limit(s.device)
    if s.memory is None or limit is None or s.memory.total <= 0:
        return 1 << 30
    return max(1, limit // s.memory.total)


def run_memory(cfg: Config, data: Dataset, out_features: int) -> MemoryPlan:
    """The memory plan of one run of ``cfg`` on ``data`` (``nn/memory.py``), counted without allocating."""
    batch = len(data.train) if cfg.optim.batch_size == "full" else int(cfg.optim.batch_size)
    largest = max(len(data.train), len(data.test), len(data.val) if data.val is not None else 0)
    method = pretraining(cfg)
    if method == "simclr":
        specs = list(cfg.pretrain.views) or DEFAULT_VIEWS.get(len(data.input_shape) - 1, [])
    else:
        specs = list(cfg.data.augment)
    padded, note = augmented_bytes(specs, data.input_shape, batch)
    return plan_memory(
        cfg.model,
        data.input_shape,
        out_features,
        optimizer_states=OPTIMIZERS.fact(cfg.spec("optim.name"), "states"),
        batch_size=batch,
        # SimCLR validates in training-size batches of views (its objective depends on the batch size)
        eval_batch_size=batch if method == "simclr" else min(cfg.train.eval_batch_size, largest),
        pretrain=cfg.pretrain.method if method else None,
        views=2 if method == "simclr" else 1,
        augmented_bytes=padded,
        augment_note=note,
    )


def augmented_bytes(specs: Sequence[Any], input_shape: tuple[int, ...], rows: int) -> tuple[int, str]:
    """The largest tensor augmenting ``rows`` examples makes, in bytes, and what makes it: the zero-padded batch
    of an augmentation that pads first (its catalogue fact ``pads`` names the parameter); (0, '') if none does."""
    if len(input_shape) not in (2, 3):
        return 0, ""  # make_augment refuses these shapes itself
    best, note = 0, ""
    for spec in specs:
        entry, kwargs = AUGMENTATIONS.bind(spec)
        key = entry.facts.get("pads")
        if key is None:
            continue
        pad = kwargs.get(key, entry.defaults().get(key, 0))
        pad = pad if isinstance(pad, int) and not isinstance(pad, bool) and pad > 0 else 0
        padded = (input_shape[0], *(n + 2 * pad for n in input_shape[1:]))
        size = rows * int(np.prod(padded)) * FLOAT_BYTES
        if size > best:
            shape = "x".join(map(str, input_shape))
            best, note = size, f"{spec} pads {rows:,} inputs of {shape} to {'x'.join(map(str, padded))}"
    return best, note


def min_batch(model: nn.Module, world: World = SINGLE) -> int:
    """The smallest training batch ``model`` can take: with batch norm 2 examples on every
    data-parallel process (a shorter last batch joins the one before it,
    ``training.loop.batch_bounds``), else 1."""
    return 2 * world.size if needs_two(model) else 1


def check_batch_norm(model: nn.Module, batch_size: int, n_train: int, world: World = SINGLE) -> None:
    """Batch norm normalizes over the batch: a training step on one example cannot be taken at all."""
    if not needs_two(model):
        return
    need = min_batch(model, world)
    per = f" (2 on each of the {world.size} processes)" if world.size > 1 else ""
    if n_train < need:
        raise ConfigError(
            f"batch norm needs at least {need} training examples per step{per}, this data set has {n_train}; use "
            "model.norm=layer or more data"
        )
    if batch_size < need:
        raise ConfigError(
            f"optim.batch_size={batch_size} with batch norm: it cannot normalize a single example in training; use "
            f"optim.batch_size >= {need}{per} or model.norm=layer"
        )


def header(s: Setup) -> str:
    """The one-line run header: data, model, parameters, optimizer, device, threads."""
    o = s.config.optim
    model = f"{s.config.spec('model.name').name} {describe(s.model)}".strip()
    return (
        f"data {s.data.describe()} | model {model}, {count_params(s.model):,} params | "
        f"{o.name} lr={o.lr:g} batch={s.batch_size} | loss "
        f"{s.loss.name if s.loss.unsupervised else s.config.loss.name} | device {s.device} | threads {s.threads}"
    )


def config_callbacks(s: Setup, run_dir: Path | None = None) -> list[Callback]:
    """The callbacks a config asks for: initial-loss check, NaN/Inf guard (``train.nan_guard``) and
    early stopping (``train.patience``) always; with a run directory also its lock, metrics.csv
    (``History``), checkpoints (``train.checkpoint``), TensorBoard (``logging.tensorboard``) and
    per-layer statistics (``diagnostics.every``)."""
    cfg, t = s.config, s.config.train
    cbs: list[Callback] = []
    if not s.loss.unsupervised:  # a pretraining objective has no expected starting value
        cbs.append(InitialLoss(expected_initial_loss(cfg.loss.name, LossContext(s.data.task, s.data.num_classes))))
    elif s.data.task == "classification" and s.data.val is not None and cfg.pretrain.knn_k:
        cbs.append(KnnMonitor(cfg.pretrain.knn_k))  # val_knn_accuracy per epoch: labels score, never train
    if s.loss.start_epoch is not None:
        cbs.append(LossEpoch())
    if t.nan_guard:
        cbs.append(NanGuard())
    if t.patience:
        monitor = t.monitor if s.data.val is not None else "train_loss"
        cbs.append(EarlyStopping(monitor, t.patience, t.min_delta, t.restore_best))
    if run_dir is None:
        return cbs
    cbs += [RunLock(run_dir), History(run_dir)]
    if t.checkpoint:
        cbs.append(Checkpoint(run_dir, cfg.to_dict(), t.checkpoint_every))
    if cfg.logging.tensorboard:
        cbs.append(TensorBoard(run_dir, cfg.logging.histogram_every))
    if cfg.diagnostics.every:
        cbs.append(Diagnostics(run_dir, cfg.diagnostics.every, cfg.diagnostics.bins))
    return cbs


def make_trainer(s: Setup, callbacks: Sequence[Callback] = ()) -> Trainer:
    """The Trainer of a built setup, every train.* / optim.* / loss.* key applied; callbacks in ``ORDER``."""
    cfg = s.config
    options = StepOptions(
        seed=cfg.seed,
        l1=cfg.loss.l1,
        clip_grad=cfg.optim.clip_grad,
        eval_batch_size=cfg.train.eval_batch_size,
        augment=s.augment,
        precision=cfg.train.precision,
        sampler=s.sampler,
        logit_offset=s.logit_offset,
        min_batch=min_batch(s.model, s.world),
    )
    return Trainer(
        s.model,
        s.data,
        s.loss,
        s.optimizer,
        cfg.train.epochs,
        s.batch_size,
        s.schedule,
        callbacks=ordered(callbacks),
        options=options,
        engine=engine_for(s, callbacks),
    )


def engine_for(s: Setup, callbacks: Sequence[Callback] = ()) -> Single:
    """The engine of one run's step: data-parallel under torchrun (DDP for the step, a shard of each global
    batch, one reduction per epoch, evaluation shared, the ranks stopping together), else the single step."""
    if not s.world.active:
        return SINGLE_ENGINE
    interrupt = next((c for c in callbacks if isinstance(c, Interrupt)), None)  # its stop signal is shared
    return DataParallel(s.world, s.model, s.device, interrupt)


def why_alone(configs: Sequence[Config], trainers: Sequence[Trainer] = ()) -> str | None:
    """Why these runs train alone, each with the Trainer's own step, rather than as one stacked model
    (``training/stacked.StackedEngine``); None: they may train stacked.

    The one place that decides it, from the stacked engine's declarations: each config against its
    ``UNSUPPORTED`` features, then (several configs) the keys members must share, then (with their
    built ``trainers``) what only the built runs show (layer shapes, optimizer kind, callbacks that
    read the weights every step, ...). One config: why it can stack with no run at all."""
    for cfg in configs:
        reason = StackedEngine.why_not(cfg)
        if reason is not None:
            return reason
    if len(configs) > 1:
        reason = StackedEngine.why_not_together(configs)
        if reason is not None:
            return reason
    return StackedEngine.why_not_built(trainers) if trainers else None


def assemble(s: Setup, run_dir: Path | None = None, callbacks: Sequence[Callback] = ()) -> Trainer:
    """The Trainer of a built setup with the config's callbacks (files in ``run_dir``, if any) plus ``callbacks``."""
    trainer = make_trainer(s, [*config_callbacks(s, run_dir), *callbacks])
    trainer.facts.header = header(s)
    trainer.facts.run_dir = str(run_dir) if run_dir is not None else None
    return trainer


def build(
    cfg: Config,
    data: Dataset | None = None,
    *,
    run_dir: Path | None = None,
    callbacks: Sequence[Callback] = (),
    cache: DataCache | None = None,
) -> tuple[Setup, Trainer]:
    """Everything a run needs in one call: ``setup`` then ``assemble``."""
    s = setup(cfg, data, cache)
    return s, assemble(s, run_dir, callbacks)
