"""Decoded copies of large gzip IDX files in the user cache: a run reads .npy instead of gunzipping.

Fashion-MNIST's training images are 26 MB of gzip that take about 0.2 s to decompress (and more
under load) on every run; the decoded array loads from a .npy file in a few tens of milliseconds.

An entry is ``$XDG_CACHE_HOME/trainlab/decoded/<sha1 of the resolved path>-<sha256 of its bytes>.npy``:
the key is the file's *content*, hashed in a streaming pass (about 20 ms for Fashion-MNIST's 26 MB,
a tenth of decoding it), so a file replaced by other content is decoded again even when its size
and modification time are the same (``cp -p``, an archive restoring mtimes, a hostile swap). The
stale entry of the same path is removed when the new one is written. Entries are
written atomically (temporary file in the same directory, then rename), so a reader never sees half
a file; an unreadable entry is ignored and replaced. Only gzip files of at least ``MIN_BYTES`` are
cached (small files decode faster than a cache lookup pays back). ``TRAINLAB_DECODED_CACHE=0``
turns the cache off; a cache directory that cannot be written simply means no cache. An entry is
read mapped copy-on-write (``np.load(mmap_mode="c")``): the loader's gather of each split reads its
pages once, with no copy of the whole file first; writes to the array never reach the file, and a
rewrite of the entry is a new file (rename), so a mapped one never changes under its reader.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

from trainlab.data.idx import read_idx

MIN_BYTES = 1 << 20  # compressed size from which caching pays


def cache_root() -> Path:
    """Where decoded arrays live: ``$XDG_CACHE_HOME/trainlab/decoded`` (default ``~/.cache/...``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "trainlab" / "decoded"


def enabled() -> bool:
    """False when ``TRAINLAB_DECODED_CACHE`` is 0/false/no/off."""
    return os.environ.get("TRAINLAB_DECODED_CACHE", "1").strip().lower() not in ("0", "false", "no", "off")


def entry_for(path: Path) -> tuple[Path, str] | None:
    """The cache entry of a source file and the prefix its entries share; None if not worth caching."""
    try:
        with path.open("rb") as fh:
            if fh.read(2) != b"\x1f\x8b" or os.fstat(fh.fileno()).st_size < MIN_BYTES:
                return None
            fh.seek(0)
            content = hashlib.file_digest(fh, "sha256").hexdigest()[:32]  # streamed: bounded memory
    except OSError:
        return None
    prefix = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:16]
    return cache_root() / f"{prefix}-{content}.npy", prefix


def _store(entry: Path, prefix: str, array: np.ndarray) -> None:
    """Write ``array`` to ``entry`` atomically and drop older entries of the same source."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=".tmp-", suffix=".npy")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, array, allow_pickle=False)
        os.replace(tmp, entry)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    for old in entry.parent.glob(f"{prefix}-*.npy"):
        if old != entry:
            old.unlink(missing_ok=True)


def read_idx_cached(path: str | Path) -> np.ndarray:
    """``read_idx`` through the decoded cache: the same array, without gunzipping a large file twice."""
    path = Path(path)
    found = entry_for(path) if enabled() else None
    if found is None:
        return read_idx(path)
    entry, prefix = found
    if entry.is_file():
        try:
            # mapped copy-on-write: the pages are read once, by the split that gathers them (no
            # copy of the whole file first), and the array stays writable for torch.from_numpy
            return np.load(entry, mmap_mode="c", allow_pickle=False)
        except (OSError, ValueError, EOFError):
            pass  # damaged entry: decode again and replace it
    array = read_idx(path)  # validates the file; only valid arrays reach the cache
    try:
        _store(entry, prefix, array)
    except OSError:
        pass  # read-only or full cache: run without it
    return array
