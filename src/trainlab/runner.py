"""Training runs: ``train(config) -> Run`` and ``resume(run)``, from the run builder to a finished run directory.

A run is built by the one run builder (``build.setup``, then ``build.assemble`` once its directory
exists: config.yaml and the fitted preprocessing are written first), trains under the safe-stop signal handlers, and ends with its summary,
its weights and its report page, in that order, so a finished run is complete even if drawing fails.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import time
from pathlib import Path
from typing import Any

from trainlab import cpu
from trainlab.atomic import write_json, write_text
from trainlab.build import Setup, assemble, setup
from trainlab.config import Config, as_config
from trainlab.data.memo import DataCache
from trainlab.data.regression import fitted_line
from trainlab.errors import ConfigError, TrainlabError
from trainlab.nn.models import count_params
from trainlab.report import plots, report_at_end
from trainlab.runs.lock import LOCK, claim, release
from trainlab.runs.resume import ResumePoint, find_run, prepare_resume
from trainlab.runs.rundir import (
    CONFIG,
    FITTED_PREPROCESS,
    SUMMARY,
    WEIGHTS,
    Run,
    create_run_dir,
    run_name,
)
from trainlab.runs.summary import versions, write_summary_best_effort
from trainlab.runs.weights import export_weights, save_preprocess
from trainlab.training import distributed
from trainlab.training.callbacks import Interrupt, NotebookProgress, Progress
from trainlab.training.callbacks.interrupt import catch_signals, raise_on_signals
from trainlab.training.callbacks.notebook import in_notebook, wants_progress
from trainlab.training.distributed import World, world_from_env
from trainlab.training.loop import Callback, Trainer
from trainlab.training.probes import representation_report
from trainlab.training.results import final_metrics
from trainlab.training.state import restore_trainer

DEBOUNCE = 1.0  # seconds: data-parallel ranks take a second stop signal this soon as the same Ctrl-C


def train(
    config: Config | dict[str, Any] | str | Path | None = None,
    overrides: list[str] | dict[str, Any] | None = None,
    callbacks: list[Callback] | tuple[Callback, ...] = (),
    on_setup: Any = None,
    data: Any = None,
    resume: str | Path | None = None,
    handle_signals: bool = True,
    cache: DataCache | None = None,
    progress: bool | str = "auto",
) -> Run:
    """Train the run a config describes; returns the Run (path, config, summary, history, model).

    ``resume=RUN`` continues a stopped run (directory, checkpoint file or name under runs/) exactly
    from its last checkpoint, with its own config (``overrides`` may change only what does not change
    the numbers: threads, device, data.dir, train.checkpoint_every, output.report). With
    ``handle_signals`` (main thread only), Ctrl-C / SIGTERM stop the run safely after the current
    step: the Run's summary then has status ``interrupted`` and a checkpoint to resume. ``data``: an
    already loaded Dataset (cross-validation folds); ``cache``: a ``DataCache`` shared by many runs.
    ``progress``: ``"auto"``/``True`` show the run (in a notebook a status line and live learning
    curves, else the CLI's lines on stdout) unless ``callbacks`` already hold a progress display;
    ``False`` is silent.

    >>> run = trainlab.train({"data": {"name": "xor"}, "model": {"hidden": [8]}, "train": {"epochs": 2}})  # doctest: +SKIP
    """
    world = world_from_env()  # under torchrun: one rank of a data-parallel run (docs/distributed.md)
    where: dict[str, Path] = {}
    try:
        run = _train(config, overrides, callbacks, on_setup, data, resume, handle_signals, cache, world, where, progress)
        if world.active:
            distributed.stop(together=True)
        return run
    except RuntimeError as exc:
        if world.active and distributed.lost_peer(exc):
            where_run = where.get("run_dir", "RUN")
            raise TrainlabError(
                f"rank {world.rank}: another process of this {world.size}-process run died ({str(exc).splitlines()[0][:160]}); "
                f"the last checkpoint is intact: trainlab train --resume {where_run} --nproc {world.size}"
            ) from None
        raise
    finally:
        if world.active:
            distributed.stop()


def _train(
    config: Any, overrides: Any, callbacks: Any, on_setup: Any, data: Any, resume: Any, handle_signals: bool, cache: DataCache | None, world: World,
    where: dict[str, Path], progress: bool | str = "auto",
) -> Run:
    """``train`` for one process (rank 0 of one, or one rank of a data-parallel run)."""
    point: ResumePoint | None = None
    claimed: Path | None = None
    if resume is not None:
        if config is not None:
            raise ConfigError("pass a config or resume=RUN, not both: a resumed run continues with its own config")
        if world.main:
            # claim the run first, then read it: its state cannot change under us (another process
            # finishing it, or checkpointing past what we read), and a second process resuming it
            # is refused here, before it writes anything (the summary.json of the one that trains)
            claimed = find_run(resume)[0]
            claim(claimed)
        try:
            point = prepare_resume(resume, overrides, check_holder=world.main)
        except BaseException:
            if claimed is not None:
                release(claimed)
            raise
        cfg = point.config
    else:
        cfg = as_config(config, overrides)
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    try:
        s = setup(cfg, data, cache, world)  # before the run directory exists: a bad config leaves nothing behind
    except BaseException:
        if claimed is not None:
            release(claimed)
        raise
    run_dir = create_run_dir(cfg.output.dir, run_name(cfg)) if point is None and world.main else point.run_dir if point else None
    run_dir = Path(distributed.broadcast(str(run_dir) if world.main else None, world))
    where["run_dir"] = run_dir
    if world.active:
        distributed.tell_launcher(run_dir, world)
    if not world.main:  # rank 0 alone writes the run directory, checkpoints, progress and pages
        return _train_rank(s, run_dir, point, callbacks, handle_signals, world)
    fresh = point is None
    if fresh:  # a new run is claimed before its first file is written
        try:
            claim(run_dir)
        except BaseException:
            _discard(run_dir, fresh)
            raise
    try:
        interrupt = Interrupt(run_dir, s.config.to_dict())
        interrupt.debounce = DEBOUNCE if world.active else 0.0
        trainer = assemble(s, run_dir, [*callbacks, *progress_callbacks(progress, callbacks), interrupt])
        cfg = s.config  # resolved (loss.name, full batch)
        summary: dict[str, Any] = {"status": "running", "started": started, "header": trainer.facts.header}
        if world.active:
            summary["world_size"] = world.size
        if fresh:
            write_text(run_dir / CONFIG, cfg.to_yaml())
            save_preprocess(run_dir, s.data.preprocess_state)
        else:
            resumes = int(point.summary.get("resumes", 0)) + 1
            summary.update(started=point.summary.get("started", started), resumes=resumes, resumed_at_step=int(point.payload["step"]))
            restore_trainer(trainer, point.payload, str(point.checkpoint))
        write_json(run_dir / SUMMARY, summary)
    except BaseException:
        release(run_dir)
        _discard(run_dir, fresh)  # a new run that could not even start (disk full): no empty folder left
        raise
    try:
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
            write_summary_best_effort(run_dir / SUMMARY, summary)
            raise
        if world.active:  # where each rank stopped (the same step: stop_together)
            summary["ranks"] = distributed.outcomes(trainer, world)
        if trainer.status == "interrupted":  # stopped by a signal: a checkpoint is on disk, nothing is final
            summary.update(status="interrupted", stop_reason=trainer.stop_reason, interrupted_by=interrupt.signal_name, epochs=trainer.epoch, steps=trainer.step, fit_seconds=round(trainer.fit_seconds, 3))
            write_json(run_dir / SUMMARY, summary)
            return Run(run_dir, cfg, summary, trainer.history, s.model)
        _finish(s, trainer, run_dir, summary, handle_signals)
        if cfg.output.report:  # after the summary, so a finished run is complete even if drawing fails
            try:
                with raise_on_signals() if handle_signals else contextlib.nullcontext():
                    summary["report_seconds"] = round(report_at_end(run_dir, trainer), 3)
                    write_json(run_dir / SUMMARY, summary)
            except KeyboardInterrupt as exc:  # the run is complete; only its page is missing
                summary["report_interrupted_by"] = signal.Signals(getattr(exc, "signum", signal.SIGINT)).name
                write_summary_best_effort(run_dir / SUMMARY, summary)
        return Run(run_dir, cfg, summary, trainer.history, s.model)
    finally:
        release(run_dir)  # after the report: until then the run is still this process's


def _finish(s: Setup, trainer: Trainer, run_dir: Path, summary: dict[str, Any], handle_signals: bool) -> None:
    """The final evaluation, the weights and the summary of a run that trained to its end.

    A stop signal here (there is no step to finish) or a failure (a full disk writing the weights)
    leaves summary.json saying what happened, never "running": ``interrupted`` with the last
    checkpoint to resume from (resuming repeats only this final part), or ``failed`` with the error.
    """
    try:
        with raise_on_signals() if handle_signals else contextlib.nullcontext():
            final = final_summary(s, trainer)
            export_weights(run_dir / WEIGHTS, s.model)
            summary.update(final)
            write_json(run_dir / SUMMARY, summary)
    except BaseException as exc:
        where = dict(epochs=trainer.epoch, steps=trainer.step, fit_seconds=round(trainer.fit_seconds, 3))
        if isinstance(exc, KeyboardInterrupt):
            name = signal.Signals(getattr(exc, "signum", signal.SIGINT)).name
            summary.update(status="interrupted", interrupted_by=name, stop_reason=f"{name} during the final evaluation; the last checkpoint is kept", **where)
        else:
            summary.update(status="failed", error=str(exc)[:500], stop_reason="trained to the end, then failed saving the results; the last checkpoint is kept", **where)
        write_summary_best_effort(run_dir / SUMMARY, summary)
        raise


def _discard(run_dir: Path, fresh: bool) -> None:
    """Remove a run directory this call created, when the run could not start: only its own first files."""
    if not fresh:
        return
    ours = {CONFIG, SUMMARY, FITTED_PREPROCESS, LOCK}
    try:
        if all(p.name in ours or (p.name.startswith(".") and p.name.endswith(".tmp")) for p in run_dir.iterdir()):
            shutil.rmtree(run_dir, ignore_errors=True)
    except OSError:
        pass


def _train_rank(s: Setup, run_dir: Path, point: ResumePoint | None, callbacks: Any, handle_signals: bool, world: World) -> Run:
    """A rank other than 0: the same training, no files (its ``Interrupt`` writes no checkpoint)."""
    interrupt = Interrupt(None, s.config.to_dict())
    interrupt.debounce = DEBOUNCE
    trainer = assemble(s, None, [*callbacks, interrupt])
    if point is not None:
        restore_trainer(trainer, point.payload, str(point.checkpoint))
        distributed.after_restore(trainer, world)
    if handle_signals:
        with catch_signals(interrupt):
            trainer.fit()
    else:
        trainer.fit()
    distributed.outcomes(trainer, world)  # rank 0 records where every rank stopped
    summary = {"status": trainer.status, "stop_reason": trainer.stop_reason, "epochs": trainer.epoch, "steps": trainer.step, "rank": world.rank}
    if trainer.status != "interrupted" and not trainer.unsupervised:
        # rank 0's final evaluation (``_finish``) shares the test and train rows among the ranks: take part
        summary.update(final_metrics(trainer))
    return Run(run_dir, s.config, summary, trainer.history, s.model)


def resume(run: str | Path, overrides: list[str] | dict[str, Any] | None = None, **kwargs: Any) -> Run:
    """Continue a stopped run exactly from its last checkpoint: ``trainlab.resume("runs/...")``."""
    return train(None, overrides, resume=run, **kwargs)


def progress_callbacks(progress: bool | str, given: list[Callback] | tuple[Callback, ...] = ()) -> list[Callback]:
    """The progress display ``progress`` asks for, unless ``given`` already holds one."""
    if not wants_progress(progress) or any(isinstance(c, (Progress, NotebookProgress)) for c in given):
        return []
    return [NotebookProgress(plots.learning_curves) if in_notebook() else Progress()]


def final_summary(s: Setup, trainer: Trainer) -> dict[str, Any]:
    """summary.json's figures of a finished run: status, final metrics, what the callbacks found, versions."""
    t0 = time.perf_counter()
    final = final_metrics(trainer)
    best_val = max((m["val_accuracy"] for m in trainer.history if "val_accuracy" in m), default=None)
    facts = trainer.facts
    fitted = fitted_line(s.model, s.data.preprocess_state, s.data.input_shape) if s.data.task == "regression" else None
    probes = None
    if trainer.unsupervised and s.data.task == "classification":  # pretraining: probe the learned features
        probes = representation_report(s.model, s.data, s.config.model, s.config.seed, s.config.pretrain.knn_k, trainer.eval_batch_size)
    return {
        "status": trainer.status,
        "stop_reason": trainer.stop_reason,
        "epochs": trainer.epoch,
        "steps": trainer.step,
        "fit_seconds": round(trainer.fit_seconds, 3),
        "eval_seconds": round(time.perf_counter() - t0, 3),
        "best_val_accuracy": best_val,
        **final,
        "initial_loss": facts.initial_loss,
        "expected_initial_loss": facts.expected_initial_loss,
        "warnings": list(facts.warnings),  # initial-loss causes, LR too high/low
        "nan_guard": facts.nan_guard,  # where a divergence began (step, layer, lr), else None
        "params": count_params(s.model),
        "device": str(s.device),
        "threads": s.threads,
        "omp_wait_policy": cpu.prepare().wait_policy,  # how idle threads waited (trainlab/cpu.py): speed only, never the numbers
        "data": {"name": s.data.name, "train": len(s.data.train), "val": len(s.data.val) if s.data.val else 0, "test": len(s.data.test), "classes": s.data.classes, "task": s.data.task, "input_shape": list(s.data.input_shape), "label_noise": s.config.data.label_noise},
        **({"fitted": fitted} if fitted is not None else {}),
        **({"representation": probes} if probes is not None else {}),  # linear probes and kNN (docs/self-supervised.md)  # a linear model on a regression task: w and b
        "versions": versions(),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
