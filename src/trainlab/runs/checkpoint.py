"""Checkpoints: everything needed to continue a run, written atomically, loaded with weights_only."""

from __future__ import annotations

import random
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainlab.atomic import atomic_write
from trainlab.errors import CheckpointError

FORMAT = "trainlab-checkpoint-1"


def rng_state(generator: torch.Generator | None = None) -> dict[str, Any]:
    """Every RNG state (Python, NumPy, torch CPU/CUDA, the loop's permutation generator)."""
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]), "has_gauss": int(np_state[3]), "cached": float(np_state[4])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if generator is not None:
        state["generator"] = generator.get_state()
    return state


def set_rng_state(state: dict[str, Any], generator: torch.Generator | None = None) -> None:
    """Restore states saved by ``rng_state``."""
    random.setstate(_tuplify(state["python"]))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if generator is not None and "generator" in state:
        generator.set_state(state["generator"])


def _tuplify(obj: Any) -> Any:
    return tuple(_tuplify(o) for o in obj) if isinstance(obj, (list, tuple)) else obj


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` (tensors, numbers, strings, dicts) atomically; the old file survives a crash."""
    payload = {"format": FORMAT, **payload}
    atomic_write(path, lambda fh: torch.save(payload, fh))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint safely (``weights_only=True``); a bad file gives a one-line CheckpointError.

    The zip container torch writes is checked first (header, central directory, CRC of every
    member), so truncated and bit-damaged files are named as such instead of failing deep in torch.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    _check_container(path)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for foreign files
        text = str(exc)
        if "Weights only load failed" in text:
            found = re.search(r"GLOBAL ([\w.]+)", text)
            what = f" ({found.group(1)})" if found else ""
            raise CheckpointError(
                f"{path}: refused: it holds Python objects other than tensors and plain data{what}, and loading"
                " them could run code; only trainlab checkpoints are loaded"
            ) from None
        first = text.strip().splitlines()[0][:160] if text.strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint ({first})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(f"{path}: not a trainlab checkpoint (format {found!r}, expected {FORMAT!r})")
    return data


def _check_container(path: Path) -> None:
    """Raise a CheckpointError unless ``path`` is a complete, undamaged zip archive (torch's format)."""
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"{path}: empty file (0 bytes), not a checkpoint")
    with path.open("rb") as fh:
        head = fh.read(4)
    if head != b"PK\x03\x04":
        raise CheckpointError(f"{path}: not a checkpoint (it does not start like a PyTorch file; first bytes {head!r})")
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
    except Exception:  # zipfile raises BadZipFile, EOFError, UnicodeDecodeError, NotImplementedError...
        raise CheckpointError(f"{path}: truncated or damaged ({size} bytes; the archive's directory at its end is missing or broken)") from None
    if bad is not None:
        raise CheckpointError(f"{path}: damaged (checksum mismatch in {bad})")
