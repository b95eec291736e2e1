"""One run's life cycle, from claim to final status: ``RunSession`` (as MLflow's ``start_run``).

Every run kind goes through it: ``runner.train`` (single runs, rank 0 of a data-parallel run,
pretraining, resumes), ``stacking.train_stacked`` (each member of a stack) and ``classical.baselines``.
A session

- makes the run directory and claims its lock (``runs/lock.py``), or claims an existing run to resume;
- writes ``config.yaml`` and the fitted preprocessing, then the first ``summary.json`` (``begin``);
- keeps the typed ``Summary`` (``runs/summary.py``: its status goes from ``running`` to a final one once)
  and is the only writer of ``summary.json`` (atomically; in place when the disk is full);
- ends it: ``finish`` / ``fail`` / ``interrupt``, or for a trained network ``conclude`` (the final
  evaluation, the weights, the report page);
- on any exit (an exception, Ctrl-C, SIGTERM through ``raise_on_signals``) leaves a true final status,
  never ``running``, and releases the lock; a new run that never began leaves no folder behind.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from trainlab import cpu
from trainlab.atomic import json_text, overwrite_in_place, write_json, write_text
from trainlab.build import Setup
from trainlab.config import Config
from trainlab.data.regression import fitted_line
from trainlab.errors import TrainlabError
from trainlab.nn.models import count_params
from trainlab.report import report_at_end
from trainlab.runs.lock import LOCK, claim, release
from trainlab.runs.rundir import CONFIG, FITTED_PREPROCESS, SUMMARY, WEIGHTS, Run, create_run_dir
from trainlab.runs.summary import RUNNING, Summary, versions
from trainlab.runs.weights import export_weights, save_preprocess
from trainlab.training.callbacks.interrupt import raise_on_signals
from trainlab.training.loop import Trainer
from trainlab.training.probes import representation_report
from trainlab.training.results import final_metrics

KEPT = "the last checkpoint is kept"


def now() -> str:
    """A summary's timestamp (local time, seconds)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def signal_name(exc: BaseException) -> str:
    """The stop signal behind a KeyboardInterrupt (``Aborted`` carries it; Ctrl-C's own is SIGINT)."""
    return signal.Signals(getattr(exc, "signum", signal.SIGINT)).name


class RunSession:
    """One run directory owned from claim to final status; use it as a context manager.

    >>> with RunSession.create("runs", "mlp") as run:  # doctest: +SKIP
    ...     run.begin(Summary(started=now(), header="..."), config=cfg, preprocess=state)
    ...     run.finish("completed", test_accuracy=0.9)
    """

    def __init__(self, run_dir: Path, *, fresh: bool, handle_signals: bool = True) -> None:
        self.run_dir = run_dir
        self.fresh = fresh  # made by this session: removed again if the run never begins
        self.handle_signals = handle_signals  # stop signals during the final work raise at once (raise_on_signals)
        self.summary = Summary()
        self.trainer: Trainer | None = None
        self.begun = False
        self.finishing = False  # inside the final evaluation

    @classmethod
    def create(cls, output_dir: str | Path, name: str, handle_signals: bool = True) -> RunSession:
        """A new run directory under ``output_dir``, claimed before its first file is written."""
        run_dir = create_run_dir(output_dir, name)
        try:
            claim(run_dir)
        except BaseException:
            _discard(run_dir)
            raise
        return cls(run_dir, fresh=True, handle_signals=handle_signals)

    @classmethod
    def claim(cls, run_dir: str | Path, handle_signals: bool = True) -> RunSession:
        """An existing run (to resume), claimed first so that its state cannot change while it is read."""
        claim(run_dir)
        return cls(Path(run_dir), fresh=False, handle_signals=handle_signals)

    # -- the run's files ----------------------------------------------------------
    def begin(
        self,
        summary: Summary,
        trainer: Trainer | None = None,
        config: Config | None = None,
        preprocess: dict[str, Any] | None = None,
    ) -> None:
        """Write ``config.yaml`` and the fitted preprocessing (when given), then the first summary.json."""
        if not summary.running:
            raise ValueError(f"a run begins running, not {summary.status}")
        self.summary, self.trainer = summary, trainer
        if config is not None:
            write_text(self.run_dir / CONFIG, config.to_yaml())
        if preprocess is not None:
            save_preprocess(self.run_dir, preprocess)
        self.save()
        self.begun = True

    def save(self, best_effort: bool = False, status: str | None = None) -> None:
        """Write summary.json atomically (with ``status`` in place of the summary's own, when given).

        ``best_effort`` (recording a failure): when the disk refuses a new file, rewrite the old one in
        place, so it does not go on claiming "running"; the original error matters more than this one.
        """
        content = self.summary.to_dict()
        if status is not None:
            content["status"] = status
        try:
            write_json(self.run_dir / SUMMARY, content)
        except TrainlabError:
            if not best_effort:
                raise
            overwrite_in_place(self.run_dir / SUMMARY, json_text(content))

    def _end(self, status: str, best_effort: bool) -> None:
        """Write the final status, then keep it: a summary.json that could not be written still says
        running here, so that the session's exit records what went wrong instead."""
        self.summary.check_end(status)
        self.save(best_effort, status)
        self.summary.status = status

    def result(self, config: Config, history: list[dict[str, float]] | None = None, model: Any = None) -> Run:
        """The finished run as a ``Run``."""
        return Run(self.run_dir, config, self.summary.to_dict(), history if history is not None else [], model)

    # -- ends -----------------------------------------------------------------------
    def finish(self, status: str, **figures: Any) -> None:
        """The run ended as ``status`` (completed, stopped, diverged, pruned) with its final figures."""
        self.summary.update(**figures)
        self._end(status, best_effort=False)

    def fail(self, error: str, **fields: Any) -> None:
        """The run failed with ``error``; recorded even on a full disk."""
        self.summary.update(error=error[:500], **fields)
        self._end("failed", best_effort=True)

    def interrupt(self, best_effort: bool = True, **fields: Any) -> None:
        """A stop signal ended the run (``interrupted_by``, ``stop_reason``...); recorded even on a full disk."""
        self.summary.update(**fields)
        self._end("interrupted", best_effort)

    def signals(self) -> contextlib.AbstractContextManager[None]:
        """Where there is no step to finish (final evaluation, weights, report): a stop signal raises at once."""
        return raise_on_signals() if self.handle_signals else contextlib.nullcontext()

    def conclude(self, s: Setup, trainer: Trainer, interrupted_by: str | None, reraise_report: bool = False) -> Run:
        """A network run after ``fit`` returned: interrupted (a checkpoint to resume), or its final evaluation,
        weights and summary, then its report page (after the summary: a finished run is complete even if
        drawing fails). ``reraise_report``: a stop signal while drawing propagates (recorded all the same)."""
        self.trainer = trainer
        cfg = s.config
        if trainer.status == "interrupted":  # stopped by a signal: a checkpoint is on disk, nothing is final
            fields = {"stop_reason": trainer.stop_reason, "interrupted_by": interrupted_by, **_where(trainer)}
            self.interrupt(best_effort=False, **fields)
            return self.result(cfg, trainer.history, s.model)
        self.finishing = True
        with self.signals():
            final = final_summary(s, trainer)
            export_weights(self.run_dir / WEIGHTS, s.model)
            self.finish(final.pop("status"), **final)
        self.finishing = False
        if cfg.output.report:
            self.draw_report(lambda: report_at_end(self.run_dir, trainer), reraise_report)
        return self.result(cfg, trainer.history, s.model)

    def draw_report(self, draw: Callable[[], float], reraise: bool = False) -> None:
        """Draw the page of a finished run (``draw`` returns its seconds) and record them; a stop signal here
        leaves the run complete with ``report_interrupted_by`` (raised again with ``reraise``)."""
        try:
            with self.signals():
                seconds = draw()
                self.summary.report_seconds = round(seconds, 3)
                self.save()
        except KeyboardInterrupt as exc:  # the run is complete; only its page is missing
            self.summary.report_interrupted_by = signal_name(exc)
            self.save(best_effort=True)
            if reraise:
                raise

    # -- context ----------------------------------------------------------------------
    def __enter__(self) -> RunSession:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            if self.begun and self.summary.running:
                self._settle(exc)
        finally:
            release(self.run_dir)  # after the report: until then the run is still this process's
            if not self.begun and self.fresh:
                _discard(self.run_dir)  # a new run that could not even start (disk full): no empty folder left

    def _settle(self, exc: BaseException | None) -> None:
        """The true final status of a run left running by an exception (or by a caller that forgot to end it)."""
        t = self.trainer
        if exc is None:
            self.fail("the run ended without a final status", **(_where(t) if t is not None else {}))
            return
        stop = isinstance(exc, KeyboardInterrupt)
        if t is not None and t.status == "interrupted":  # a safe stop whose summary could not be written
            self.interrupt(stop_reason=t.stop_reason, interrupted_by=t.facts.interrupted_by, **_where(t))
            return
        if t is not None and t.status not in (RUNNING, "failed"):  # trained to its end: only the final part is missing
            if stop:
                name = signal_name(exc)
                when = "during" if self.finishing else "before"
                reason = f"{name} {when} the final evaluation; {KEPT}"
                self.interrupt(interrupted_by=name, stop_reason=reason, **_where(t))
            else:
                what = "then failed saving the results" if self.finishing else "not evaluated"
                self.fail(str(exc), stop_reason=f"trained to the end, {what}; {KEPT}", **_where(t))
            return
        where = {"epochs": t.epoch, "steps": t.step} if t is not None else {}
        if stop:
            self.interrupt(error=str(exc)[:500], **where)
        else:
            self.fail(str(exc), **where)


def _where(trainer: Trainer) -> dict[str, Any]:
    return {"epochs": trainer.epoch, "steps": trainer.step, "fit_seconds": round(trainer.fit_seconds, 3)}


def _discard(run_dir: Path) -> None:
    """Remove a run directory a session created, when the run could not start: only its own first files."""
    ours = {CONFIG, SUMMARY, FITTED_PREPROCESS, LOCK}
    try:
        if all(p.name in ours or (p.name.startswith(".") and p.name.endswith(".tmp")) for p in run_dir.iterdir()):
            shutil.rmtree(run_dir, ignore_errors=True)
    except OSError:
        pass


def final_summary(s: Setup, trainer: Trainer) -> dict[str, Any]:
    """summary.json's figures of a finished run: status, final metrics, what the callbacks found, versions."""
    t0 = time.perf_counter()
    final = final_metrics(trainer)
    best_val = max((m["val_accuracy"] for m in trainer.history if "val_accuracy" in m), default=None)
    facts = trainer.facts
    fitted = fitted_line(s.model, s.data.preprocess_state, s.data.input_shape) if s.data.task == "regression" else None
    probes = None
    if trainer.unsupervised and s.data.task == "classification":  # pretraining: probe the learned features
        cfg = s.config
        k = cfg.pretrain.knn_k
        probes = representation_report(s.model, s.data, cfg.model, cfg.seed, k, trainer.eval_batch_size)
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
        # how idle threads waited (trainlab/cpu.py): speed only, never the numbers
        "omp_wait_policy": cpu.prepare().wait_policy,
        "data": {
            "name": s.data.name,
            "train": len(s.data.train),
            "val": len(s.data.val) if s.data.val else 0,
            "test": len(s.data.test),
            "classes": s.data.classes,
            "task": s.data.task,
            "input_shape": list(s.data.input_shape),
            "label_noise": s.config.data.label_noise,
        },
        **({"fitted": fitted} if fitted is not None else {}),  # a linear model on a regression task: w and b
        **({"representation": probes} if probes is not None else {}),  # linear probes and kNN (docs/self-supervised.md)
        "versions": versions(),
        "finished": now(),
    }
