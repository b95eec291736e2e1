"""Finished runs, looked at again: re-evaluate a run on a split, and rebuild its report's evidence.

Both rebuild the run from its saved config through the run builder, with the saved weights and the
saved fitted preprocessing, so the numbers are those of the model that was trained.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainlab.build import build, resolve_device
from trainlab.data.sources import load_dataset
from trainlab.errors import CheckpointError, ConfigError
from trainlab.report.evidence import EVIDENCE, Evidence, collect
from trainlab.report.run_report import write_run_report
from trainlab.runs.rundir import WEIGHTS, load_run, missing_weights
from trainlab.runs.weights import load_weights, saved_transform
from trainlab.training.loop import Trainer


def _restored(path: Path, data_dir: str | None = None, overrides: dict[str, Any] | None = None) -> Trainer:
    """A trainer holding a finished run's trained model and its data (with the saved preprocessing);
    ``overrides``: keys that change where and how, not what (threads, device, data.dir)."""
    run = load_run(path)
    weights = path / WEIGHTS
    if not weights.is_file():  # before loading any data: there is no trained model
        raise CheckpointError(f"{path}: no {WEIGHTS} ({missing_weights(run)})")
    cfg = run.config if data_dir is None else run.config.replace(**{"data.dir": data_dir})
    cfg = cfg.replace(**overrides) if overrides else cfg
    transform = saved_transform(path)
    data = load_dataset(cfg.data, cfg.seed, resolve_device(cfg.device), transform) if transform is not None else None
    s, trainer = build(cfg, data)
    load_weights(weights, s.model)
    return trainer


def evaluate_run(
    path: str | Path, split: str = "test", data_dir: str | None = None, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Re-evaluate a saved run on a split with its saved weights and config (``overrides``: threads, device,
    data.dir)."""
    if not (Path(path) / WEIGHTS).is_file():  # before loading any data: nothing to evaluate
        run = load_run(path)  # a one-line error if this is not a run directory at all
        raise ConfigError(f"{path}: no {WEIGHTS} ({missing_weights(run)})")
    trainer = _restored(Path(path), data_dir, overrides)
    part = trainer.data.split(split)
    return {"run": str(path), "split": split, "examples": len(part), **trainer.evaluate(part)}


def recompute_evidence(run_dir: str | Path) -> Evidence:
    """Rebuild the evidence of a finished run (``report.npz``) from its config, weights and data."""
    return collect(_restored(Path(run_dir)))


def build_report(run_dir: str | Path, recompute: bool = False) -> Path:
    """(Re)write ``report.html`` of a run; the evidence is recomputed when missing or asked for.

    A run without weights (interrupted or failed before the end) gets a page of what it has:
    status, learning curves, config.
    """
    run_dir = Path(run_dir)
    path = run_dir / EVIDENCE
    if not (run_dir / WEIGHTS).is_file() and not path.is_file():
        load_run(run_dir)  # a one-line error if this is not a run directory at all
        return write_run_report(run_dir, Evidence())
    if recompute or not path.is_file():
        ev = recompute_evidence(run_dir)
        ev.save(path)
    else:
        ev = Evidence.load(path)
    return write_run_report(run_dir, ev)
