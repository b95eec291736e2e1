"""Read and write IDX files (the MNIST format), plain or gzip, validating everything.

Layout: two zero bytes, a type code, the number of dimensions ``d``, then ``d`` big-endian uint32
sizes, then the data in C order, big-endian. Anything that does not add up is a DataError naming
the file and what is wrong.

Reading is a stream bounded by the header: the header is read first, then exactly the bytes it
declares go straight into the array, then the reader checks that nothing follows. A gzip bomb (a
small file inflating to gigabytes) costs the declared array and no more; a header declaring more
than the file could hold, or more than the memory available, is refused before allocating.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np

from trainlab.bounded import memory_available
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


def idx_dtype(code: int) -> np.dtype | None:
    """The native-endian dtype an IDX type code stands for (what ``read_idx`` returns), None if unknown."""
    dtype = _DTYPES.get(code)
    return None if dtype is None else dtype.newbyteorder("=")


MAX_DIMS = 32  # numpy arrays have at most 64; an IDX data set uses 1 (labels) to 3 (images)
# deflate compresses at most about 1032:1, so a gzip file of N bytes cannot inflate to more than
# this many times N (plus a little for headers): a header declaring more is refused unread
_MAX_RATIO = 1032
_CHUNK = 1 << 20
_TRAILING_PEEK = 64 << 20  # inflate at most this much past the declared end to say how much more there is


def _gzip_errors() -> tuple[type[BaseException], ...]:
    return (EOFError, OSError, zlib.error)


def _read_into(stream: BinaryIO, out: memoryview) -> int:
    """Fill ``out`` from ``stream`` chunk by chunk; the number of bytes read (less at end of file)."""
    done = 0
    while done < len(out):
        n = stream.readinto(out[done : done + _CHUNK])
        if not n:
            break
        done += n
    return done


def _count_rest(stream: BinaryIO, limit: int) -> tuple[int, bool]:
    """Bytes left in ``stream`` up to ``limit`` (read and dropped), and whether there are more."""
    count = 0
    while count <= limit:
        chunk = stream.read(min(_CHUNK, limit + 1 - count))
        if not chunk:
            return count, False
        count += len(chunk)
    return count, True


def _parse_stream(stream: BinaryIO, name: str, max_data: int | None) -> np.ndarray:
    """Decode an IDX stream: header first, then exactly the bytes it declares, then nothing more.

    Memory is the declared array and nothing else: the data is read straight into it, and bytes
    past the declared end are counted (up to a bound), never kept. ``max_data`` is the most data
    the source can hold (plain: file size; gzip: the compression bound); a header declaring more is
    refused before anything is allocated.
    """
    head = stream.read(4)
    if len(head) < 4:
        raise DataError(f"{name}: too short to be an IDX file ({len(head)} bytes)")
    zero, code, ndim = struct.unpack(">HBB", head)
    if zero != 0 or code not in _DTYPES:
        raise DataError(
            f"{name}: wrong magic number 0x{head.hex()} (expected 0x0000 then a type code"
            f" {', '.join(hex(c) for c in _DTYPES)} then the number of dimensions)"
        )
    if ndim == 0:
        raise DataError(f"{name}: IDX header declares 0 dimensions")
    if ndim > MAX_DIMS:
        raise DataError(
            f"{name}: IDX header declares {ndim} dimensions; at most {MAX_DIMS} are supported (images have 3, labels 1)"
        )
    dims = stream.read(4 * ndim)
    header = 4 + 4 * ndim
    if len(dims) < 4 * ndim:
        raise DataError(f"{name}: truncated header ({4 + len(dims)} bytes, need {header} for {ndim} dimensions)")
    shape = struct.unpack(f">{ndim}I", dims)
    dtype = _DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize  # Python ints: a hostile header cannot overflow this
    if max_data is not None and expected > max_data:
        # the file cannot hold that much: read what it has (dropped, never more than max_data bytes)
        # so a damaged stream is still named as such, then refuse without allocating the array
        got, _ = _count_rest(stream, max_data)
        raise DataError(f"{name}: truncated: header says shape {tuple(shape)} ({expected} data bytes), file has {got}")
    available = memory_available()
    if available is not None and expected > available:
        raise DataError(
            f"{name}: header says shape {tuple(shape)} ({expected:,} data bytes), more than the"
            f" {available:,} bytes of memory available"
        )
    buf = np.empty(expected, dtype=np.uint8)
    got = _read_into(stream, memoryview(buf))
    if got < expected:
        raise DataError(f"{name}: truncated: header says shape {tuple(shape)} ({expected} data bytes), file has {got}")
    extra, more = _count_rest(stream, _TRAILING_PEEK)
    if extra:
        has = f"more than {expected + extra}" if more else str(expected + extra)
        raise DataError(
            f"{name}: has trailing bytes: header says shape {tuple(shape)} ({expected} data bytes), file has {has}"
        )
    try:
        arr = buf.view(dtype).reshape(shape)
    except ValueError:  # e.g. (0, 2**32-1, 2**32-1, 2**32-1): empty, yet too big for numpy's index arithmetic
        raise DataError(f"{name}: header says shape {tuple(shape)}, which no array can have") from None
    native = dtype.newbyteorder("=")
    return arr if native == dtype else arr.astype(native)  # a writable native-endian array


def parse_idx(raw: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode IDX bytes into a native-endian numpy array, validating header and size."""
    return _parse_stream(io.BytesIO(raw), name, max(0, len(raw) - 4))


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (plain or gzip) into a numpy array, inflating a gzip file as a bounded stream."""
    path = Path(path)
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    with fh:
        try:
            size = os.fstat(fh.fileno()).st_size
            gzipped = fh.read(2) == b"\x1f\x8b"  # gzip magic, whatever the file is called
            fh.seek(0)
        except OSError as exc:
            raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
        if not gzipped:
            try:
                return _parse_stream(fh, str(path), max(0, size - 4))
            except OSError as exc:
                raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
        with gzip.GzipFile(fileobj=fh, mode="rb") as stream:
            try:
                return _parse_stream(stream, str(path), _MAX_RATIO * size + 1024)
            except _gzip_errors() as exc:
                raise DataError(f"{path}: corrupt or truncated gzip file ({exc})") from None


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


def read_image_label_pair(
    images: str | Path, labels: str | Path, read: Callable[[str | Path], np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Read an images file and its labels file (with ``read``, default ``read_idx``),
    checking they describe the same examples."""
    read = read or read_idx
    x = read(images)
    y = read(labels)
    if x.ndim != 3:
        raise DataError(f"{images}: expected images of shape (N, rows, cols), got {x.shape}")
    if y.ndim != 1:
        raise DataError(f"{labels}: expected labels of shape (N,), got {y.shape}")
    if len(x) == 0:
        raise DataError(f"{images}: holds 0 images (the header declares shape {x.shape})")
    if 0 in x.shape[1:]:
        raise DataError(f"{images}: images of {x.shape[1]}x{x.shape[2]} pixels hold no data")
    if y.dtype.kind not in "iu":
        raise DataError(f"{labels}: labels must be integers, the file holds {y.dtype} values")
    if len(x) != len(y):
        raise DataError(f"{images} has {len(x)} images but {labels} has {len(y)} labels")
    return x, y
