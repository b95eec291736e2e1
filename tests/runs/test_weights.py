"""Weights files are untrusted: a digest in their metadata, the model's dtypes, finite encoders, finished runs only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from trainlab.errors import CheckpointError
from trainlab.runs.weights import (
    DIGEST_KEY,
    export_weights,
    load_encoder,
    load_weights,
    read_weights,
)


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.BatchNorm1d(32), torch.nn.Linear(32, 3))


def test_round_trip_keeps_a_digest_and_the_exact_tensors(tmp_path: Path) -> None:
    model, path = _model(), tmp_path / "model.safetensors"
    export_weights(path, model)
    other = _model()
    torch.nn.init.zeros_(other[0].weight)
    load_weights(path, other)
    for (k, a), b in zip(model.state_dict().items(), other.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    assert DIGEST_KEY in json.dumps(str(path.read_bytes()[:400]))


def test_flipped_bytes_are_refused(tmp_path: Path) -> None:
    # issue 29: a model.safetensors with 200 flipped floats loaded without a word
    path = tmp_path / "model.safetensors"
    export_weights(path, _model())
    raw = bytearray(path.read_bytes())
    for i in range(1, 201):
        raw[-4 * i] ^= 0x40  # inside the last tensors' data: the header is untouched
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="is damaged"):
        load_weights(path, _model())
    with pytest.raises(CheckpointError, match="model.pretrained: .* is damaged"):
        read_weights(path, "model.pretrained")


def test_a_tensor_of_another_dtype_is_refused_not_cast(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"  # written by another tool: no digest, int64 weights
    state = {k: v.to(torch.int64) if k == "0.weight" else v for k, v in _model().state_dict().items()}
    save_file(state, str(path))
    with pytest.raises(CheckpointError, match=r"0.weight is torch.int64 in .* but torch.float32 in this model"):
        load_weights(path, _model())


def _run_dir(tmp_path: Path, status: str, nan: bool = False) -> Path:
    run = tmp_path / f"run-{status}"
    run.mkdir()
    model = _model()
    if nan:
        with torch.no_grad():
            model[0].weight[0, 0] = float("nan")
    export_weights(run / "model.safetensors", model)
    (run / "summary.json").write_text(json.dumps({"status": status}))
    return run / "model.safetensors"


@pytest.mark.parametrize(
    ("status", "said"),
    [
        ("diverged", "diverged"),
        ("failed", "failed"),
        ("interrupted", "was interrupted"),
        ("running", "is still running"),
    ],
)
def test_pretrained_weights_of_an_unfinished_run_are_refused(tmp_path: Path, status: str, said: str) -> None:
    with pytest.raises(
        CheckpointError, match=f"model.pretrained: the run .* {said}.*; use a run whose status is one of"
    ):
        load_encoder(_run_dir(tmp_path, status), _model())


def test_pretrained_weights_of_a_finished_run_load_and_nan_is_refused(tmp_path: Path) -> None:
    assert (
        load_encoder(_run_dir(tmp_path, "completed"), _model()) == 9
    )  # a Sequential has no `out.`: every tensor, BatchNorm's int64 counter included
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        load_encoder(_run_dir(tmp_path, "stopped", nan=True), _model())
