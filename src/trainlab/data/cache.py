"""Decoded copies of large gzip IDX files in the user cache: a run reads .npy instead of gunzipping.

Fashion-MNIST's training images are 26 MB of gzip that take about 0.2 s to decompress (and more
under load) on every run; the decoded array loads from a .npy file in a few tens of milliseconds.

An entry is ``$XDG_CACHE_HOME/trainlab/decoded/<sha1 of the resolved path>-<sha256 of its bytes>-<sha256
of the decoded array>.npy``: the key is the file's *content*, hashed in a streaming pass (about 20 ms
for Fashion-MNIST's 26 MB, a tenth of decoding it), so a file replaced by other content is decoded
again even when its size and modification time are the same (``cp -p``, an archive restoring mtimes,
a hostile swap). The stale entry of the same path is removed when the new one is written. Entries are
written atomically (temporary file in the same directory, then rename), so a reader never sees half
a file. An entry is untrusted: it is used only when it is a regular file (not a link), a C-ordered
array of the dtype and shape that the ``.gz`` file's own IDX header declares, whose bytes hash to the
digest in its name (about 30 ms for 47 MB: a zeroed, truncated or bit-flipped entry, a float64 or
Fortran-ordered one, or another file's array are all caught); anything else is removed, decoded
again from the source and replaced. Only gzip files of at least ``MIN_BYTES`` are
cached (small files decode faster than a cache lookup pays back). ``TRAINLAB_DECODED_CACHE=0``
turns the cache off; a cache directory that cannot be written simply means no cache. An entry is
read mapped copy-on-write (``np.load(mmap_mode="c")``): the loader's gather of each split reads its
pages once, with no copy of the whole file first; writes to the array never reach the file, and a
rewrite of the entry is a new file (rename), so a mapped one never changes under its reader.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from trainlab.atomic import atomic_write
from trainlab.data.idx import idx_dtype, read_idx
from trainlab.errors import CheckpointError

MIN_BYTES = 1 << 20  # compressed size from which caching pays


def cache_root() -> Path:
    """Where decoded arrays live: ``$XDG_CACHE_HOME/trainlab/decoded`` (default ``~/.cache/...``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "trainlab" / "decoded"


def enabled() -> bool:
    """False when ``TRAINLAB_DECODED_CACHE`` is 0/false/no/off."""
    return os.environ.get("TRAINLAB_DECODED_CACHE", "1").strip().lower() not in ("0", "false", "no", "off")


def entry_for(path: Path) -> tuple[Path, str] | None:
    """The cache entries' stem of a source file (``<path key>-<content key>``) and the prefix all entries
    of that path share; None if not worth caching."""
    try:
        with path.open("rb") as fh:
            if fh.read(2) != b"\x1f\x8b" or os.fstat(fh.fileno()).st_size < MIN_BYTES:
                return None
            fh.seek(0)
            content = hashlib.file_digest(fh, "sha256").hexdigest()[:32]  # streamed: bounded memory
    except OSError:
        return None
    prefix = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:16]
    return cache_root() / f"{prefix}-{content}", prefix


def digest(array: np.ndarray) -> str:
    """The hash of an array's bytes that an entry's name carries (damage shows as a mismatch)."""
    return hashlib.sha256(memoryview(np.ascontiguousarray(array)).cast("B")).hexdigest()[:32]


def declared(path: Path) -> tuple[np.dtype, tuple[int, ...]] | None:
    """The native dtype and shape a gzip IDX file's header declares (a few bytes inflated), or None."""
    try:
        with gzip.open(path, "rb") as fh:
            head = fh.read(4)
            if len(head) < 4 or head[:2] != b"\0\0":
                return None
            dtype = idx_dtype(head[2])
            ndim = head[3]
            dims = fh.read(4 * ndim)
            if dtype is None or len(dims) < 4 * ndim:
                return None
            return dtype, struct.unpack(f">{ndim}I", dims)
    except (OSError, EOFError, zlib.error):
        return None


def _load_checked(entry: Path, expect: tuple[np.dtype, tuple[int, ...]] | None) -> np.ndarray | None:
    """The entry's array if it is what the source declares and its bytes match its name's digest; else None."""
    if expect is None or entry.is_symlink() or not entry.is_file():
        return None
    try:
        # mapped copy-on-write: the pages are read once (here, by the digest; then by the split that
        # gathers them), with no copy of the whole file, and the array stays writable for torch.from_numpy
        array = np.load(entry, mmap_mode="c", allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if array.dtype != expect[0] or array.shape != expect[1] or not array.flags.c_contiguous:
        return None
    if digest(array) != entry.stem.rsplit("-", 1)[-1]:
        return None
    return array


def _store(stem: Path, prefix: str, array: np.ndarray) -> None:
    """Write ``array`` to its entry atomically and drop older entries of the same source."""
    entry = stem.with_name(f"{stem.name}-{digest(array)}.npy")
    entry.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(entry, lambda fh: np.save(fh, array, allow_pickle=False))
    for old in entry.parent.glob(f"{prefix}-*.npy"):
        if old != entry:
            old.unlink(missing_ok=True)


def read_idx_cached(path: str | Path) -> np.ndarray:
    """``read_idx`` through the decoded cache: the same array, without gunzipping a large file twice."""
    path = Path(path)
    found = entry_for(path) if enabled() else None
    if found is None:
        return read_idx(path)
    stem, prefix = found
    candidates = sorted(stem.parent.glob(f"{stem.name}-*.npy")) if stem.parent.is_dir() else []
    if candidates:
        expect = declared(path)
        for entry in candidates:
            array = _load_checked(entry, expect)
            if array is not None:
                return array
    array = read_idx(path)  # validates the file; only valid arrays reach the cache
    try:
        _store(stem, prefix, array)  # also removes the damaged entries of this source
    except (OSError, CheckpointError):
        pass  # read-only or full cache: run without it
    return array
