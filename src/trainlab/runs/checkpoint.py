"""Checkpoints: everything needed to continue a run, written atomically, loaded with weights_only."""

from __future__ import annotations

import math
import random
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainlab.atomic import atomic_write
from trainlab.errors import CheckpointError, brief

FORMAT = "trainlab-checkpoint-1"


def rng_state(generator: torch.Generator | None = None) -> dict[str, Any]:
    """Every RNG state (Python, NumPy, torch CPU/CUDA, the loop's permutation generator)."""
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached": float(np_state[4]),
        },
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
        raise CheckpointError(
            f"{path}: truncated or damaged ({size} bytes; the archive's directory at its end is missing or broken)"
        ) from None
    if bad is not None:
        raise CheckpointError(f"{path}: damaged (checksum mismatch in {bad})")


# -- validation: a checkpoint with the right format tag can still hold anything ---------------------

_NUMBER = (int, float)


def _bad(source: str, what: str) -> CheckpointError:
    return CheckpointError(f"{source}: damaged or foreign checkpoint: {what}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, _NUMBER) and not isinstance(v, bool)


def _int_in(source: str, key: str, v: Any, low: int, high: int | None = None) -> int:
    if not _is_int(v) or v < low or (high is not None and v > high):
        rule = f"an integer in [{low}, {high}]" if high is not None else f"an integer >= {low}"
        raise _bad(source, f"{key}={brief(v)}, expected {rule}")
    return v


def _tensor(
    source: str, key: str, v: Any, dtype: torch.dtype | None = None, shape: tuple[int, ...] | None = None
) -> torch.Tensor:
    if not isinstance(v, torch.Tensor):
        raise _bad(source, f"{key} is {type(v).__name__}, expected a tensor")
    if dtype is not None and v.dtype != dtype:
        raise _bad(source, f"{key} holds {v.dtype}, expected {dtype}")
    if shape is not None and tuple(v.shape) != shape:
        raise _bad(source, f"{key} has shape {tuple(v.shape)}, expected {shape}")
    return v


def _plain(v: Any, depth: int = 0) -> bool:
    """True for None, bool, finite-or-not numbers, strings, tensors and lists/tuples/dicts of them."""
    if depth > 20:
        return False
    if v is None or isinstance(v, (bool, int, float, str, torch.Tensor)):
        return True
    if isinstance(v, (list, tuple)):
        return all(_plain(x, depth + 1) for x in v)
    if isinstance(v, dict):
        return all(isinstance(k, (str, int)) and _plain(x, depth + 1) for k, x in v.items())
    return False


def _jsonish(v: Any, depth: int = 0) -> bool:
    """True for what a YAML config can hold: None, bools, finite-or-not numbers, strings, lists,
    string-keyed mappings."""
    if depth > 20:
        return False
    if v is None or isinstance(v, (bool, int, float, str)):
        return True
    if isinstance(v, (list, tuple)):
        return all(_jsonish(x, depth + 1) for x in v)
    if isinstance(v, dict):
        return all(isinstance(k, str) and _jsonish(x, depth + 1) for k, x in v.items())
    return False


def same_structure(saved: Any, live: Any, where: str) -> str | None:
    """Where ``saved`` differs in structure from ``live`` (a freshly built object's state_dict), or None.

    Mappings need the same keys, sequences the same length, tensors the same shape and dtype,
    numbers a number, flags a flag, text text; a None in ``live`` (not set yet) accepts None or a
    plain value. Values may differ: it is the kind of state that must match.
    """
    if isinstance(live, dict):
        if not isinstance(saved, dict) or set(saved) != set(live):
            return f"{where} does not have the entries {sorted(map(str, live))}"
        for k in live:
            found = same_structure(saved[k], live[k], f"{where}.{k}")
            if found:
                return found
        return None
    if isinstance(live, (list, tuple)):
        if not isinstance(saved, (list, tuple)) or len(saved) != len(live):
            return f"{where}={brief(saved)} is not a list of {len(live)}"
        for i, (a, b) in enumerate(zip(saved, live)):
            found = same_structure(a, b, f"{where}[{i}]")
            if found:
                return found
        return None
    if isinstance(live, torch.Tensor):
        ok = isinstance(saved, torch.Tensor) and saved.shape == live.shape and saved.dtype == live.dtype
        return None if ok else f"{where}={brief(saved)} does not fit {brief(live)}"
    if isinstance(live, bool):
        return None if isinstance(saved, bool) else f"{where}={brief(saved)} is not true/false"
    if _is_num(live):
        ok = _is_num(saved) and (math.isfinite(saved) or not math.isfinite(live))  # plateau's best starts at inf
        return None if ok else f"{where}={brief(saved)} is not a finite number"
    if isinstance(live, str):
        return None if isinstance(saved, str) else f"{where}={brief(saved)} is not text"
    if live is None:
        return (
            None
            if saved is None or isinstance(saved, (bool, int, float, str))
            else f"{where}={brief(saved)} is not a plain value"
        )
    return None


def _check_rng(source: str, rng: Any) -> None:
    """Every RNG state must have the shape and type its ``setstate`` expects (else: a traceback mid-resume)."""
    if not isinstance(rng, dict):
        raise _bad(source, f"rng is {type(rng).__name__}, expected a mapping of RNG states")
    for key in ("python", "numpy", "torch"):
        if key not in rng:
            raise _bad(source, f"rng lacks the {key} state")
    py = rng["python"]
    # random.getstate(): (3, 625 words of the Mersenne Twister, the last being the index <= 624), gauss_next
    if not (
        isinstance(py, (list, tuple))
        and len(py) == 3
        and py[0] == 3
        and isinstance(py[1], (list, tuple))
        and len(py[1]) == 625
    ):
        raise _bad(source, "rng.python is not a Python random state (version 3, 625 words, gauss_next)")
    if not all(_is_int(w) and 0 <= w < 2**32 for w in py[1]) or py[1][-1] > 624:
        raise _bad(source, "rng.python holds words outside 0..2**32-1 or an index above 624")
    if not (py[2] is None or isinstance(py[2], float)):
        raise _bad(source, f"rng.python gauss_next={brief(py[2])}, expected a float or None")
    n = rng["numpy"]
    if not isinstance(n, dict) or not {"keys", "pos", "has_gauss", "cached"} <= set(n):
        raise _bad(source, "rng.numpy is not a NumPy MT19937 state (keys, pos, has_gauss, cached)")
    keys = _tensor(source, "rng.numpy.keys", n["keys"], torch.int64, (624,))
    if keys.numel() and (int(keys.min()) < 0 or int(keys.max()) >= 2**32):
        raise _bad(source, "rng.numpy.keys hold values outside 0..2**32-1")
    _int_in(source, "rng.numpy.pos", n["pos"], 0, 624)
    _int_in(source, "rng.numpy.has_gauss", n["has_gauss"], 0, 1)
    if not _is_num(n["cached"]):
        raise _bad(source, f"rng.numpy.cached={brief(n['cached'])}, expected a number")
    reference = torch.get_rng_state()
    _tensor(source, "rng.torch", rng["torch"], reference.dtype, tuple(reference.shape))
    if "generator" in rng:
        gen = torch.Generator().get_state()
        _tensor(source, "rng.generator", rng["generator"], gen.dtype, tuple(gen.shape))
    if "cuda" in rng:
        if not isinstance(rng["cuda"], (list, tuple)) or not all(
            isinstance(t, torch.Tensor) and t.dtype == torch.uint8 and t.ndim == 1 for t in rng["cuda"]
        ):
            raise _bad(source, "rng.cuda is not a list of CUDA generator states (uint8 tensors)")


# optimizer settings torch reads as flags, and those it reads as numbers (torch.optim's own names)
_FLAGS = ("amsgrad", "maximize", "capturable", "differentiable", "nesterov", "decoupled_weight_decay", "centered")
_OPTIONAL_FLAGS = ("foreach", "fused")
_NUMBERS = (
    "weight_decay",
    "momentum",
    "dampening",
    "alpha",
    "lr_decay",
    "initial_accumulator_value",
    "eps",
    "initial_lr",
    "max_lr",
    "min_lr",
    "base_momentum",
    "max_momentum",
)
# the settings schedules change while training (one-cycle moves lr, momentum and Adam's betas);
# every other setting must equal the live optimizer's, which the config decides
_SCHEDULED = ("lr", "initial_lr", "max_lr", "min_lr", "momentum", "betas", "base_momentum", "max_momentum")


def _finite(v: Any) -> bool:
    return _is_num(v) and math.isfinite(v)


def _setting_ok(key: str, value: Any) -> bool:
    """Whether ``value`` can be the optimizer setting ``key`` (type and range; not whether it fits this run)."""
    if key == "lr":
        if isinstance(value, torch.Tensor):  # torch allows a tensor learning rate
            return (
                value.numel() == 1
                and value.dtype.is_floating_point
                and bool(torch.isfinite(value).all())
                and float(value) >= 0
            )
        return _finite(value) and value >= 0
    if key == "betas":
        return isinstance(value, (list, tuple)) and len(value) == 2 and all(_finite(b) and 0 <= b < 1 for b in value)
    if key in _FLAGS:
        return isinstance(value, bool)
    if key in _OPTIONAL_FLAGS:
        return value is None or isinstance(value, bool)
    if key in _NUMBERS:
        return _finite(value)
    # settings of other optimizers: plain values only
    return (
        value is None
        or isinstance(value, (bool, str))
        or _finite(value)
        or (isinstance(value, (list, tuple)) and all(_finite(v) for v in value))
    )


def _check_optimizer(source: str, opt: Any) -> None:
    """An optimizer state_dict: ``state`` {int: {str: tensor or number}}, ``param_groups`` [{params, lr, ...}]."""
    if (
        not isinstance(opt, dict)
        or not isinstance(opt.get("state"), dict)
        or not isinstance(opt.get("param_groups"), list)
    ):
        raise _bad(source, "optimizer is not an optimizer state (state and param_groups)")
    seen: set[int] = set()
    for i, group in enumerate(opt["param_groups"]):
        where = f"optimizer.param_groups[{i}]"
        if not isinstance(group, dict):
            raise _bad(source, f"{where} is {type(group).__name__}, expected a mapping")
        params = group.get("params")
        if not isinstance(params, list) or not all(_is_int(p) and p >= 0 for p in params):
            raise _bad(source, f"{where}.params={brief(params)}, expected a list of parameter indices")
        if seen & set(params) or len(set(params)) != len(params):
            raise _bad(source, f"{where} lists a parameter twice")
        seen |= set(params)
        for key, value in group.items():
            if key != "params" and not _setting_ok(key, value):
                raise _bad(source, f"{where}.{key}={brief(value)} is not an optimizer setting")
    for key, value in opt["state"].items():
        if not _is_int(key) or key not in seen:
            raise _bad(source, f"optimizer.state has an entry for parameter {brief(key)}, which no param group lists")
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and _state_value_ok(k, v) for k, v in value.items()
        ):
            raise _bad(source, f"optimizer.state[{key}] is not a mapping of names to tensors")


def _state_value_ok(name: str, value: Any) -> bool:
    """An optimizer's per-parameter state: float tensors (moments, buffers); ``step`` a count (a 0-d
    tensor in current torch, a number in older checkpoints); SGD's momentum buffer may be None."""
    if name == "step":
        return (isinstance(value, torch.Tensor) and value.numel() == 1) or (
            _is_num(value) and math.isfinite(value) and value >= 0
        )
    if name == "momentum_buffer" and value is None:
        return True
    return isinstance(value, torch.Tensor) and value.dtype.is_floating_point


def check_optimizer_state(saved: dict[str, Any], optimizer: torch.optim.Optimizer, source: str = "checkpoint") -> None:
    """Saved optimizer state fits the live ``optimizer``: the same groups with the same settings and
    types, and every state tensor (Adam's moments, momentum buffers) shaped like its parameter.

    ``torch.optim.Optimizer.load_state_dict`` checks only group sizes; a moment of another shape or a
    setting of another type would fail later, mid-step, as a traceback.
    """
    _check_optimizer(source, saved)
    live = optimizer.param_groups
    if len(saved["param_groups"]) != len(live):
        raise _bad(
            source, f"optimizer has {len(saved['param_groups'])} parameter groups, this config's has {len(live)}"
        )
    params: dict[int, torch.Tensor] = {}
    for i, (sg, g) in enumerate(zip(saved["param_groups"], live)):
        where = f"optimizer.param_groups[{i}]"
        if len(sg["params"]) != len(g["params"]):
            raise _bad(source, f"{where} holds {len(sg['params'])} parameters, this model's {len(g['params'])}")
        if set(sg) != set(g):
            raise _bad(source, f"{where} has the settings {sorted(sg)}, this optimizer {sorted(g)}")
        for key, mine in g.items():
            if key == "params":
                continue
            theirs = sg[key]
            if key in _SCHEDULED:  # moved by schedules: only the kind of value must match
                same = isinstance(theirs, (list, tuple)) == isinstance(mine, (list, tuple))
            else:  # decided by the config (eps, weight_decay, amsgrad, fused, ...): must be the same
                same = (
                    type(theirs) is type(mine) and theirs == mine
                    if not isinstance(mine, torch.Tensor)
                    else isinstance(theirs, torch.Tensor)
                )
            if not same:
                raise _bad(source, f"{where}.{key}={brief(theirs)} does not fit this optimizer's {brief(mine)}")
        params.update(zip(sg["params"], g["params"]))
    for index, entry in saved["state"].items():
        p = params[index]
        for name, value in entry.items():
            if isinstance(value, torch.Tensor) and value.ndim > 0 and tuple(value.shape) != tuple(p.shape):
                raise _bad(
                    source,
                    f"optimizer.state[{index}].{name} has shape {tuple(value.shape)}, its parameter {tuple(p.shape)}",
                )


def validate_payload(
    payload: dict[str, Any],
    source: str = "checkpoint",
    *,
    epochs: int | None = None,
    batch_size: int | str | None = None,
    batches: int | None = None,
    train_size: int | None = None,
) -> None:
    """Check the type and range of every field a resume reads; a bad one is a one-line CheckpointError.

    ``epochs`` (the run's train.epochs) bounds ``epoch``; ``batch_size`` (an int or 'full') bounds the
    mid-epoch ``position`` through the saved permutation's length; ``batches`` (the trainer's batches
    per epoch) bounds it exactly and, with ``batch_size``, fixes how many examples ``seen`` must be;
    ``train_size`` (the training split's size, once the data is loaded) must equal the permutation's
    length. Without them the ranges that need them are skipped, the types are still checked.
    Nothing is restored here.
    """
    for key in ("config", "model", "optimizer", "schedule", "rng", "epoch", "step", "history"):
        if key not in payload:
            raise CheckpointError(f"{source}: incomplete checkpoint, missing {key}")
    if not isinstance(payload["config"], dict) or not _jsonish(payload["config"]):
        raise _bad(source, "config is not a mapping of config keys to plain values")
    epoch = _int_in(source, "epoch", payload["epoch"], 0, epochs)
    _int_in(source, "step", payload["step"], 0)
    history = payload["history"]
    if not isinstance(history, list) or not all(
        isinstance(row, dict) and all(isinstance(k, str) and _is_num(v) for k, v in row.items()) for row in history
    ):
        raise _bad(source, "history is not a list of per-epoch mappings of metric names to numbers")
    if len(history) != epoch:  # one row per finished epoch: metrics.csv is rebuilt from it
        raise _bad(source, f"history has {len(history)} rows for epoch={epoch}")
    model = payload["model"]
    if not isinstance(model, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in model.items()
    ):
        raise _bad(source, "model is not a mapping of parameter names to tensors")
    _check_optimizer(source, payload["optimizer"])
    if not isinstance(payload["schedule"], dict) or not _plain(payload["schedule"]):
        raise _bad(source, "schedule is not a scheduler state (a mapping)")
    _check_rng(source, payload["rng"])
    fit = payload.get("fit_seconds", 0.0)
    if not _is_num(fit) or not math.isfinite(fit) or fit < 0:
        raise _bad(source, f"fit_seconds={brief(fit)}, expected a finite number >= 0")
    if "sampler" in payload and (not isinstance(payload["sampler"], dict) or not _plain(payload["sampler"])):
        raise _bad(source, "sampler is not a sampler state (a mapping)")
    for key in ("info", "callbacks", "preprocess"):
        value = payload.get(key, {})
        if not isinstance(value, dict) or not _plain(value):
            raise _bad(source, f"{key} is not a mapping of plain values")
    if not all(isinstance(v, dict) for v in payload.get("callbacks", {}).values()):
        raise _bad(source, "callbacks is not a mapping of callback names to their states")
    info = payload.get("info", {})
    for key in ("initial_loss", "expected_initial_loss"):
        if info.get(key) is not None and not _is_num(info[key]):
            raise _bad(source, f"info.{key}={brief(info[key])}, expected a number")
    for key, kind in (("interrupted_by", str), ("restored_epoch", int)):
        if info.get(key) is not None and (not isinstance(info[key], kind) or isinstance(info[key], bool)):
            raise _bad(source, f"info.{key}={brief(info[key])}, expected {'text' if kind is str else 'an integer'}")
    if not isinstance(info.get("warnings", []), list) or not all(isinstance(w, str) for w in info.get("warnings", [])):
        raise _bad(source, "info.warnings is not a list of messages")
    if not isinstance(payload.get("data_fingerprint"), (str, type(None))):
        raise _bad(source, "data_fingerprint is not a string")
    in_epoch = payload.get("in_epoch")
    if in_epoch is None:
        return
    if not isinstance(in_epoch, dict) or not {"perm", "position", "loss_sum", "correct", "seen"} <= set(in_epoch):
        raise _bad(source, "in_epoch lacks perm, position, loss_sum, correct or seen")
    if epochs is not None and epoch >= epochs:
        raise _bad(source, f"a mid-epoch position although all {epochs} epochs are done")
    perm = _tensor(source, "in_epoch.perm", in_epoch["perm"], torch.long)
    if perm.ndim != 1:
        raise _bad(source, f"in_epoch.perm has shape {tuple(perm.shape)}, expected one index per example")
    n = perm.numel()
    if train_size is not None and n != train_size:
        raise _bad(source, f"in_epoch.perm orders {n} examples, the training split has {train_size}")
    if n and (int(perm.min()) < 0 or int(perm.max()) >= n):  # an index past the data would fail mid-epoch
        raise _bad(source, f"in_epoch.perm holds indices outside 0..{n - 1}")
    sampler = (
        (payload["config"].get("data") or {}).get("sampler", "uniform")
        if isinstance(payload["config"].get("data"), dict)
        else "uniform"
    )
    drawn = isinstance(sampler, str) and not sampler.strip().startswith(
        "uniform"
    )  # data.sampler draws with replacement
    if not drawn and not torch.equal(torch.sort(perm).values, torch.arange(n)):  # the plain shuffle: every example once
        raise _bad(source, "in_epoch.perm is not a permutation of the training examples")
    bs = None if batch_size is None else max(1, n if batch_size == "full" else int(batch_size))
    most = batches if batches is not None else (max(1, -(-n // bs)) if bs is not None else None)
    position = _int_in(source, "in_epoch.position", in_epoch["position"], 0, most)
    seen = _int_in(source, "in_epoch.seen", in_epoch["seen"], 0, n)
    # a data-parallel run's checkpoint holds rank 0's running sums: of each batch, its strided shard
    world = _int_in(source, "world_size", payload.get("world_size", 1), 1, max(n, 1))
    if batches is not None and bs is not None:
        sizes = [bs] * position
        if position == batches and sizes:  # the last batch holds the rest (a short rest joined the one before)
            sizes[-1] = n - (batches - 1) * bs
        if seen != sum(-(-k // world) for k in sizes):
            raise _bad(
                source,
                f"in_epoch.seen={seen} does not match position={position} batches"
                + (f" on {world} processes" if world > 1 else ""),
            )
    for key, dtype in (("loss_sum", None), ("correct", torch.long), ("l1_sum", None)):
        if key in in_epoch:
            t = _tensor(source, f"in_epoch.{key}", in_epoch[key], dtype, ())
            if not t.dtype.is_floating_point and dtype is None:
                raise _bad(source, f"in_epoch.{key} holds {t.dtype}, expected a float")
