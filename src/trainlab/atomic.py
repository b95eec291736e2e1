"""Atomic file writes: temp file in the same directory, flush + fsync, rename over the target.

A process killed at any moment leaves either the previous file or the new one, never a mix.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from trainlab.errors import CheckpointError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates files readable by their owner only; a run directory is meant to be shared like
# any file the user writes, so temp files get the usual mode (0666 minus the umask) before the rename
_FILE_MODE = 0o666 & ~_umask()


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write(fh)`` on a temp file next to ``path``, fsync it, then rename it onto ``path``."""
    path = Path(path)
    # promise to keep only what exists: a first write that fails leaves nothing, not "the previous file"
    kept = " (the previous file is kept)" if path.exists() else ""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise CheckpointError(f"cannot write in {path.parent}: {exc.strerror or exc}{kept}") from None
    try:
        os.fchmod(fd, _FILE_MODE)
    except OSError:  # file systems without modes (some network/FUSE mounts): keep what mkstemp gave
        pass
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise CheckpointError(f"cannot write {path}: {exc.strerror or exc}{kept}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temps(directory: str | Path) -> list[Path]:
    """Delete temp files that a killed writer left in ``directory`` (call only when no writer is running)."""
    removed = []
    for tmp in Path(directory).glob(".*.tmp"):
        try:
            tmp.unlink()
            removed.append(tmp)
        except OSError:
            pass
    return removed


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_text(path: str | Path, text: str) -> None:
    """Atomically write text."""
    atomic_write(path, lambda fh: fh.write(text.encode()))


def write_json(path: str | Path, data: Any) -> None:
    """Atomically write JSON (indented, NaN written as null)."""
    write_text(path, json_text(data))


def json_text(data: Any) -> str:
    """The JSON ``write_json`` writes (indented, NaN as null)."""
    return json.dumps(_clean(data), indent=2) + "\n"


def overwrite_in_place(path: str | Path, text: str) -> bool:
    """Rewrite an existing small file in place, for when an atomic write failed (a full disk).

    Not atomic: the last resort for recording a failure, when a new file cannot be created but
    the blocks the old one holds can be reused. True if it worked.
    """
    data = text.encode()
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError:
        return False
    try:
        os.write(fd, data)
        os.ftruncate(fd, len(data))
        os.fsync(fd)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _clean(obj: Any) -> Any:
    if isinstance(obj, float) and obj != obj:
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj
