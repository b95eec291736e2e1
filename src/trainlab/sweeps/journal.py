"""The journal file storage (``--storage journal:PATH``) checked before Optuna reads or appends to it.

Optuna's ``JournalFileBackend`` appends one JSON record per line and reads the file back from the
start. A writer killed mid-write leaves a torn last line: Optuna skips it while reading, but the
next append is glued onto it, and from then on every read fails (``JSONDecodeError``) and the study
is lost. So before a journal is opened, ``check_journal`` reads it: a torn last line is cut off
(under the journal's own lock, so a writer in the middle of its append is waited for, never taken
for a torn line), a copy of the file as it was kept beside it (``FILE.torn-<time>``), and one line
says so; any other damage (a line that is not a journal record, bytes that are not a journal, a
directory or file that cannot be written) is a one-line ``ConfigError``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from trainlab.errors import ConfigError, clip

_RECORD = b'{"op_code":'  # how every line Optuna writes begins (json.dumps of a dict with op_code first)


def journal_path(url: str, prefix: str) -> Path:
    """The file of ``journal:PATH``, its directory created (one line when it cannot be)."""
    text = url[len(prefix) :]
    path = Path(text).expanduser()
    if not text or path.is_dir():
        raise ConfigError(f"storage {url!r}: give a file, e.g. journal:sweeps/NAME/journal.log")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        above = next((p for p in path.parents if p.exists()), None)  # the nearest that exists: a file in the way?
        why = f"{str(above)!r} is a file, not a directory" if above is not None and not above.is_dir() else _why(exc)
        raise ConfigError(f"storage {url!r}: cannot create the directory {str(path.parent)!r}: {why}") from None
    if path.exists() and not path.is_file():
        raise ConfigError(f"storage {url!r}: {str(path)!r} is not a regular file; give a journal file")
    return path


def check_journal(path: Path, lock: Any, write: bool = True) -> str | None:
    """Check the journal at ``path`` before Optuna opens it; returns the line said about a repair (or None).

    ``lock``: the journal's lock (Optuna's ``JournalFileSymlinkLock``), held while a torn last line is
    cut so a writer mid-append is waited for. ``write``: the caller will append (the file and its
    directory must be writable, and a torn last line is repaired); a reader only has the lines checked."""
    if write:
        _check_writable(path, lock)
    data = _read(path)
    tail = _torn_tail(path, data)
    if tail and write:
        lock.acquire()  # a live writer holds it while appending: what is torn once we hold it stays torn
        try:
            data = _read(path)
            tail = _torn_tail(path, data)
            if tail:
                backup = path.with_name(f"{path.name}.torn-{time.strftime('%Y%m%d-%H%M%S')}")
                try:
                    shutil.copyfile(path, backup)
                    with open(path, "r+b") as f:
                        f.truncate(len(data) - len(tail))
                        f.flush()
                        os.fsync(f.fileno())
                except OSError as exc:
                    raise ConfigError(f"journal {str(path)!r}: cannot repair its torn last line: {_why(exc)}") from None
                data = data[: len(data) - len(tail)]
        finally:
            lock.release()
    _check_lines(path, data if write else data[: len(data) - len(tail)])  # (a reader skips the torn line, as Optuna)
    if tail and write:
        line = (
            f"journal {path}: its last line was torn ({len(tail)} bytes, a writer killed mid-write); "
            f"cut it off (the file as it was: {backup.name})"
        )
        print(line, file=sys.stderr, flush=True)
        return line
    return None


def _why(exc: OSError) -> str:
    """An OSError's reason without the path Python repeats in it."""
    return exc.strerror or type(exc).__name__


def _read(path: Path) -> bytes:
    if not path.exists():
        return b""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"journal {str(path)!r}: cannot read it: {_why(exc)}") from None


def _check_writable(path: Path, lock: Any) -> None:
    """Open the file for appending and take and give back its lock (a link beside it), as a writer will."""
    try:
        with open(path, "ab"):
            pass
        lock.acquire()
        lock.release()
    except OSError as exc:
        where = path if path.exists() and not os.access(path, os.W_OK) else path.parent
        raise ConfigError(
            f"journal {str(path)!r}: cannot write to {str(where)!r} ({_why(exc)}); "
            "workers append to the journal and lock it with a link beside it"
        ) from None


def _torn_tail(path: Path, data: bytes) -> bytes:
    """The bytes after the last newline when they are the start of a journal record (a torn write), else b''.

    Bytes after the last newline that cannot be the start of a record are not a torn write: the
    file is not a journal, and ``_check_lines`` says so instead of cutting anything."""
    cut = data.rfind(b"\n") + 1
    tail = data[cut:]
    if tail and (tail.startswith(_RECORD) or _RECORD.startswith(tail)):
        return tail
    if tail:
        _check_lines(path, data[:cut])  # damage above the tail is named first
        raise ConfigError(
            f"journal {str(path)!r} does not end with a journal record (its last {len(tail)} bytes: "
            f"{clip(repr(tail[:60]), 80)}); it is not an Optuna journal, or it was damaged: "
            "restore it from a copy, or give another file"
        )
    return b""


def _check_lines(path: Path, data: bytes) -> None:
    """Every line must be one JSON journal record; name the first that is not."""
    start = 0
    number = 0
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end
        number += 1
        line = data[start:end]
        start = end + 1
        reason = ""
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or "op_code" not in record:
                reason = "JSON but not a journal record (no op_code)"
        except (ValueError, UnicodeDecodeError) as exc:  # json.JSONDecodeError is a ValueError
            reason = f"not JSON: {str(exc).splitlines()[0]}"
        if reason:
            raise ConfigError(
                f"journal {str(path)!r} line {number} is not a journal record ({clip(reason, 100)}); "
                "it is not an Optuna journal, or it was damaged: restore it from a copy (only a torn last line is "
                "repaired here), or give another file"
            )
