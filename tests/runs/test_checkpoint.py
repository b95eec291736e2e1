"""Checkpoints: atomic under SIGKILL, every kind of bad file named in one line, disk full and read-only survived."""

from __future__ import annotations

import errno
import io
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import trainlab
from trainlab.atomic import atomic_write
from trainlab.build import setup
from trainlab.cli import main
from trainlab.errors import CheckpointError
from trainlab.runs.checkpoint import FORMAT, load_checkpoint, save_checkpoint
from trainlab.training.loop import Trainer
from trainlab.training.state import restore_trainer, trainer_state

SRC = Path(__file__).resolve().parents[2] / "src" / "trainlab"


def payload(i: int, size: int = 200_000) -> dict:
    """A checkpoint-like payload whose content identifies write number ``i``."""
    return {"step": i, "model": {"w": torch.full((size,), float(i))}, "history": [{"epoch": i}]}


def test_writer_killed_at_random_moments_always_leaves_a_loadable_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, payload(0))
    rng = random.Random()
    last = 0
    for _ in range(8):
        pid = os.fork()
        if pid == 0:  # child: overwrite the checkpoint as fast as it can until killed
            try:
                i = last
                while True:
                    i += 1
                    save_checkpoint(path, payload(i))
            finally:
                os._exit(1)
        time.sleep(rng.uniform(0.0, 0.05))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        data = load_checkpoint(path)  # the previous or the new file, never a mix
        assert data["format"] == FORMAT and data["step"] >= last
        assert torch.equal(data["model"]["w"], torch.full((200_000,), float(data["step"])))
        last = data["step"]


def _torch_bytes(obj: object) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


class Evil:
    """A pickle that would run code when loaded without weights_only."""

    def __reduce__(self) -> tuple:
        return (os.system, ("echo pwned",))


def _bitflip(raw: bytes) -> bytes:
    b = bytearray(raw)
    b[len(b) // 2] ^= 0xFF
    return bytes(b)


CORRUPTIONS = {
    "empty": (lambda raw: b"", "empty file (0 bytes), not a checkpoint"),
    "truncated": (lambda raw: raw[: len(raw) // 2], "truncated or damaged"),
    "last byte cut": (lambda raw: raw[:-1], "truncated or damaged"),
    "bit flip": (_bitflip, "damaged (checksum mismatch in"),
    "text file": (lambda raw: b"epochs: 10\n", "not a checkpoint (it does not start like a PyTorch file"),
    "plain pickle": (
        lambda raw: __import__("pickle").dumps({"format": FORMAT}),
        "not a checkpoint (it does not start like a PyTorch file",
    ),
    "code-running pickle": (
        lambda raw: _torch_bytes({"format": FORMAT, "x": Evil()}),
        "refused: it holds Python objects other than tensors",
    ),
    "other torch file": (lambda raw: _torch_bytes({"w": torch.zeros(3)}), "not a trainlab checkpoint (format None"),
    "a bare tensor": (lambda raw: _torch_bytes(torch.zeros(3)), "not a trainlab checkpoint (format 'Tensor'"),
}


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_bad_checkpoint_files_give_one_line_errors_naming_file_and_problem(tmp_path: Path, kind: str) -> None:
    good = tmp_path / "good.pt"
    save_checkpoint(good, payload(1, size=5000))
    corrupt, expected = CORRUPTIONS[kind]
    bad = tmp_path / "checkpoint.pt"
    bad.write_bytes(corrupt(good.read_bytes()))
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(bad)
    msg = str(info.value)
    assert msg.startswith(f"{bad}: ") and expected in msg and "\n" not in msg, msg


def test_missing_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nope.pt")


def test_every_torch_load_in_the_code_is_weights_only() -> None:
    calls = [(p, m.group(0)) for p in SRC.rglob("*.py") for m in re.finditer(r"torch\.load\([^)]*\)", p.read_text())]
    assert calls, "expected at least the checkpoint loader"
    for path, call in calls:
        assert "weights_only=True" in call, f"{path}: {call}"
    assert not [p for p in SRC.rglob("*.py") if re.search(r"^\s*import pickle|pickle\.loads?\(", p.read_text(), re.M)]


def test_disk_full_mid_write_keeps_previous_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, payload(1))
    real_save = torch.save

    def save_until_full(obj: object, fh: io.BufferedWriter) -> None:
        buf = io.BytesIO()
        real_save(obj, buf)
        fh.write(buf.getvalue()[:1000])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", save_until_full)
    with pytest.raises(
        CheckpointError, match=r"cannot write .*checkpoint.pt: No space left on device \(the previous file is kept\)"
    ):
        save_checkpoint(path, payload(2))
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]  # no temp file left behind


def test_directory_not_writable_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*a: object, **k: object) -> None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(CheckpointError, match=f"cannot write in {re.escape(str(tmp_path))}: Permission denied"):
        atomic_write(tmp_path / "checkpoint.pt", lambda fh: fh.write(b"x"))


def _make_read_only(d: Path) -> Callable[[], None] | None:
    """Make ``d`` refuse new files for real (chmod; as root, whom modes do not stop, chattr +i); returns the undo."""
    if os.geteuid() != 0:
        d.chmod(0o500)
        return lambda: d.chmod(0o700)
    if shutil.which("chattr") and subprocess.run(["chattr", "+i", str(d)], capture_output=True).returncode == 0:
        return lambda: subprocess.run(["chattr", "-i", str(d)], check=True)
    return None


def test_read_only_directory_for_real(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    path = run_dir / "checkpoint.pt"
    save_checkpoint(path, payload(1))
    undo = _make_read_only(run_dir)
    if undo is None:
        pytest.skip("cannot make a directory read-only here")
    try:
        with pytest.raises(
            CheckpointError,
            match=f"cannot write in {re.escape(str(run_dir))}: (Permission denied|Operation not permitted)",
        ):
            save_checkpoint(path, payload(2))
    finally:
        undo()
    assert load_checkpoint(path)["step"] == 1 and [p.name for p in run_dir.iterdir()] == ["checkpoint.pt"]


def test_disk_full_during_training_cli_says_so_and_resume_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    runs = tmp_path / "runs"
    args = [
        "train",
        "data.name=xor",
        "model.hidden=[8]",
        "train.epochs=3",
        "optim.batch_size=50",
        "threads=1",
        f"output.dir={runs}",
        "output.report=false",
        "--no-progress",
    ]
    real_save = torch.save
    calls = {"n": 0}

    def full_on_second(obj: object, fh: object) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_save(obj, fh)

    monkeypatch.setattr(torch, "save", full_on_second)
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    (run_dir,) = runs.iterdir()
    assert (
        err == f"error: cannot write {run_dir / 'checkpoint.pt'}: No space left on device (the previous file is kept)"
    )
    assert load_checkpoint(run_dir / "checkpoint.pt")["epoch"] == 1
    assert trainlab.load_run(run_dir).summary["status"] == "failed"
    monkeypatch.undo()
    assert main(["train", "--resume", str(run_dir), "--no-progress"]) == 0
    assert trainlab.load_run(run_dir).summary["epochs"] == 3


def test_weights_of_another_shape_are_a_checkpoint_error(tmp_path: Path) -> None:
    cfg = trainlab.load_config(None, ["data.name=xor", "model.hidden=[8]", "threads=1"])
    small = setup(cfg)
    big = setup(cfg.replace(**{"model.hidden": [12]}))
    t_small = Trainer(small.model, small.data, small.loss, small.optimizer, 1, 32)
    t_big = Trainer(big.model, big.data, big.loss, big.optimizer, 1, 32)
    state = trainer_state(t_small, cfg.to_dict())
    with pytest.raises(
        CheckpointError, match=r"^ckpt.pt: its weights do not fit the model of this config \(size mismatch"
    ):
        restore_trainer(t_big, state, "ckpt.pt")


def test_two_runs_in_the_same_second_get_distinct_directories(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from trainlab.runs.rundir import create_run_dir

    with ThreadPoolExecutor(8) as pool:
        dirs = list(pool.map(lambda _: create_run_dir(tmp_path, "same"), range(8)))
    assert len(set(dirs)) == 8 and all(d.is_dir() for d in dirs)
    stems = {re.sub(r"-\d$", "", d.name) for d in dirs}
    assert len({s[:15] for s in stems}) <= 2  # one or two seconds' stamps, suffixed -2, -3, ...
    a = trainlab.train(
        {
            "data": {"name": "xor"},
            "model": {"hidden": [4]},
            "train": {"epochs": 1},
            "output": {"dir": str(tmp_path / "r"), "name": "x", "report": False},
            "threads": 1,
        }
    )
    b = trainlab.train(
        {
            "data": {"name": "xor"},
            "model": {"hidden": [4]},
            "train": {"epochs": 1},
            "output": {"dir": str(tmp_path / "r"), "name": "x", "report": False},
            "threads": 1,
        }
    )
    assert a.path != b.path and (a.path / "summary.json").is_file() and (b.path / "summary.json").is_file()


def test_run_parent_not_creatable_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    from trainlab.runs.rundir import create_run_dir

    with pytest.raises(CheckpointError, match="cannot create run directory parent .*file/runs"):
        create_run_dir(blocker / "runs", "x")


def test_files_get_the_usual_mode_not_owner_only(tmp_path: Path) -> None:
    mask = os.umask(0)
    os.umask(mask)
    save_checkpoint(tmp_path / "checkpoint.pt", payload(1, size=10))
    assert (tmp_path / "checkpoint.pt").stat().st_mode & 0o777 == 0o666 & ~mask


_GOOD_BYTES: list[bytes] = []


def _good_bytes() -> bytes:
    if not _GOOD_BYTES:
        buf = io.BytesIO()
        torch.save({"format": FORMAT, "step": 1, "model": {"w": torch.arange(64.0)}}, buf)
        _GOOD_BYTES.append(buf.getvalue())
    return _GOOD_BYTES[0]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_damage_to_a_checkpoint_gives_a_checkpoint_error_or_the_checkpoint(
    tmp_path: Path, data: st.DataObject
) -> None:
    raw = bytearray(_good_bytes())
    how = data.draw(st.sampled_from(["flip", "cut", "splice", "random"]))
    if how == "flip":
        for pos in data.draw(st.lists(st.integers(0, len(raw) - 1), min_size=1, max_size=4)):
            raw[pos] ^= data.draw(st.integers(1, 255))
    elif how == "cut":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif how == "splice":
        pos = data.draw(st.integers(0, len(raw)))
        raw[pos:pos] = data.draw(st.binary(min_size=1, max_size=16))
    else:
        raw = bytearray(data.draw(st.binary(max_size=200)))
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(bytes(raw))
    try:
        loaded = load_checkpoint(path)
    except CheckpointError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)
        return
    assert loaded["format"] == FORMAT
