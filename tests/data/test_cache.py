"""The decoded-IDX cache: same arrays as decoding, keyed by content, atomic, self-repairing."""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from trainlab.data import cache
from trainlab.data.idx import write_idx


@pytest.fixture
def small_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private cache directory, and caching switched on for small files."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("TRAINLAB_DECODED_CACHE", raising=False)
    monkeypatch.setattr(cache, "MIN_BYTES", 100)
    return tmp_path / "xdg" / "trainlab" / "decoded"


def _images(path: Path, seed: int, n: int = 20) -> np.ndarray:
    x = np.random.default_rng(seed).integers(0, 256, (n, 28, 28)).astype(np.uint8)
    write_idx(path, x, compress=True)
    return x


def _no_decoding(*_: object) -> np.ndarray:
    raise AssertionError("decoded the gzip file although a cache entry exists")


def test_second_read_comes_from_the_cache(tmp_path: Path, small_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    x = _images(tmp_path / "img.gz", 0)
    first = cache.read_idx_cached(tmp_path / "img.gz")
    assert np.array_equal(first, x)
    assert len(list(small_cache.glob("*.npy"))) == 1
    monkeypatch.setattr(cache, "read_idx", _no_decoding)
    again = cache.read_idx_cached(tmp_path / "img.gz")
    assert np.array_equal(again, x)
    assert again.flags.writeable  # mapped copy-on-write: torch.from_numpy takes it without a warning
    again[0, 0, 0] ^= 0xFF  # and writing to it never reaches the cache entry
    assert np.array_equal(cache.read_idx_cached(tmp_path / "img.gz"), x)


def test_a_changed_file_is_decoded_again_and_replaces_its_entry(tmp_path: Path, small_cache: Path) -> None:
    path = tmp_path / "img.gz"
    _images(path, 0)
    cache.read_idx_cached(path)
    x2 = _images(path, 1, n=21)
    os.utime(path, ns=(1, 1))  # a different mtime as well as a different size
    assert np.array_equal(cache.read_idx_cached(path), x2)
    entries = list(small_cache.glob("*.npy"))
    content = hashlib.sha256(path.read_bytes()).hexdigest()[:32]
    assert len(entries) == 1 and entries[0].name.endswith(f"-{content}-{cache.digest(x2)}.npy")


def test_same_size_and_mtime_but_other_content_is_decoded_again(tmp_path: Path, small_cache: Path) -> None:
    # issue 13: the cache trusted size + mtime, so a swapped file of the same size trained on stale data
    path = tmp_path / "img.gz"
    x1 = np.zeros((20, 28, 28), np.uint8)
    x2 = x1.copy()
    x2[0, 0, 0] = 1  # one pixel differs; level-0 gzip keeps the size identical
    path.write_bytes(gzip.compress(_idx_bytes(x1), compresslevel=0, mtime=0))
    os.utime(path, ns=(5, 5))
    assert np.array_equal(cache.read_idx_cached(path), x1)
    path.write_bytes(gzip.compress(_idx_bytes(x2), compresslevel=0, mtime=0))
    os.utime(path, ns=(5, 5))
    assert path.stat().st_size == len(gzip.compress(_idx_bytes(x1), compresslevel=0, mtime=0))
    assert np.array_equal(cache.read_idx_cached(path), x2)
    assert len(list(small_cache.glob("*.npy"))) == 1  # the stale entry of this path was replaced


def _idx_bytes(x: np.ndarray) -> bytes:
    return struct.pack(">HBB", 0, 8, x.ndim) + struct.pack(f">{x.ndim}I", *x.shape) + x.tobytes()


def test_a_damaged_entry_is_ignored_and_rewritten(tmp_path: Path, small_cache: Path) -> None:
    path = tmp_path / "img.gz"
    x = _images(path, 0)
    cache.read_idx_cached(path)
    (entry,) = small_cache.glob("*.npy")
    entry.write_bytes(b"not an npy file")
    assert np.array_equal(cache.read_idx_cached(path), x)
    assert np.array_equal(np.load(entry), x)
    assert not list(small_cache.glob(".tmp-*"))  # no temporary file left behind


def test_small_plain_or_disabled_files_are_not_cached(
    tmp_path: Path, small_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    x = np.arange(10, dtype=np.uint8)
    write_idx(tmp_path / "plain", x, compress=False)  # not gzip: nothing to save
    assert np.array_equal(cache.read_idx_cached(tmp_path / "plain"), x)
    monkeypatch.setenv("TRAINLAB_DECODED_CACHE", "0")
    _images(tmp_path / "img.gz", 0)
    cache.read_idx_cached(tmp_path / "img.gz")
    assert not small_cache.exists() or not list(small_cache.glob("*.npy"))


def test_unwritable_cache_still_reads(tmp_path: Path, small_cache: Path) -> None:
    small_cache.parent.mkdir(parents=True)
    small_cache.write_text("a file where the cache directory should be")
    x = _images(tmp_path / "img.gz", 0)
    assert np.array_equal(cache.read_idx_cached(tmp_path / "img.gz"), x)


def _damage_zeroed(entry: Path, x: np.ndarray, other: Path) -> None:
    np.save(entry, np.zeros_like(x))


def _damage_flipped(entry: Path, x: np.ndarray, other: Path) -> None:
    raw = bytearray(entry.read_bytes())
    raw[-7] ^= 0x10
    entry.write_bytes(bytes(raw))


def _damage_float64(entry: Path, x: np.ndarray, other: Path) -> None:
    np.save(entry, x.astype(np.float64))


def _damage_fortran(entry: Path, x: np.ndarray, other: Path) -> None:
    np.save(entry, np.asfortranarray(x))


def _damage_other_array(entry: Path, x: np.ndarray, other: Path) -> None:
    np.save(entry, np.load(other))  # e.g. the test entry holding the training images


def _damage_symlink(entry: Path, x: np.ndarray, other: Path) -> None:
    entry.unlink()
    entry.symlink_to(other)


def _damage_truncated(entry: Path, x: np.ndarray, other: Path) -> None:
    entry.write_bytes(entry.read_bytes()[:-100])


@pytest.mark.parametrize(
    "damage",
    [
        _damage_zeroed,
        _damage_flipped,
        _damage_float64,
        _damage_fortran,
        _damage_other_array,
        _damage_symlink,
        _damage_truncated,
    ],
)
def test_a_tampered_entry_is_never_trusted(tmp_path: Path, small_cache: Path, damage) -> None:  # noqa: ANN001
    # issue 29: a zeroed training entry trained a model to 0.045 test accuracy, silently, on every later run
    path, other_path = tmp_path / "img.gz", tmp_path / "other.gz"
    x = _images(path, 0, n=30)
    x_other = _images(other_path, 1, n=20)
    cache.read_idx_cached(path)
    cache.read_idx_cached(other_path)
    (entry,) = (
        e for e in small_cache.glob("*.npy") if e.name.split("-")[1] == cache.entry_for(path)[0].name.split("-")[1]
    )
    (other,) = (e for e in small_cache.glob("*.npy") if e != entry)
    damage(entry, x, other)
    got = cache.read_idx_cached(path)
    assert np.array_equal(got, x) and got.dtype == np.uint8
    (fresh,) = (e for e in small_cache.glob("*.npy") if e != other)
    assert not fresh.is_symlink() and np.array_equal(np.load(fresh), x)  # rebuilt from the intact .gz
    assert np.array_equal(cache.read_idx_cached(other_path), x_other)  # the other source's entry is left alone
