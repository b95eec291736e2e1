"""The Python API: ``trainlab.train(config) -> Run`` and ``trainlab.evaluate_run(run, split)``."""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Any

import torch

from trainlab.build import Setup, setup
from trainlab.config import Config, apply_overrides, load_config
from trainlab.errors import ConfigError, TrainlabError
from trainlab.nn.losses import LossContext, expected_initial_loss
from trainlab.nn.models import count_params, describe
from trainlab.registry import parse_spec
from trainlab.atomic import atomic_write, write_json, write_text
from trainlab.runs.resume import ResumePoint, prepare_resume
from trainlab.runs.rundir import (
    CHECKPOINT,
    CONFIG,
    FITTED_PREPROCESS,
    SUMMARY,
    WEIGHTS,
    Run,
    create_run_dir,
)
from trainlab.training.callbacks import (
    Checkpoint,
    EarlyStopping,
    History,
    InitialLoss,
    Interrupt,
    RunLock,
)
from trainlab.training.callbacks.interrupt import catch_signals
from trainlab.training.loop import Callback, Trainer, evaluate_outputs
from trainlab.training.metrics import confusion_matrix, per_class_accuracy, predictions
from trainlab.training.state import restore_trainer


def as_config(config: Config | dict[str, Any] | str | Path | None, overrides: list[str] | dict[str, Any] | None = None) -> Config:
    """Accept a Config, a nested dict, a YAML path or None (the built-in defaults), plus overrides."""
    if config is None or isinstance(config, (str, Path)):
        return load_config(config, overrides)
    return apply_overrides(config.to_dict() if isinstance(config, Config) else config, overrides)


def header(s: Setup) -> str:
    """The one-line run header: data, model, parameters, optimizer, device, threads."""
    o = s.config.optim
    model = f"{parse_spec(s.config.model.name).name} {describe(s.model)}".strip()
    return (
        f"data {s.data.describe()} | model {model}, {count_params(s.model):,} params | "
        f"{o.name} lr={o.lr:g} batch={s.batch_size} | loss {s.config.loss.name} | device {s.device} | threads {s.threads}"
    )


def versions() -> dict[str, str]:
    """Versions of what produced the numbers."""
    import numpy

    import trainlab

    return {"trainlab": trainlab.__version__, "torch": torch.__version__, "numpy": numpy.__version__, "python": platform.python_version(), "platform": platform.platform()}


def default_callbacks(s: Setup, run_dir: Path, config_dict: dict[str, Any]) -> list[Callback]:
    """The callbacks a run gets from its config: run lock, initial-loss check, history, checkpoint,
    NaN/Inf guard (on by default); early stopping, TensorBoard and per-layer diagnostics when asked."""
    t = s.config.train
    ctx = LossContext(s.data.task, s.data.num_classes)
    cbs: list[Callback] = [RunLock(run_dir), InitialLoss(expected_initial_loss(s.config.loss.name, ctx)), History(run_dir)]
    if t.checkpoint:
        cbs.append(Checkpoint(run_dir, config_dict, t.checkpoint_every))
    if t.patience:
        monitor = t.monitor if s.data.val is not None else "train_loss"
        cbs.append(EarlyStopping(monitor, t.patience, t.min_delta, t.restore_best))
    if s.config.logging.tensorboard:
        from trainlab.training.callbacks.tensorboard import TensorBoard

        cbs.append(TensorBoard(run_dir, s.config.logging.histogram_every))
    if t.nan_guard:
        from trainlab.training.callbacks.nan_guard import NanGuard

        cbs.append(NanGuard())
    if s.config.diagnostics.every:
        from trainlab.training.callbacks.diagnostics import Diagnostics

        cbs.append(Diagnostics(run_dir, s.config.diagnostics.every, s.config.diagnostics.bins))
    return cbs


def final_metrics(trainer: Trainer) -> dict[str, Any]:
    """Test (and final train) metrics, confusion matrix and per-class accuracy."""
    data = trainer.data
    out: dict[str, Any] = {}
    test_out = trainer.outputs(data.test.x)
    for k, v in evaluate_outputs(test_out, data.test.y, trainer.loss, trainer.classification).items():
        out[f"test_{k}"] = v
    for k, v in trainer.evaluate(data.train).items():
        out[f"train_{k}"] = v
    if trainer.classification:
        cm = confusion_matrix(predictions(test_out), data.test.y, data.num_classes).cpu()
        out["confusion_matrix"] = cm.tolist()
        out["per_class_accuracy"] = dict(zip(data.classes, per_class_accuracy(cm).tolist()))
    return out


def train(
    config: Config | dict[str, Any] | str | Path | None = None,
    overrides: list[str] | dict[str, Any] | None = None,
    callbacks: list[Callback] | tuple[Callback, ...] = (),
    on_setup: Any = None,
    data: Any = None,
    resume: str | Path | None = None,
    handle_signals: bool = True,
) -> Run:
    """Train the run a config describes; returns the Run (path, config, summary, history, model).

    ``resume=RUN`` continues a stopped run (directory, checkpoint file or name under runs/) exactly
    from its last checkpoint, with its own config (``overrides`` may change only what does not change
    the numbers: threads, device, data.dir, train.checkpoint_every, output.report). With ``handle_signals`` (main thread only), Ctrl-C / SIGTERM stop the run safely after
    the current step: the Run's summary then has status ``interrupted`` and a checkpoint to resume.

    >>> run = trainlab.train({"data": {"name": "xor"}, "model": {"hidden": [8]}, "train": {"epochs": 2}})  # doctest: +SKIP
    """
    point: ResumePoint | None = None
    if resume is not None:
        if config is not None:
            raise ConfigError("pass a config or resume=RUN, not both: a resumed run continues with its own config")
        point = prepare_resume(resume, overrides)
        cfg = point.config
    else:
        cfg = as_config(config, overrides)
    s = setup(cfg, data)  # data: an already loaded Dataset (sweeps reuse one across trials, cv folds)
    cfg = s.config  # resolved (loss.name, full batch)
    config_dict = cfg.to_dict()
    summary: dict[str, Any] = {"status": "running", "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "header": header(s)}
    if point is None:
        name = cfg.output.name or f"{parse_spec(cfg.model.name).name}-{parse_spec(cfg.data.name).name}"
        run_dir = create_run_dir(cfg.output.dir, name)
        write_text(run_dir / CONFIG, cfg.to_yaml())
        _save_preprocess(run_dir, s)
    else:
        run_dir = point.run_dir
        resumes = int(point.summary.get("resumes", 0)) + 1
        summary.update(started=point.summary.get("started", summary["started"]), resumes=resumes, resumed_at_step=int(point.payload["step"]))
    write_json(run_dir / SUMMARY, summary)
    interrupt = Interrupt(run_dir, config_dict)
    trainer = Trainer(
        s.model, s.data, s.loss, s.optimizer, cfg.train.epochs, s.batch_size, s.schedule,
        callbacks=[*default_callbacks(s, run_dir, config_dict), *callbacks, interrupt], seed=cfg.seed,
        l1=cfg.loss.l1, clip_grad=cfg.optim.clip_grad, eval_batch_size=cfg.train.eval_batch_size,
        augment=s.augment, precision=cfg.train.precision,
    )
    if point is not None:
        restore_trainer(trainer, point.payload, str(point.checkpoint))
    trainer.info.update(header=summary["header"], run_dir=str(run_dir))
    if on_setup is not None:
        on_setup(s, trainer)
    try:
        if handle_signals:
            with catch_signals(interrupt):
                trainer.fit()
        else:
            trainer.fit()
    except BaseException as exc:
        summary.update(status="interrupted" if isinstance(exc, KeyboardInterrupt) else "failed", error=str(exc)[:500], epochs=trainer.epoch, steps=trainer.step)
        _write_summary_best_effort(run_dir / SUMMARY, summary)
        raise
    if trainer.status == "interrupted":  # stopped by a signal: a checkpoint is on disk, nothing is final
        summary.update(status="interrupted", stop_reason=trainer.stop_reason, interrupted_by=interrupt.signal_name, epochs=trainer.epoch, steps=trainer.step, fit_seconds=round(trainer.fit_seconds, 3))
        write_json(run_dir / SUMMARY, summary)
        return Run(run_dir, cfg, summary, trainer.history, s.model)
    summary.update(_summary(s, trainer))
    _export_weights(run_dir / WEIGHTS, s.model)
    write_json(run_dir / SUMMARY, summary)
    if cfg.output.report:  # after the summary, so a finished run is complete even if drawing fails
        from trainlab.report import report_at_end

        summary["report_seconds"] = round(report_at_end(run_dir, trainer), 3)
        write_json(run_dir / SUMMARY, summary)
    return Run(run_dir, cfg, summary, trainer.history, s.model)


def _save_preprocess(run_dir: Path, s: Setup) -> None:
    """The fitted preprocessing beside the weights, so evaluation applies the very same transform."""
    from trainlab.data.preprocess import save_transform, transform_from_state

    save_transform(run_dir / FITTED_PREPROCESS, transform_from_state(s.data.preprocess_state))


def _saved_transform(run_dir: Path) -> Any:
    """The run's fitted preprocessing (preprocess.safetensors, else the checkpoint's copy), or None."""
    from trainlab.data.preprocess import load_transform, transform_from_state
    from trainlab.runs.checkpoint import load_checkpoint

    if (run_dir / FITTED_PREPROCESS).is_file():
        return load_transform(run_dir / FITTED_PREPROCESS)
    if (run_dir / CHECKPOINT).is_file():
        state = load_checkpoint(run_dir / CHECKPOINT).get("preprocess")
        if state:
            return transform_from_state(state)
    return None  # an older run: refit on the same seeded train split


def _write_summary_best_effort(path: Path, summary: dict[str, Any]) -> None:
    """Record a failure in summary.json unless the disk refuses too: the original error matters more."""
    try:
        write_json(path, summary)
    except TrainlabError:
        pass


def resume(run: str | Path, overrides: list[str] | dict[str, Any] | None = None, **kwargs: Any) -> Run:
    """Continue a stopped run exactly from its last checkpoint: ``trainlab.resume("runs/...")``."""
    return train(None, overrides, resume=run, **kwargs)


def _fitted(s: Setup) -> dict[str, Any]:
    """``{"fitted": {"w": [...], "b": ...}}`` for a linear model on a regression task, else nothing."""
    if s.data.task != "regression":
        return {}
    from trainlab.data.regression import fitted_line

    line = fitted_line(s.model, s.data.preprocess_state, s.data.input_shape)
    return {"fitted": line} if line is not None else {}


def _summary(s: Setup, trainer: Trainer) -> dict[str, Any]:
    t0 = time.perf_counter()
    final = final_metrics(trainer)
    best_val = max((m["val_accuracy"] for m in trainer.history if "val_accuracy" in m), default=None)
    return {
        "status": trainer.status,
        "stop_reason": trainer.stop_reason,
        "epochs": trainer.epoch,
        "steps": trainer.step,
        "fit_seconds": round(trainer.fit_seconds, 3),
        "eval_seconds": round(time.perf_counter() - t0, 3),
        "best_val_accuracy": best_val,
        **final,
        "initial_loss": trainer.info.get("initial_loss"),
        "expected_initial_loss": trainer.info.get("expected_initial_loss"),
        "warnings": list(trainer.info.get("warnings", [])),  # initial-loss causes, LR too high/low
        "nan_guard": trainer.info.get("nan_guard"),  # where a divergence began (step, layer, lr), else None
        "params": count_params(s.model),
        "device": str(s.device),
        "threads": s.threads,
        "data": {"name": s.data.name, "train": len(s.data.train), "val": len(s.data.val) if s.data.val else 0, "test": len(s.data.test), "classes": s.data.classes, "task": s.data.task, "input_shape": list(s.data.input_shape)},
        **_fitted(s),
        "versions": versions(),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def _export_weights(path: Path, model: torch.nn.Module) -> None:
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(path, lambda fh: fh.write(save(tensors)))


def load_weights(path: Path, model: torch.nn.Module) -> None:
    """Load safetensors weights into ``model`` (one-line error when they do not fit)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from trainlab.errors import CheckpointError

    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path}: cannot read weights ({exc})") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit the model of this run's config ({str(exc).splitlines()[0]})") from None


def evaluate_run(path: str | Path, split: str = "test", data_dir: str | None = None) -> dict[str, Any]:
    """Re-evaluate a saved run on a split with its saved weights and config."""
    from trainlab.build import resolve_device
    from trainlab.data.sources import load_dataset
    from trainlab.runs.rundir import load_run

    run = load_run(path)
    weights = Path(path) / WEIGHTS
    if not weights.is_file():  # before loading any data: nothing to evaluate
        raise ConfigError(f"{path}: no {WEIGHTS} (the run did not finish); resume or retrain it")
    cfg = run.config if data_dir is None else run.config.replace(**{"data.dir": data_dir})
    transform = _saved_transform(Path(path))
    data = load_dataset(cfg.data, cfg.seed, resolve_device(cfg.device), transform) if transform is not None else None
    s = setup(cfg, data)
    load_weights(weights, s.model)
    trainer = Trainer(s.model, s.data, s.loss, s.optimizer, 1, s.batch_size, eval_batch_size=cfg.train.eval_batch_size)
    return {"run": str(path), "split": split, "examples": len(s.data.split(split)), **trainer.evaluate(s.data.split(split))}
