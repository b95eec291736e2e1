"""Read and write IDX files (the MNIST format), plain or gzip, validating everything.

Layout: two zero bytes, a type code, the number of dimensions ``d``, then ``d`` big-endian uint32
sizes, then the data in C order, big-endian. Anything that does not add up is a DataError naming
the file and what is wrong.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from trainlab.errors import DataError

# type code -> numpy dtype (big-endian, as stored)
_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in _DTYPES.items()}


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if raw[:2] == b"\x1f\x8b":  # gzip magic, whatever the file is called
        try:
            return gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as exc:
            raise DataError(f"{path}: corrupt or truncated gzip file ({exc})") from None
    return raw


def parse_idx(raw: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode IDX bytes into a native-endian numpy array, validating header and size."""
    if len(raw) < 4:
        raise DataError(f"{name}: too short to be an IDX file ({len(raw)} bytes)")
    zero, code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or code not in _DTYPES:
        raise DataError(
            f"{name}: wrong magic number 0x{raw[:4].hex()} (expected 0x0000 then a type code"
            f" {', '.join(hex(c) for c in _DTYPES)} then the number of dimensions)"
        )
    if ndim == 0:
        raise DataError(f"{name}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{name}: truncated header ({len(raw)} bytes, need {header} for {ndim} dimensions)")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = _DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize  # Python ints: a hostile header cannot overflow this
    actual = len(raw) - header
    if actual != expected:
        what = "truncated" if actual < expected else "has trailing bytes"
        raise DataError(
            f"{name}: {what}: header says shape {tuple(shape)} ({expected} data bytes), file has {actual}"
        )
    arr = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return np.array(arr, dtype=dtype.newbyteorder("="))  # a writable native-endian copy


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (plain or gzip) into a numpy array."""
    path = Path(path)
    return parse_idx(_read_bytes(path), str(path))


def write_idx(path: str | Path, array: np.ndarray, compress: bool | None = None) -> None:
    """Write ``array`` as IDX; gzip when ``compress`` or when the name ends in .gz."""
    path = Path(path)
    arr = np.ascontiguousarray(array)
    native = arr.dtype.newbyteorder("=")
    if native not in _CODES:
        raise ValueError(f"dtype {arr.dtype} cannot be stored in IDX")
    code = _CODES[native]
    header = struct.pack(">HBB", 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    payload = header + arr.astype(_DTYPES[code], copy=False).tobytes()
    if compress or (compress is None and path.suffix == ".gz"):
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)


def read_image_label_pair(images: str | Path, labels: str | Path, read: Callable[[str | Path], np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read an images file and its labels file (with ``read``, default ``read_idx``), checking they describe the same examples."""
    read = read or read_idx
    x = read(images)
    y = read(labels)
    if x.ndim != 3:
        raise DataError(f"{images}: expected images of shape (N, rows, cols), got {x.shape}")
    if y.ndim != 1:
        raise DataError(f"{labels}: expected labels of shape (N,), got {y.shape}")
    if y.dtype.kind not in "iu":
        raise DataError(f"{labels}: labels must be integers, the file holds {y.dtype} values")
    if len(x) != len(y):
        raise DataError(f"{images} has {len(x)} images but {labels} has {len(y)} labels")
    return x, y
