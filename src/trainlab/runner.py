"""Training runs: ``train(config) -> Run`` and ``resume(run)``, from the run builder to a finished run directory.

A run is built by the one run builder (``build.setup``, then ``build.assemble`` once its directory
exists), trains under the safe-stop signal handlers, and is owned from claim to final status by a
``session.RunSession``: config.yaml and the fitted preprocessing first, then its summary, its weights
and its report page, in that order, so a finished run is complete even if drawing fails.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from trainlab.build import Setup, assemble, setup
from trainlab.config import Config, as_config
from trainlab.data.memo import DataCache
from trainlab.errors import ConfigError, TrainlabError
from trainlab.report import plots
from trainlab.runs.resume import ResumePoint, find_run, prepare_resume
from trainlab.runs.rundir import Run, run_name
from trainlab.runs.summary import Summary
from trainlab.session import RunSession, now
from trainlab.training import distributed
from trainlab.training.callbacks import Interrupt, NotebookProgress, Progress
from trainlab.training.callbacks.interrupt import catch_signals
from trainlab.training.callbacks.notebook import in_notebook, wants_progress
from trainlab.training.distributed import World, world_from_env
from trainlab.training.loop import Callback
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

    >>> run = trainlab.train(  # doctest: +SKIP
    ...     {"data": {"name": "xor"}, "model": {"hidden": [8]}, "train": {"epochs": 2}}
    ... )
    """
    world = world_from_env()  # under torchrun: one rank of a data-parallel run (docs/distributed.md)
    where: dict[str, Path] = {}
    try:
        run = _train(
            config, overrides, callbacks, on_setup, data, resume, handle_signals, cache, world, where, progress
        )
        if world.active:
            distributed.stop(together=True)
        return run
    except RuntimeError as exc:
        if world.active and distributed.lost_peer(exc):
            where_run = where.get("run_dir", "RUN")
            raise TrainlabError(
                f"rank {world.rank}: another process of this {world.size}-process run died "
                f"({str(exc).splitlines()[0][:160]}); "
                f"the last checkpoint is intact: trainlab train --resume {where_run} --nproc {world.size}"
            ) from None
        raise
    finally:
        if world.active:
            distributed.stop()


def _train(
    config: Any,
    overrides: Any,
    callbacks: Any,
    on_setup: Any,
    data: Any,
    resume: Any,
    handle_signals: bool,
    cache: DataCache | None,
    world: World,
    where: dict[str, Path],
    progress: bool | str = "auto",
) -> Run:
    """``train`` for one process (rank 0 of one, or one rank of a data-parallel run)."""
    point: ResumePoint | None = None
    with contextlib.ExitStack() as stack:
        session: RunSession | None = None  # rank 0 alone owns the run directory
        if resume is not None:
            if config is not None:
                raise ConfigError("pass a config or resume=RUN, not both: a resumed run continues with its own config")
            if world.main:
                # claim the run first, then read it: its state cannot change under us (another process
                # finishing it, or checkpointing past what we read), and a second process resuming it
                # is refused here, before it writes anything (the summary.json of the one that trains)
                session = stack.enter_context(RunSession.claim(find_run(resume)[0], handle_signals))
            point = prepare_resume(resume, overrides, check_holder=world.main)
            cfg = point.config
        else:
            cfg = as_config(config, overrides)
        started = now()
        s = setup(cfg, data, cache, world)  # before the run directory exists: a bad config leaves nothing behind
        if point is None and world.main:  # a new run is claimed before its first file is written
            session = stack.enter_context(RunSession.create(cfg.output.dir, run_name(cfg), handle_signals))
        run_dir = Path(distributed.broadcast(str(session.run_dir) if session is not None else None, world))
        where["run_dir"] = run_dir
        if world.active:
            distributed.tell_launcher(run_dir, world)
        if session is None:  # rank 0 alone writes the run directory, checkpoints, progress and pages
            return _train_rank(s, run_dir, point, callbacks, handle_signals, world)
        return _train_main(session, s, point, started, callbacks, on_setup, handle_signals, world, progress)


def _train_main(
    session: RunSession,
    s: Setup,
    point: ResumePoint | None,
    started: str,
    callbacks: Any,
    on_setup: Any,
    handle_signals: bool,
    world: World,
    progress: bool | str,
) -> Run:
    """The process that owns the run (one process, or rank 0): its session writes every file but checkpoints."""
    run_dir = session.run_dir
    interrupt = Interrupt(run_dir, s.config.to_dict())
    interrupt.debounce = DEBOUNCE if world.active else 0.0
    trainer = assemble(s, run_dir, [*callbacks, *progress_callbacks(progress, callbacks), interrupt])
    cfg = s.config  # resolved (loss.name, full batch)
    summary = Summary(started=started, header=trainer.facts.header)
    if world.active:
        summary.world_size = world.size
    if point is not None:
        summary.started = point.summary.get("started", started)
        summary.resumes = int(point.summary.get("resumes", 0)) + 1
        summary.resumed_at_step = int(point.payload["step"])
        restore_trainer(trainer, point.payload, str(point.checkpoint))
    fresh = point is None
    if fresh:
        session.begin(summary, trainer, config=cfg, preprocess=s.data.preprocess_state)
    else:  # a resumed run keeps its config.yaml and preprocessing
        session.begin(summary, trainer)
    if on_setup is not None:
        on_setup(s, trainer)
    with catch_signals(interrupt) if handle_signals else contextlib.nullcontext():
        trainer.fit()
    if world.active:  # where each rank stopped (the same step: stop_together)
        summary.ranks = distributed.outcomes(trainer, world)
    return session.conclude(s, trainer, interrupt.signal_name)


def _train_rank(
    s: Setup, run_dir: Path, point: ResumePoint | None, callbacks: Any, handle_signals: bool, world: World
) -> Run:
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
    summary = {
        "status": trainer.status,
        "stop_reason": trainer.stop_reason,
        "epochs": trainer.epoch,
        "steps": trainer.step,
        "rank": world.rank,
    }
    if trainer.status != "interrupted" and not trainer.unsupervised:
        # rank 0's final evaluation (``RunSession.conclude``) shares the test and train rows among the ranks: take part
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
