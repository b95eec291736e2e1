"""Hostile data files: every corruption reaches the user as one line naming the file, never a traceback."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import make_idx_dataset
from trainlab.build import setup
from trainlab.cli import main
from trainlab.config import load_config
from trainlab.data.idx import parse_idx, read_idx, read_image_label_pair, write_idx
from trainlab.errors import DataError

TRAIN_IMAGES, TRAIN_LABELS = "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"


def load(data_dir: Path) -> None:
    """Load the tiny set the way `trainlab train data.name=mnist data.dir=DIR` does."""
    setup(load_config(None, ["data.name=mnist", f"data.dir={data_dir}", "model.hidden=[4]", "threads=1"]))


def _damage(path: Path, how: str) -> None:
    raw = gzip.decompress(path.read_bytes())
    if how == "truncated data":
        path.write_bytes(gzip.compress(raw[:-7]))
    elif how == "truncated gzip":
        path.write_bytes(path.read_bytes()[:-12])
    elif how == "wrong magic":
        path.write_bytes(gzip.compress(b"\x01\x02" + raw[2:]))
    elif how == "trailing bytes":
        path.write_bytes(gzip.compress(raw + b"\x00" * 5))
    elif how == "html error page":
        path.write_bytes(b"<html><body>404 Not Found</body></html>")


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("truncated data", "truncated: header says shape (270, 28, 28)"),
        ("truncated gzip", "corrupt or truncated gzip file"),
        ("wrong magic", "wrong magic number 0x0102"),
        ("trailing bytes", "has trailing bytes"),
        ("html error page", "wrong magic number 0x3c68746d"),
    ],
)
def test_damaged_images_file(tmp_path: Path, how: str, message: str) -> None:
    d = make_idx_dataset(tmp_path / "d", n_train=270, n_test=20)
    _damage(d / TRAIN_IMAGES, how)
    with pytest.raises(DataError) as info:
        load(d)
    assert str(d / TRAIN_IMAGES) in str(info.value) and message in str(info.value)


def test_mislabeled_files(tmp_path: Path) -> None:
    d = make_idx_dataset(tmp_path / "d", n_train=50, n_test=20)
    labels = d / TRAIN_LABELS
    write_idx(labels, np.arange(50, dtype=np.uint8) % 12)  # labels 10 and 11 for a 10-class set
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte.gz: labels must be 0..9, found 0..11"):
        load(d)
    write_idx(labels, np.zeros(49, np.uint8))  # one label short
    with pytest.raises(DataError, match=r"has 50 images but .* has 49 labels"):
        load(d)
    write_idx(labels, np.zeros(50, np.float32) + 0.5)  # labels that are not class indices
    with pytest.raises(DataError, match=r"labels must be integers, the file holds float32 values"):
        load(d)
    (d / TRAIN_IMAGES).rename(d / "tmp.gz")  # images and labels swapped
    labels.rename(d / TRAIN_IMAGES)
    (d / "tmp.gz").rename(labels)
    with pytest.raises(DataError, match=r"expected images of shape \(N, rows, cols\)"):
        load(d)


def test_train_and_test_image_sizes_differ(tmp_path: Path) -> None:
    d = make_idx_dataset(tmp_path / "d", n_train=50, n_test=20)
    write_idx(d / "t10k-images-idx3-ubyte.gz", np.zeros((20, 8, 8), np.uint8))
    with pytest.raises(DataError, match=r"train images are \(28, 28\) but test images are \(8, 8\)"):
        load(d)


def test_nan_and_inf_in_inputs_are_counted(tmp_path: Path) -> None:
    d = make_idx_dataset(tmp_path / "d", n_train=50, n_test=20)
    x = np.zeros((50, 28, 28), np.float32)
    x[3, 0, 0] = x[3, 0, 1] = np.nan
    x[7, 5, 5] = np.inf
    write_idx(d / TRAIN_IMAGES, x)
    with pytest.raises(DataError, match=r"^mnist: train inputs contain 2 NaN and 1 Inf values \(in 2 of 45 examples\)"):
        load(d)


def test_cli_prints_one_line_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    d = make_idx_dataset(tmp_path / "d", n_train=50, n_test=20)
    _damage(d / TRAIN_IMAGES, "truncated gzip")
    assert main(["train", "data.name=mnist", f"data.dir={d}", f"output.dir={tmp_path / 'runs'}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "runs").exists()  # nothing is created for a run that cannot start


# -- property-based: any bytes give an array or a DataError, nothing else ----------------------------


def _valid_header(draw: st.DrawFn) -> bytes:
    code = draw(st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x07, 0xFF]))
    ndim = draw(st.integers(0, 5))
    shape = draw(st.lists(st.integers(0, 2**32 - 1) | st.integers(0, 6), min_size=ndim, max_size=ndim))
    zero = draw(st.sampled_from([0, 0, 0, 1, 0x1F8B]))
    return struct.pack(">HBB", zero, code, ndim) + struct.pack(f">{ndim}I", *shape)


@st.composite
def idx_like(draw: st.DrawFn) -> bytes:
    """Bytes that are often almost IDX: a plausible or hostile header, then some data."""
    return _valid_header(draw) + draw(st.binary(max_size=300))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=64), idx_like()))
def test_parse_idx_any_bytes(raw: bytes) -> None:
    try:
        arr = parse_idx(raw, "x")
    except DataError as exc:
        assert str(exc).startswith("x: ")
        return
    assert isinstance(arr, np.ndarray) and arr.ndim >= 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    images=st.one_of(st.binary(max_size=40), idx_like()),
    labels=st.one_of(st.binary(max_size=40), idx_like()),
    gz=st.booleans(),
)
def test_read_pair_any_files(tmp_path: Path, images: bytes, labels: bytes, gz: bool) -> None:
    (tmp_path / "i").write_bytes(gzip.compress(images) if gz else images)
    (tmp_path / "l").write_bytes(labels)
    try:
        x, y = read_image_label_pair(tmp_path / "i", tmp_path / "l")
    except DataError:
        return
    assert x.ndim == 3 and y.ndim == 1 and len(x) == len(y) and y.dtype.kind in "iu"


# -- issue 13: empty data, absurd headers, gzip bombs ----------------------------------------------


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (np.zeros((0, 28, 28), np.uint8), r"holds 0 images"),
        (np.zeros((50, 28, 0), np.uint8), r"images of 28x0 pixels hold no data"),
    ],
)
def test_empty_images_are_refused_naming_the_data_set(tmp_path: Path, images: np.ndarray, message: str) -> None:
    d = make_idx_dataset(tmp_path / "d", n_train=50, n_test=20)
    write_idx(d / TRAIN_IMAGES, images)
    with pytest.raises(DataError, match=rf"^mnist: .*{TRAIN_IMAGES}: {message}"):
        load(d)


def test_a_header_declaring_255_dimensions(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    d = make_idx_dataset(tmp_path / "d", n_train=50, n_test=20)
    (d / TRAIN_IMAGES).write_bytes(gzip.compress(struct.pack(">HBB", 0, 8, 255) + struct.pack(">255I", *[1] * 255)))
    assert main(["train", "data.name=mnist", f"data.dir={d}", f"output.dir={tmp_path / 'runs'}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: mnist: ") and "declares 255 dimensions; at most 32" in err and err.count("\n") == 1


def _bomb(path: Path, declared: tuple[int, ...], inflated: int) -> None:
    """A gzip IDX file whose header declares ``declared`` but whose stream inflates to ``inflated`` bytes."""
    import zlib

    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    with path.open("wb") as fh:
        fh.write(comp.compress(struct.pack(">HBB", 0, 8, len(declared)) + struct.pack(f">{len(declared)}I", *declared)))
        zeros = bytes(1 << 20)
        for _ in range(inflated >> 20):
            fh.write(comp.compress(zeros))
        fh.write(comp.flush())


PEAK = """
import resource, sys
from trainlab.data.idx import read_idx
from trainlab.errors import DataError
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    read_idx(sys.argv[1])
    print("read")
except DataError as exc:
    print(str(exc))
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
"""


def test_gzip_bomb_costs_the_declared_array_not_the_inflated_stream(tmp_path: Path) -> None:
    """A 300 KB file inflating to 300 MB, header declaring 10 images: refused after reading ~8 KB.

    Before issue 13 the reader inflated the whole stream first (peak memory = the inflated size).
    """
    import subprocess
    import sys

    path = tmp_path / "bomb.gz"
    _bomb(path, (10, 28, 28), 300 << 20)
    assert path.stat().st_size < 400_000
    out = subprocess.run(
        [sys.executable, "-c", PEAK, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")},
    )
    message, grew = out.stdout.strip().splitlines()
    assert "has trailing bytes" in message and "more than" in message
    assert int(grew) < 64 << 20, f"peak memory grew by {int(grew) >> 20} MB"


def test_header_declaring_more_than_the_gzip_can_hold_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "liar.gz"
    _bomb(path, (2**31, 28, 28), 0)  # declares 1.7 TB in a file of a few dozen bytes
    with pytest.raises(
        DataError,
        match=r"truncated: header says shape \(2147483648, 28, 28\) \(1683627180032 data bytes\), file has 0$",
    ):
        read_idx(path)
