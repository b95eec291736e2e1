"""IDX reading and writing: round trips and each corruption, and where data sets are found."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from trainlab.data.idx import read_idx, read_image_label_pair, write_idx
from trainlab.data.locate import find_idx_files
from trainlab.errors import DataError


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_round_trip(tmp_path: Path, dtype: type, name: str) -> None:
    arr = (np.arange(2 * 3 * 4) - 5).astype(dtype).reshape(2, 3, 4)
    write_idx(tmp_path / name, arr)
    back = read_idx(tmp_path / name)
    assert back.dtype == np.dtype(dtype) and back.shape == (2, 3, 4)
    np.testing.assert_array_equal(back, arr)
    assert back.flags.writeable


def test_gzip_detected_by_content_not_name(tmp_path: Path) -> None:
    arr = np.arange(10, dtype=np.uint8)
    write_idx(tmp_path / "labels", arr, compress=True)
    np.testing.assert_array_equal(read_idx(tmp_path / "labels"), arr)


def _write(tmp_path: Path, data: bytes, name: str = "f.idx") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_corruptions_are_named(tmp_path: Path) -> None:
    write_idx(tmp_path / "ok", np.zeros((4, 2, 2), np.uint8))
    good = (tmp_path / "ok").read_bytes()
    cases = {
        "wrong magic": (b"\x08\x03" + good[2:], "wrong magic number"),
        "bad type": (b"\x00\x00\x07\x03" + good[4:], "wrong magic number"),
        "truncated": (good[:-3], "truncated: header says shape (4, 2, 2)"),
        "trailing": (good + b"xx", "has trailing bytes"),
        "short header": (good[:9], "truncated header"),
        "tiny": (b"\x00", "too short"),
        "zero dims": (b"\x00\x00\x08\x00", "0 dimensions"),
        "truncated gzip": (gzip.compress(good)[:-10], "corrupt or truncated gzip"),
    }
    for label, (data, message) in cases.items():
        p = _write(tmp_path, data, label.replace(" ", "_"))
        with pytest.raises(DataError) as err:
            read_idx(p)
        assert message in str(err.value), label
        assert str(p) in str(err.value)
    with pytest.raises(DataError, match="file not found"):
        read_idx(tmp_path / "nope")


def test_image_label_count_mismatch(tmp_path: Path) -> None:
    write_idx(tmp_path / "img", np.zeros((5, 2, 2), np.uint8))
    write_idx(tmp_path / "lab", np.zeros(4, np.uint8))
    with pytest.raises(DataError, match="has 5 images but .* has 4 labels"):
        read_image_label_pair(tmp_path / "img", tmp_path / "lab")
    with pytest.raises(DataError, match="expected labels of shape"):
        read_image_label_pair(tmp_path / "img", tmp_path / "img")


def test_search_order_and_missing_message(tmp_path: Path, idx_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("TRAINLAB_DATA", raising=False)
    files = find_idx_files("tinyset", idx_dir)
    assert files["train-images-idx3-ubyte"] == idx_dir / "train-images-idx3-ubyte.gz"
    monkeypatch.setenv("TRAINLAB_DATA", str(idx_dir.parent))  # DIR/NAME layout
    assert find_idx_files("tinyidx")["t10k-labels-idx1-ubyte"].parent == idx_dir
    monkeypatch.delenv("TRAINLAB_DATA")
    with pytest.raises(DataError) as err:
        find_idx_files("mnist")
    msg = str(err.value)
    assert "data set 'mnist' not found" in msg and "trainlab data get mnist" in msg and "--data-dir" in msg
