"""What a finished run keeps for inference: ``model.safetensors`` and the fitted preprocessing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from trainlab.atomic import atomic_write
from trainlab.data.preprocess import Transform, load_transform, save_transform, transform_from_state
from trainlab.errors import CheckpointError
from trainlab.runs.checkpoint import load_checkpoint
from trainlab.runs.rundir import CHECKPOINT, FITTED_PREPROCESS


def export_weights(path: Path, model: torch.nn.Module) -> None:
    """Write the model's weights as safetensors, atomically."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(path, lambda fh: fh.write(save(tensors)))


def load_weights(path: Path, model: torch.nn.Module) -> None:
    """Load safetensors weights into ``model`` (one-line error when they do not fit)."""
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path}: cannot read weights ({exc})") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit the model of this run's config ({str(exc).splitlines()[0]})") from None


def load_encoder(path: Path, model: torch.nn.Module) -> int:
    """Copy a run's encoder weights into every layer of ``model`` but its output layer; returns the tensors copied.

    A pretraining run keeps its encoder under ``encoder.``; a supervised run's encoder is every layer
    but ``out``. Names and shapes must match this model exactly (one-line error naming the first misfit).
    """
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"model.pretrained: cannot read {path} ({exc})") from None
    source = {k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")}
    if not source:
        source = {k: v for k, v in state.items() if not k.startswith("out.")}
    target = {k: v for k, v in model.state_dict().items() if not k.startswith("out.")}
    missing, extra = sorted(set(target) - set(source)), sorted(set(source) - set(target))
    if missing or extra:
        what = f"this model's {missing[0]!r} is not in it" if missing else f"its {extra[0]!r} is not in this model"
        raise CheckpointError(f"model.pretrained: the encoder in {path} does not fit this model ({what}); use the pretraining run's model.* settings")
    for k, v in target.items():
        if v.shape != source[k].shape:
            raise CheckpointError(f"model.pretrained: {k} has shape {tuple(source[k].shape)} in {path} but {tuple(v.shape)} in this model; use the pretraining run's model.* settings")
    with torch.no_grad():  # state_dict tensors share storage with the parameters and buffers
        for k, v in target.items():
            v.copy_(source[k])
    return len(target)


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
