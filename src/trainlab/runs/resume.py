"""What ``--resume RUN`` continues: the run directory, its config and last checkpoint, checked against each other."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainlab.atomic import remove_stale_temps
from trainlab.config import Config, flat_keys, parse_overrides
from trainlab.errors import CheckpointError, ConfigError, brief
from trainlab.runs.checkpoint import load_checkpoint, validate_payload
from trainlab.runs.lock import holder
from trainlab.runs.rundir import CHECKPOINT, load_run

# keys a resumed run may change: where and how it runs and what it writes, never what it computes
# (bit-identical results also need the same threads and device)
RESUME_OVERRIDES = ("threads", "device", "data.dir", "train.checkpoint_every", "output.report", "logging.tensorboard")
_NOT_COMPARED = (*RESUME_OVERRIDES, "output.dir", "output.name")


@dataclass
class ResumePoint:
    """A run to continue: its directory, config (with allowed overrides), summary and checkpoint payload."""

    run_dir: Path
    checkpoint: Path
    config: Config
    summary: dict[str, Any]
    payload: dict[str, Any]


def find_run(run: str | Path, parent: str | Path = "runs") -> tuple[Path, Path]:
    """(run directory, checkpoint path) for a run directory, its checkpoint file, or a run name under ``parent``."""
    path = Path(run)
    if not path.exists() and (Path(parent) / path).exists():
        path = Path(parent) / path
    if path.is_file():
        return path.parent, path
    if path.is_dir():
        return path, path / CHECKPOINT
    raise CheckpointError(f"cannot resume {str(run)!r}: no such run directory or checkpoint file")


def config_differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """``key: a vs b`` for every dotted key whose value differs (keys that may change on resume are skipped)."""
    fa, fb = flat_keys(a), flat_keys(b)
    keys = [k for k in dict.fromkeys([*fa, *fb]) if k not in _NOT_COMPARED]
    return [f"{k}: {brief(fa.get(k), 60)} vs {brief(fb.get(k), 60)}" for k in keys if fa.get(k) != fb.get(k)]


def prepare_resume(
    run: str | Path, overrides: list[str] | dict[str, Any] | None = None, check_holder: bool = True
) -> ResumePoint:
    """Check that ``run`` can be resumed and load its checkpoint; every problem is a one-line TrainlabError.

    ``check_holder=False`` skips the run.pid check, for the data-parallel ranks of a run whose rank 0
    holds the claim.
    """
    run_dir, ckpt = find_run(run)
    saved_run = load_run(run_dir)
    status = saved_run.summary.get("status")
    if status == "completed":
        raise CheckpointError(
            f"{run_dir} already completed ({saved_run.summary.get('epochs', '?')} epochs); nothing to resume - start "
            "a new run instead"
        )
    if status == "diverged":
        raise CheckpointError(
            f"{run_dir} diverged (see stop_reason in its summary.json); resuming would repeat the same steps"
            " exactly - start a new run with a lower optim.lr"
        )
    held = holder(run_dir) if check_holder else None
    if held is not None:
        raise CheckpointError(held.message(run_dir))
    if not ckpt.is_file():
        raise CheckpointError(
            f"{run_dir}: no {CHECKPOINT} to resume from (stopped before its first checkpoint, or "
            "train.checkpoint=false)"
        )
    payload = load_checkpoint(ckpt)
    # every field's type and range, before anything is restored from it (a position of 10**6 or an
    # epoch past train.epochs would otherwise "complete" a run that never trained)
    validate_payload(
        payload, str(ckpt), epochs=saved_run.config.train.epochs, batch_size=saved_run.config.optim.batch_size
    )
    diff = config_differences(payload["config"], saved_run.config.to_dict())
    if diff:
        raise CheckpointError(
            f"{ckpt} was written by another config than {run_dir / 'config.yaml'} ({'; '.join(diff[:4])}"
            f"{'; ...' if len(diff) > 4 else ''}); resume needs the config the checkpoint came from"
        )
    changes = parse_overrides(overrides) if isinstance(overrides, list) else dict(overrides or {})
    for key in changes:
        if key not in RESUME_OVERRIDES:
            raise ConfigError(
                f"cannot change {key} when resuming (a resumed run continues with its own config);"
                f" allowed: {', '.join(RESUME_OVERRIDES)} - start a new run to change {key}"
            )
    cfg = saved_run.config.replace(**changes) if changes else saved_run.config
    remove_stale_temps(run_dir)  # half-written files of a writer killed mid-save (SIGKILL, power loss)
    return ResumePoint(run_dir, ckpt, cfg, saved_run.summary, payload)
