"""What a finished run keeps for inference: ``model.safetensors`` and the fitted preprocessing.

A weights file is untrusted when read: trainlab writes the sha256 of its tensors (names, dtypes,
shapes and bytes) into the file's metadata and refuses a file whose tensors no longer hash to it
(flipped bytes), tensors whose dtype differs from the model's (``load_state_dict`` would cast an
int64 or float64 tensor silently) and, for ``model.pretrained``, non-finite weights and runs whose
summary says they did not finish (diverged, failed, interrupted, still running). Files written by
other tools carry no digest; the other checks still apply to them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from trainlab.atomic import atomic_write
from trainlab.data.preprocess import Transform, load_transform, save_transform, transform_from_state
from trainlab.errors import CheckpointError
from trainlab.runs.checkpoint import load_checkpoint
from trainlab.runs.rundir import CHECKPOINT, FITTED_PREPROCESS, SUMMARY

DIGEST_KEY = "trainlab.sha256"  # the metadata entry holding the tensors' digest
# a run whose weights may seed another (early stopping's "stopped" is a finished run)
FINISHED = ("completed", "stopped")


def tensors_digest(tensors: dict[str, torch.Tensor]) -> str:
    """The sha256 of a state dict: every tensor's name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(memoryview(t.reshape(-1).view(torch.uint8).numpy()))
    return h.hexdigest()


def export_weights(path: Path, model: torch.nn.Module) -> None:
    """Write the model's weights as safetensors with their digest in the metadata, atomically."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    metadata = {DIGEST_KEY: tensors_digest(tensors)}
    atomic_write(path, lambda fh: fh.write(save(tensors, metadata=metadata)))


def read_weights(path: Path, what: str) -> dict[str, torch.Tensor]:
    """A safetensors file's tensors, refused in one line when unreadable or when they fail their digest."""
    try:
        with safe_open(str(path), framework="pt") as fh:
            metadata = fh.metadata() or {}
            state = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{what}: cannot read {path} ({str(exc).splitlines()[0] if str(exc) else exc!r})"
        ) from None
    expected = metadata.get(DIGEST_KEY)
    if expected is not None and tensors_digest(state) != expected:
        raise CheckpointError(
            f"{what}: {path} is damaged (its tensors do not match the sha256 written with them); "
            "retrain the run or restore the file"
        )
    return state


def _check_dtypes(state: dict[str, torch.Tensor], target: dict[str, torch.Tensor], path: Path, what: str) -> None:
    """Every tensor must have the dtype of the model's own (no silent cast from int64 or float64)."""
    for k, v in target.items():
        if k in state and state[k].dtype != v.dtype:
            raise CheckpointError(f"{what}: {k} is {state[k].dtype} in {path} but {v.dtype} in this model")


def load_weights(path: Path, model: torch.nn.Module) -> None:
    """Load safetensors weights into ``model`` (one-line error when they do not fit)."""
    state = read_weights(path, "weights")
    _check_dtypes(state, model.state_dict(), path, "weights")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(
            f"{path}: weights do not fit the model of this run's config ({str(exc).splitlines()[0]})"
        ) from None


def load_encoder(path: Path, model: torch.nn.Module) -> int:
    """Copy a run's encoder weights into every layer of ``model`` but its output layer; returns the tensors copied.

    A pretraining run keeps its encoder under ``encoder.``; a supervised run's encoder is every layer
    but ``out``. Names and shapes must match this model exactly (one-line error naming the first misfit).
    """
    check_source_run(path)
    state = read_weights(path, "model.pretrained")
    source = {k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")}
    if not source:
        source = {k: v for k, v in state.items() if not k.startswith("out.")}
    target = {k: v for k, v in model.state_dict().items() if not k.startswith("out.")}
    missing, extra = sorted(set(target) - set(source)), sorted(set(source) - set(target))
    if missing or extra:
        what = f"this model's {missing[0]!r} is not in it" if missing else f"its {extra[0]!r} is not in this model"
        raise CheckpointError(
            f"model.pretrained: the encoder in {path} does not fit this model ({what}); use the pretraining run's "
            "model.* settings"
        )
    _check_dtypes(source, target, path, "model.pretrained")
    for k, v in target.items():
        if v.is_floating_point() and not bool(torch.isfinite(source[k]).all()):
            raise CheckpointError(f"model.pretrained: {k} in {path} holds NaN or infinite values; pretrain again")
        if v.shape != source[k].shape:
            raise CheckpointError(
                f"model.pretrained: {k} has shape {tuple(source[k].shape)} in {path} but {tuple(v.shape)} in this "
                "model; use the pretraining run's model.* settings"
            )
    with torch.no_grad():  # state_dict tensors share storage with the parameters and buffers
        for k, v in target.items():
            v.copy_(source[k])
    return len(target)


def check_source_run(path: Path) -> None:
    """A run's weights may seed another only when its summary says it finished (completed or stopped early).

    A weights file outside a run directory (no summary.json beside it) is taken as given.
    """
    summary = path.parent / SUMMARY
    if not summary.is_file():
        return
    try:
        status = json.loads(summary.read_text(encoding="utf-8", errors="replace")[: 1 << 20]).get("status")
    except (OSError, ValueError, AttributeError):
        status = None
    if status not in FINISHED:
        why = {
            "diverged": "diverged (its weights are what the divergence left)",
            "failed": "failed",
            "interrupted": "was interrupted (resume it first)",
            "running": "is still running",
        }
        said = why.get(
            str(status), f"has status {status!r}" if status is not None else "has an unreadable summary.json"
        )
        raise CheckpointError(
            f"model.pretrained: the run {path.parent} {said}; use a run whose status is one of: {', '.join(FINISHED)}"
        )


def save_preprocess(run_dir: Path, state: dict[str, Any]) -> None:
    """The fitted preprocessing beside the weights, so evaluation applies the very same transform."""
    save_transform(run_dir / FITTED_PREPROCESS, transform_from_state(state))


def saved_transform(run_dir: Path) -> Transform | None:
    """The run's fitted preprocessing (preprocess.safetensors, else the checkpoint's copy), or None."""
    if (run_dir / FITTED_PREPROCESS).is_file():
        return load_transform(run_dir / FITTED_PREPROCESS)
    if (run_dir / CHECKPOINT).is_file():
        state = load_checkpoint(run_dir / CHECKPOINT).get("preprocess")
        if state:
            return transform_from_state(state)
    return None  # an older run: refit on the same seeded train split
