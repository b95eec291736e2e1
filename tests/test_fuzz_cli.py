"""Fuzzing the real CLI entry point: generated config values and inline specs, IDX files, checkpoints, summaries.

Every property drives ``trainlab.cli.main`` (in-process, or a subprocess under a memory and time limit)
and asserts what issue 13 promises for any input, however mistaken or hostile:

- the exit code is one of 0, 1, 2, 3, 130, 143 (never an uncaught exception: in-process, ``main``
  must return; in a subprocess, no ``Traceback`` on stderr);
- an error is one line on stderr;
- no run directory is left claiming ``"status": "running"`` once the command has returned;
- the user's own files (data, config, a run refused for resume) are unchanged.

``make test`` runs a few dozen examples per property (about 22 s); ``make fuzz``
(``HYPOTHESIS_PROFILE=fuzz``) runs ten times as many. docs/safety.md lists the counts.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

import trainlab
from tests.conftest import StopAt
from trainlab.cli import main
from trainlab.config import describe_keys
from trainlab.runs.checkpoint import load_checkpoint, save_checkpoint

EXIT_CODES = {0, 1, 2, 3, 130, 143}
SCALE = 10 if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else 1
SRC = Path(__file__).resolve().parents[1] / "src"

# examples per property in `make test` (x10 in `make fuzz`); docs/safety.md quotes these numbers
N_CONFIG, N_SPECS, N_IDX, N_CHECKPOINT, N_SUMMARY, N_LIMITED = 40, 40, 25, 30, 40, 3


def fuzz(n: int) -> settings:
    """Settings for one property: ``n`` examples (times SCALE), no deadline (a training run takes a while)."""
    # make test: no shrinking (a failure is reported as drawn, at once); make fuzz: shrink to a minimal case
    phases = [Phase.explicit, Phase.reuse, Phase.generate] + ([Phase.shrink] if SCALE > 1 else [])
    return settings(
        max_examples=n * SCALE,
        deadline=None,
        derandomize=SCALE == 1,
        database=None,
        phases=phases,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
        ],
    )


def run_cli(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    """``main(args)`` in-process: its exit code, stderr and stdout; an exception escaping it fails the test."""
    try:
        rc = main(args)
    finally:
        torch.set_num_threads(1)  # a generated threads= must not slow the rest of the suite
    out, err = capsys.readouterr()
    assert rc in EXIT_CODES, (rc, args, err)
    assert "Traceback" not in err, err
    if rc == 2:
        assert err.startswith("error: ") and err.count("\n") == 1, err
    return rc, err, out


def assert_nothing_running(parent: Path) -> None:
    """No run under ``parent`` claims to be training after the command returned."""
    for summary in parent.glob("*/summary.json"):
        status = json.loads(summary.read_text()).get("status")
        assert status != "running", f"{summary} says running after the command ended"


def digest(paths: list[Path]) -> dict[str, str]:
    """sha256 of each file under ``paths`` (recursively), to prove they were not touched."""
    out = {}
    for root in paths:
        for p in sorted([root] if root.is_file() else root.rglob("*")):
            if p.is_file():
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@contextlib.contextmanager
def fresh_dir() -> Iterator[Path]:
    """A fresh directory per example (hypothesis reuses function-scoped fixtures across examples)."""
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


# -- strategies -----------------------------------------------------------------------------------

HOSTILE_TEXT = [
    "nan",
    ".nan",
    "inf",
    "-inf",
    ".inf",
    "true",
    "false",
    "null",
    "~",
    "[]",
    "{}",
    "[1,2]",
    "abc",
    "''",
    "(",
    ")",
    "1e309",
    "-0",
    "0x10",
    "1_000",
    "[[[[1]]]]",
    "&a [*a]",
    "*x",
    "!!python/object:os.system",
    "{a: 1}",
    "é",
    "a,b",
]
numbers = st.one_of(
    st.integers(-3, 70),
    st.integers(-(10**25), 10**25),
    st.sampled_from([0, 1, 2, 2**31, 2**63 - 1, 2**63, 2**64, 10**6]),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
)
value_text = st.one_of(numbers.map(str), st.sampled_from(HOSTILE_TEXT), st.text(max_size=8))


PLAUSIBLE_NUMBERS = st.sampled_from(["0", "0.1", "0.5", "0.9", "1", "2", "3", "0.01", "1e-3"])


def spec_strategy(names: list[str], params: list[str]) -> st.SearchStrategy[str]:
    """``name``, ``name(v)`` or ``name(k=v, ...)``: registered names with plausible parameters about
    half the time (so runs really train), made-up names, parameters and hostile values the rest."""
    known = st.sampled_from(names)
    name = known | st.text(alphabet="abcxyz_-", min_size=1, max_size=6)
    key = st.sampled_from(params or ["p"]) | st.sampled_from(["bogus", "_", "x1"])
    kwargs = st.lists(st.tuples(key, value_text), max_size=3).map(lambda kv: ",".join(f"{k}={v}" for k, v in kv))
    positional = st.lists(value_text, max_size=2).map(",".join)
    plausible = st.tuples(
        known, st.lists(st.tuples(st.sampled_from(params or ["p"]), PLAUSIBLE_NUMBERS), max_size=1)
    ).map(lambda t: f"{t[0]}({','.join(f'{k}={v}' for k, v in t[1])})" if t[1] else t[0])
    hostile = st.one_of(name, st.tuples(name, kwargs | positional).map(lambda t: f"{t[0]}({t[1]})"))
    return st.one_of(known, plausible, hostile)


def _registries() -> dict[str, Any]:
    from trainlab.data.augment import AUGMENTATIONS
    from trainlab.data.preprocess import PREPROCESS
    from trainlab.nn.activations import ACTIVATIONS
    from trainlab.nn.init import BIAS_INITS, INITS
    from trainlab.nn.losses import LOSSES
    from trainlab.nn.norms import NORMS
    from trainlab.training.optim import OPTIMIZERS, SCHEDULES

    return {
        "model.act": ACTIVATIONS,
        "model.init": INITS,
        "model.bias_init": BIAS_INITS,
        "model.norm": NORMS,
        "optim.name": OPTIMIZERS,
        "optim.schedule": SCHEDULES,
        "loss.name": LOSSES,
        "data.preprocess": PREPROCESS,
        "data.augment": AUGMENTATIONS,
    }


REGISTRIES = _registries()
TOYS = ["xor", "spirals", "circles", "moons", "blobs", "line", "sine"]
SMALL = st.sampled_from(["-1", "0", "3", "4", "16", "40", "abc", "1e9", str(2**70), "2.5", "nan"])


@st.composite
def toy_data(draw: st.DrawFn) -> str:
    """A generated data set, small enough to train in a blink, or a hostile spec of one."""
    name = draw(st.sampled_from(TOYS) | st.sampled_from(["fashion-mnist(size=3)", "nope", "xor(", "xor(size=16"]))
    if "(" in name:
        return name
    parts = [f"size={draw(SMALL)}"] if draw(st.booleans()) else ["size=24"]
    for key in draw(
        st.lists(
            st.sampled_from(["noise", "seed", "test", "classes", "dims", "outliers", "w", "periods", "bogus"]),
            max_size=2,
            unique=True,
        )
    ):
        parts.append(f"{key}={draw(value_text if key not in ('test', 'classes', 'dims') else SMALL)}")
    return f"{name}({','.join(parts)})"


def spec_override(key: str) -> st.SearchStrategy[str]:
    reg = REGISTRIES[key]
    names = reg.names()
    params = sorted({p for e in reg for p in e.params})
    spec = spec_strategy(names, params)
    if key == "data.augment":
        return st.lists(spec, max_size=2).map(lambda xs: f"{key}=[{','.join(xs)}]")
    return spec.map(lambda s: f"{key}={s}")


KEYS = [
    k
    for k, _, _ in describe_keys()
    if k not in ("output.dir", "data.dir", "data.name", "logging.tensorboard", "output.report")
]
PLAIN_VALUES = st.one_of(
    value_text,
    st.lists(st.integers(-2, 16) | st.sampled_from([10**6, 2**40]), max_size=3).map(
        lambda xs: "[" + ",".join(map(str, xs)) + "]"
    ),
    st.sampled_from(
        ["auto", "cpu", "cuda", "mps", "tpu", "full", "val_loss", "train_loss", "bf16", "fp32", "after", "before"]
    ),
)


def _plausible_values() -> dict[str, st.SearchStrategy[str]]:
    """For each config key a strategy of values its rules allow (small, so runs stay quick)."""
    import dataclasses
    import typing

    from trainlab.config import Config

    out: dict[str, st.SearchStrategy[str]] = {}

    def walk(cls: type, prefix: str) -> None:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            hint, rules, key = hints[f.name], f.metadata, prefix + f.name
            if dataclasses.is_dataclass(hint):
                walk(hint, key + ".")
                continue
            options = typing.get_args(hint) or (hint,)
            low = rules.get("min", 0)
            if rules.get("choices"):
                out[key] = st.sampled_from([str(c) for c in rules["choices"]])
            elif bool in options:
                out[key] = st.sampled_from(["true", "false"])
            elif int in options:
                out[key] = st.integers(int(low), int(min(rules.get("max", low + 3), low + 3))).map(str)
            elif float in options:
                out[key] = st.floats(float(low), float(min(rules.get("max", 1.0), 1.0)), allow_nan=False).map(
                    lambda v: f"{v:.3g}"
                )

    walk(Config, "")
    out.update(
        {
            "model.hidden": st.lists(st.integers(1, 16), min_size=0, max_size=3).map(
                lambda xs: "[" + ",".join(map(str, xs)) + "]"
            ),
            "device": st.sampled_from(["auto", "cpu"]),
            "data.val": st.sampled_from(["0", "0.1", "0.25", "5"]),
            "optim.batch_size": st.sampled_from(["2", "4", "8", "full"]),
            "optim.lr": st.sampled_from(["0.001", "0.01", "0.1"]),
        }
    )
    return {k: v for k, v in out.items() if k in KEYS}


def plausible_override() -> st.SearchStrategy[str]:
    values = _plausible_values()
    return st.sampled_from(sorted(values)).flatmap(lambda key: values[key].map(lambda v: f"{key}={v}"))


def plain_override() -> st.SearchStrategy[str]:
    def keep_small(kv: tuple[str, str]) -> str:
        key, value = kv
        # keep runs short: a few epochs, small widths; hostile values of these keys are still drawn
        if key in ("train.epochs", "diagnostics.every") and value.isdigit() and int(value) > 2:
            value = "2"
        if key == "threads" and value.isdigit() and int(value) > 2:
            value = str(min(int(value), 1025) if int(value) > 1024 else 2)
        return f"{key}={value}"

    return st.tuples(st.sampled_from(KEYS), PLAIN_VALUES).map(keep_small)


def base_args(runs: Path) -> list[str]:
    return [
        "--no-progress",
        "data.name=xor(size=24,test=8)",
        "model.hidden=[4]",
        "train.epochs=1",
        "threads=1",
        f"output.dir={runs}",
        "output.report=false",
        "optim.batch_size=8",
    ]


# -- 1. config values ---------------------------------------------------------------------------------


@fuzz(N_CONFIG)
@given(
    overrides=st.lists(
        st.one_of(
            plausible_override(), plausible_override(), plain_override(), toy_data().map(lambda s: f"data.name={s}")
        ),
        min_size=1,
        max_size=4,
    )
)
def test_fuzz_config_values(capsys: pytest.CaptureFixture, overrides: list[str]) -> None:
    with fresh_dir() as tmp:
        _check_config_values(tmp, capsys, overrides)


def _check_config_values(scratch: Path, capsys: pytest.CaptureFixture, overrides: list[str]) -> None:
    runs = scratch / "runs"
    run_cli(["train", *base_args(runs), *overrides], capsys)
    assert_nothing_running(runs)


# -- 2. inline specs ----------------------------------------------------------------------------------


@fuzz(N_SPECS)
@given(
    overrides=st.lists(st.sampled_from(sorted(REGISTRIES)).flatmap(spec_override), min_size=1, max_size=3),
    command=st.sampled_from(["train", "train", "summary"]),
)
def test_fuzz_inline_specs(capsys: pytest.CaptureFixture, overrides: list[str], command: str) -> None:
    with fresh_dir() as tmp:
        _check_inline_specs(tmp, capsys, overrides, command)


def _check_inline_specs(scratch: Path, capsys: pytest.CaptureFixture, overrides: list[str], command: str) -> None:
    runs = scratch / "runs"
    args = base_args(runs) if command == "train" else [a for a in base_args(runs) if not a.startswith("--")]
    run_cli([command, *args, *overrides], capsys)
    assert_nothing_running(runs)


# -- 3. IDX files ---------------------------------------------------------------------------------------

DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@st.composite
def idx_file(draw: st.DrawFn, labels: bool) -> bytes:
    """An IDX file: usually a plausible one (images (n, h, w) or labels (n,)), then perhaps damaged."""
    code = draw(st.sampled_from([0x08, 0x08, 0x08, 0x09, 0x0C, 0x0D, 0x0E, 0x07]))
    n = draw(st.integers(0, 12))
    shape = (n,) if labels else (n, draw(st.integers(0, 6)), draw(st.integers(0, 6)))
    if draw(st.integers(0, 9)) == 0:  # a hostile header: any number of dimensions and sizes
        shape = tuple(
            draw(
                st.lists(
                    st.integers(0, 2**32 - 1) | st.integers(0, 5),
                    min_size=0,
                    max_size=draw(st.sampled_from([3, 40, 255])),
                )
            )
        )
    dtype = np.dtype(DTYPES.get(code, ">u1"))
    size = int(np.prod(shape, dtype=object)) if shape else 0
    if size <= 4096:
        high = 13 if labels else 256
        data = np.random.default_rng(draw(st.integers(0, 9))).integers(0, high, size).astype(dtype).tobytes()
    else:
        data = b""
    raw = struct.pack(">HBB", 0, code, len(shape) % 256) + b"".join(struct.pack(">I", s) for s in shape[:255]) + data
    cut = draw(st.sampled_from(["none"] * 6 + ["truncate", "append", "flip", "empty"]))
    if cut == "truncate":
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif cut == "append":
        raw += draw(st.binary(min_size=1, max_size=16))
    elif cut == "flip" and raw:
        i = draw(st.integers(0, len(raw) - 1))
        raw = raw[:i] + bytes([raw[i] ^ draw(st.integers(1, 255))]) + raw[i + 1 :]
    elif cut == "empty":
        raw = b""
    if draw(st.booleans()):
        raw = gzip.compress(raw, mtime=0)
        if draw(st.integers(0, 5)) == 0:
            raw = raw[: draw(st.integers(0, len(raw)))]
    return raw


IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@st.composite
def idx_set(draw: st.DrawFn) -> tuple[bytes, ...]:
    """The four files of a small valid data set (consistent counts, labels 0..9), some of them then
    replaced by a generated, usually damaged, file: real training and every kind of refusal."""
    side = draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 9)))
    files = []
    for n in (draw(st.integers(1, 12)), draw(st.integers(1, 6))):
        files += [
            write_bytes(rng.integers(0, 256, (n, side, side)).astype(np.uint8)),
            write_bytes(rng.integers(0, 10, n).astype(np.uint8)),
        ]
    files = [gzip.compress(f, mtime=0) if draw(st.booleans()) else f for f in files]
    for i in draw(
        st.sampled_from([[]] * 2) | st.lists(st.integers(0, 3), max_size=2, unique=True)
    ):  # often none damaged
        files[i] = draw(idx_file(labels=i % 2 == 1))
    return tuple(files)


def write_bytes(array: np.ndarray) -> bytes:
    """IDX bytes of ``array`` (uint8)."""
    return struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


ALL_FOUR = [True] * 4


@fuzz(N_IDX)
@given(files=idx_set(), present=st.sampled_from([ALL_FOUR] * 3) | st.lists(st.booleans(), min_size=4, max_size=4))
def test_fuzz_idx_files(capsys: pytest.CaptureFixture, files: tuple[bytes, ...], present: list[bool]) -> None:
    with fresh_dir() as tmp:
        _check_idx_files(tmp, capsys, files, present)


def _check_idx_files(
    scratch: Path, capsys: pytest.CaptureFixture, files: tuple[bytes, ...], present: list[bool]
) -> None:
    data = scratch / "data"
    data.mkdir()
    for name, raw, here in zip(IDX_NAMES, files, present):
        if here or sum(present) < 2:
            (data / (name + ".gz" if raw[:2] == b"\x1f\x8b" else name)).write_bytes(raw)
    before = digest([data])
    runs = scratch / "runs"
    run_cli(
        [
            "train",
            "--no-progress",
            "data.name=mnist",
            f"data.dir={data}",
            "data.val=0",
            "model.hidden=[4]",
            "train.epochs=1",
            "threads=1",
            f"output.dir={runs}",
            "output.report=false",
            "optim.batch_size=4",
        ],
        capsys,
    )
    assert digest([data]) == before
    assert_nothing_running(runs)


# -- 4. checkpoints ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run stopped mid-epoch (xor, 2 epochs of 6 batches, stopped after step 4)."""
    cfg = {
        "data": {"name": "xor(size=60,test=20)"},
        "model": {"hidden": [4]},
        "optim": {"batch_size": 9},
        "train": {"epochs": 2, "patience": 2},
        "threads": 1,
        "output": {"dir": str(tmp_path_factory.mktemp("runs")), "report": False},
    }
    run = trainlab.train(cfg, callbacks=[StopAt(4)], handle_signals=False)
    assert run.summary["status"] == "interrupted"
    return run.path


def _paths(obj: Any, prefix: tuple = (), depth: int = 0) -> list[tuple]:
    """Every key path into a checkpoint payload (dicts, lists and tuples), for choosing what to damage."""
    out = [prefix] if prefix else []
    if depth > 4:
        return out
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k), depth + 1)
    elif isinstance(obj, (list, tuple)) and len(obj) <= 8:
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i), depth + 1)
    return out


tensors = st.builds(
    lambda shape, dtype: torch.zeros(shape, dtype=dtype),
    st.lists(st.integers(0, 4), max_size=2).map(tuple) | st.sampled_from([(624,), (5056,), ()]),
    st.sampled_from([torch.float32, torch.int64, torch.uint8, torch.bool]),
)
payload_values = st.recursive(
    st.none() | st.booleans() | numbers | st.text(max_size=6) | tensors,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=5) | st.integers(0, 3), inner, max_size=3)
        | st.lists(inner, max_size=3).map(tuple)
    ),
    max_leaves=6,
)


def _set_path(obj: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    key, rest = path[0], path[1:]
    if isinstance(obj, tuple):
        items = list(obj)
        items[key] = _set_path(items[key], rest, value)
        return tuple(items)
    obj[key] = _set_path(obj[key], rest, value)
    return obj


@fuzz(N_CHECKPOINT)
@given(data=st.data())
def test_fuzz_checkpoint_fields(stopped_run: Path, capsys: pytest.CaptureFixture, data: st.DataObject) -> None:
    with fresh_dir() as tmp:
        _check_checkpoint_fields(tmp, stopped_run, capsys, data)


def _check_checkpoint_fields(
    scratch: Path, stopped_run: Path, capsys: pytest.CaptureFixture, data: st.DataObject
) -> None:
    run = scratch / stopped_run.name
    shutil.copytree(stopped_run, run)
    payload = load_checkpoint(run / "checkpoint.pt")
    payload.pop("format")
    for _ in range(data.draw(st.integers(1, 3))):
        paths = _paths(payload)
        path = data.draw(st.sampled_from(paths))
        payload = _set_path(payload, path, data.draw(payload_values))
    try:
        save_checkpoint(run / "checkpoint.pt", payload)
    except Exception:  # torch cannot even store it (e.g. a dict key it refuses): not a checkpoint anyone can write
        assume(False)
    before = digest([run])
    rc, err, _ = run_cli(["train", "--resume", str(run), "--no-progress"], capsys)
    if rc == 2:  # refused: the run directory is exactly as the user left it
        assert digest([run]) == before, err
    assert_nothing_running(run.parent)


# -- 5. summary.json ---------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
SUMMARY_KEYS = [
    "status",
    "fit_seconds",
    "test_accuracy",
    "epochs",
    "per_class_accuracy",
    "confusion_matrix",
    "warnings",
    "header",
    "data",
    "error",
    "steps",
]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = {
        "data": {"name": "xor(size=24,test=8)"},
        "model": {"hidden": [4]},
        "train": {"epochs": 1},
        "threads": 1,
        "output": {"dir": str(tmp_path_factory.mktemp("runs")), "report": False},
    }
    return trainlab.train(cfg, handle_signals=False).path


@fuzz(N_SUMMARY)
@given(data=st.data())
def test_fuzz_summary_json(finished_run: Path, capsys: pytest.CaptureFixture, data: st.DataObject) -> None:
    with fresh_dir() as tmp:
        _check_summary_json(tmp, finished_run, capsys, data)


def _check_summary_json(scratch: Path, finished_run: Path, capsys: pytest.CaptureFixture, data: st.DataObject) -> None:
    good, bad = scratch / "runs" / "20260101-000000-good", scratch / "runs" / "20260101-000001-bad"
    shutil.copytree(finished_run, good)
    shutil.copytree(finished_run, bad)
    kind = data.draw(st.sampled_from(["field", "field", "whole", "text"]))
    if kind == "whole":
        text = json.dumps(data.draw(json_values))
    elif kind == "text":
        text = data.draw(
            st.sampled_from(
                ["[" * 50_000, '{"steps": ' + "1" * 5000 + "}", "", "\x00\xff", '{"a": NaN}', "{" * 200 + "}" * 200]
            )
        )
    else:
        summary = json.loads((bad / "summary.json").read_text())
        summary[data.draw(st.sampled_from(SUMMARY_KEYS))] = data.draw(json_values)
        text = json.dumps(summary)
    (bad / "summary.json").write_text(text)
    rc, _, _ = run_cli(["show", str(bad)], capsys)
    assert rc in (0, 2)
    rc, _, out = run_cli(["runs", str(scratch / "runs")], capsys)
    assert rc == 0 and "20260101-000000-good  xor" in out  # one bad run never hides the others


# -- 6. under a memory and time limit (subprocess) ----------------------------------------------------

LIMIT_BYTES = 2 << 30  # address space: torch's import alone maps about 650 MB


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_BYTES, LIMIT_BYTES))


def run_limited(args: list[str], cwd: Path) -> tuple[int, str]:
    """``python -m trainlab ARGS`` with 2 GB of address space and 120 s: exit code and stderr."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "TRAINLAB_DECODED_CACHE": "0"}
    try:
        out = subprocess.run(
            [sys.executable, "-m", "trainlab", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            preexec_fn=_limit,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"trainlab {' '.join(args)} ran past 120 s")
    assert out.returncode in EXIT_CODES, (out.returncode, out.stderr[-2000:])
    assert "Traceback" not in out.stderr and "MemoryError" not in out.stderr, out.stderr[-2000:]
    return out.returncode, out.stderr


@st.composite
def hostile_size(draw: st.DrawFn) -> tuple[str, list[str]]:
    """Inputs that ask for much memory: a gzip IDX file that inflates far past its header, or a huge model."""
    kind = draw(st.sampled_from(["bomb", "declared", "model"]))
    if kind == "model":
        widths = draw(st.lists(st.sampled_from([4, 10**4, 10**5, 3 * 10**5, 10**6]), min_size=1, max_size=3))
        return kind, [f"model.hidden=[{','.join(map(str, widths))}]"]
    return kind, [str(draw(st.integers(1, 20))), str(draw(st.sampled_from([2**10, 2**20, 2**31, 2**32 - 1])))]


@fuzz(N_LIMITED)
@given(case=hostile_size())
def test_fuzz_memory_limited(case: tuple[str, list[str]]) -> None:
    with fresh_dir() as tmp:
        _check_memory_limited(tmp, case)


def _check_memory_limited(scratch: Path, case: tuple[str, list[str]]) -> None:
    kind, params = case
    data = scratch / "data"
    from tests.conftest import make_idx_dataset

    make_idx_dataset(data, n_train=40, n_test=10)
    args = [
        "train",
        "--no-progress",
        "data.name=mnist",
        f"data.dir={data}",
        "train.epochs=1",
        "threads=1",
        f"output.dir={scratch / 'runs'}",
        "output.report=false",
    ]
    if kind == "model":
        args += params
    else:
        import zlib

        n, declared = int(params[0]), int(params[1])
        comp = zlib.compressobj(9, zlib.DEFLATED, 31)
        with (data / "train-images-idx3-ubyte.gz").open("wb") as fh:
            fh.write(comp.compress(struct.pack(">HBBIII", 0, 8, 3, n if kind == "bomb" else declared, 28, 28)))
            for _ in range(256 if kind == "bomb" else 1):  # 256 MB of zeros in ~250 KB
                fh.write(comp.compress(bytes(1 << 20)))
            fh.write(comp.flush())
    run_limited(args, scratch)
    assert_nothing_running(scratch / "runs")
