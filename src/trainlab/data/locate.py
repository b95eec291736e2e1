"""Where IDX data sets are found on disk, and how they are downloaded and verified.

A directory the user names (``data.dir`` / ``--data-dir``) is the only place looked in (the
directory itself or its ``NAME/`` subfolder): if it lacks a file, that is an error naming the file.
Without one, the search order for a data set ``NAME`` is ``$TRAINLAB_DATA`` (the directory itself
or its ``NAME/`` subfolder), the user cache (``$XDG_CACHE_HOME/trainlab/NAME``, default
``~/.cache/trainlab/NAME``), then Debian's ``/usr/share/datasets/NAME`` (package
``dataset-fashion-mnist``).

Downloads go to the cache, are checked by sha256 before use, and are never half-written: bytes are
streamed into a temporary file in the same directory (hashed on the way, the gzip content inflated
chunk by chunk for its checksum), which is renamed into place only after the checksum matches.
A download is bounded (``MAX_DOWNLOAD_BYTES`` served, ``MAX_RAW_BYTES`` inflated), so a mirror
serving an endless body fails instead of filling memory or the disk.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainlab.errors import DataError, unknown


@dataclass(frozen=True)
class RemoteFile:
    """One file of a data set: its name and the checksums a download must match.

    ``sha256`` is of the file as served (gzip); ``raw_sha256`` of its decompressed content, which
    also holds for re-compressed copies such as Debian's.
    """

    name: str
    sha256: str | None = None
    raw_sha256: str | None = None


@dataclass(frozen=True)
class RemoteDataset:
    """A downloadable IDX data set: mirrors tried in order and its four files."""

    name: str
    mirrors: tuple[str, ...]
    files: tuple[RemoteFile, ...]
    debian_package: str | None = None


IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

REMOTE: dict[str, RemoteDataset] = {
    "mnist": RemoteDataset(
        "mnist",
        ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"),
        (
            RemoteFile(
                "train-images-idx3-ubyte.gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
            ),
            RemoteFile(
                "train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"
            ),
            RemoteFile("t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
            RemoteFile("t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
        ),
    ),
    "fashion-mnist": RemoteDataset(
        "fashion-mnist",
        # https first (the files Keras downloads); Zalando's S3 website endpoint speaks plain http
        # only, and stays as the fallback: every file is checked against its sha256 either way
        (
            "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        ),
        (
            RemoteFile(
                "train-images-idx3-ubyte.gz",
                raw_sha256="c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            ),
            RemoteFile(
                "train-labels-idx1-ubyte.gz",
                raw_sha256="bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            ),
            RemoteFile(
                "t10k-images-idx3-ubyte.gz",
                raw_sha256="5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            ),
            RemoteFile(
                "t10k-labels-idx1-ubyte.gz",
                raw_sha256="0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            ),
        ),
        debian_package="dataset-fashion-mnist",
    ),
}


def cache_dir(name: str) -> Path:
    """The user cache directory for data set ``name``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "trainlab" / name


def candidate_dirs(name: str, data_dir: str | Path | None = None) -> list[Path]:
    """Directories searched for data set ``name``, in order (``data_dir`` alone when it is given)."""
    if data_dir:
        return [Path(data_dir), Path(data_dir) / name]
    dirs: list[Path] = []
    base = os.environ.get("TRAINLAB_DATA")
    if base:
        dirs += [Path(base), Path(base) / name]
    dirs += [cache_dir(name), Path("/usr/share/datasets") / name]
    return dirs


def _find_file(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            return candidate
    return None


def find_idx_files(name: str, data_dir: str | Path | None = None) -> dict[str, Path]:
    """Paths of the four IDX files of ``name``, or a DataError saying where it looked and how to get them.

    A named place (``data.dir`` / ``--data-dir``) is the only place looked in: training on other
    files than the ones the user named (and the config records) would be silently wrong.
    """
    if data_dir:
        return _files_in_named_dir(name, Path(data_dir))
    searched = candidate_dirs(name)
    for directory in searched:
        found = {stem: _find_file(directory, stem) for stem in IDX_FILES}
        if all(found.values()):
            return found  # type: ignore[return-value]
    hint = f"run `trainlab data get {name}`"
    pkg = REMOTE.get(name).debian_package if name in REMOTE else None
    if pkg:
        hint += f" or `apt-get install {pkg}`"
    raise DataError(
        f"data set {name!r} not found (looked in {', '.join(str(d) for d in searched)}); {hint} or pass --data-dir DIR"
    )


def _files_in_named_dir(name: str, directory: Path) -> dict[str, Path]:
    """The four files in ``directory`` (or its ``name/`` subfolder), or a DataError naming what is missing."""
    where = f"data.dir={str(directory)!r}"
    get = f"; run `trainlab data get {name} --dir {directory}` to download them there" if name in REMOTE else ""
    if not directory.exists():
        raise DataError(
            f"{where}: no such directory; it should hold the 4 IDX files of {name} ({', '.join(IDX_FILES)}, each "
            f"optionally .gz){get}"
        )
    if not directory.is_dir():
        raise DataError(f"{where} is a file, not a directory holding the IDX files of {name}")
    best: tuple[Path, dict[str, Path | None]] | None = None
    for d in (directory, directory / name):
        found = {stem: _find_file(d, stem) for stem in IDX_FILES}
        if all(found.values()):
            return found  # type: ignore[return-value]
        if d.is_dir() and (best is None or sum(map(bool, found.values())) > sum(map(bool, best[1].values()))):
            best = (d, found)
    assert best is not None  # directory itself is a directory
    d, found = best
    missing = [stem for stem, path in found.items() if path is None]
    blocked = [str(d / f"{stem}{ext}") for stem in missing for ext in (".gz", "") if (d / f"{stem}{ext}").exists()]
    if blocked:
        raise DataError(
            f"{where}: {blocked[0]} is not a regular file (a directory?); the IDX files of {name} must be files"
        )
    have = len(IDX_FILES) - len(missing)
    raise DataError(
        f"{where} holds {have} of the 4 IDX files of {name}; missing: {', '.join(f'{m}[.gz]' for m in missing)} "
        f"(looked in {d}){get}"
    )


# Downloads are streamed to disk and bounded: a mirror serving an endless or enormous body fails
# after these many bytes instead of filling memory or the disk. The largest real file (Fashion-MNIST
# train images) is 26 MB served and 47 MB decompressed.
MAX_DOWNLOAD_BYTES = 256 << 20
MAX_RAW_BYTES = 1 << 30
_CHUNK = 1 << 16


class _TooLarge(Exception):
    """More bytes than a data set file can have."""


class Digests:
    """sha256 of a file as served and of its decompressed content, computed in one streaming pass.

    Memory stays bounded by the chunk size whatever the input: the gzip stream is inflated
    ``_CHUNK`` bytes at a time and only hashed, never kept.
    """

    def __init__(self, max_raw: int = MAX_RAW_BYTES) -> None:
        self.served = hashlib.sha256()
        self.raw = hashlib.sha256()
        self.size = 0
        self.raw_size = 0
        self.max_raw = max_raw
        self._head = b""  # the first bytes, until we know whether this is gzip
        self._gzip: bool | None = None
        self._inflater: Any = None
        self.raw_ok = True  # False once the gzip stream turns out broken

    def update(self, chunk: bytes) -> None:
        """Feed the next bytes of the file."""
        self.served.update(chunk)
        self.size += len(chunk)
        if self._gzip is None:
            self._head += chunk
            if len(self._head) < 2:
                return
            self._gzip = self._head[:2] == b"\x1f\x8b"
            chunk, self._head = self._head, b""
            if self._gzip:
                self._inflater = zlib.decompressobj(31)
        if not self._gzip:
            self.raw.update(chunk)
            self.raw_size += len(chunk)
            return
        self._inflate(chunk)

    def _inflate(self, data: bytes) -> None:
        while data and self.raw_ok:
            try:
                out = self._inflater.decompress(data, _CHUNK)
            except zlib.error:
                self.raw_ok = False
                return
            self.raw.update(out)
            self.raw_size += len(out)
            if self.raw_size > self.max_raw:
                raise _TooLarge(f"it inflates to more than {self.max_raw:,} bytes")
            if self._inflater.eof:  # a gzip member ended; another may follow (as gzip.decompress allows)
                data = self._inflater.unused_data
                if data:
                    self._inflater = zlib.decompressobj(31)
            else:
                data = self._inflater.unconsumed_tail

    def raw_hexdigest(self) -> str | None:
        """sha256 of the decompressed content (of the bytes themselves if not gzip); None if the gzip is broken."""
        if self._gzip is None:  # fewer than 2 bytes: not gzip
            return hashlib.sha256(self._head).hexdigest()
        if self._gzip and (not self.raw_ok or not self._inflater.eof):
            return None
        return self.raw.hexdigest()

    def matches(self, spec: RemoteFile) -> bool:
        """True when the bytes match the file's published checksum (as served, or decompressed)."""
        if spec.sha256 and self.served.hexdigest() == spec.sha256:
            return True
        return bool(spec.raw_sha256) and self.raw_hexdigest() == spec.raw_sha256


def sha256_of(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def verify(data: bytes, spec: RemoteFile) -> bool:
    """True when ``data`` matches the file's published checksum (as served, or decompressed)."""
    d = Digests()
    try:
        for i in range(0, len(data), _CHUNK):
            d.update(data[i : i + _CHUNK])
    except _TooLarge:
        return False
    return d.matches(spec)


def verify_file(path: Path, spec: RemoteFile) -> bool:
    """``verify`` for a file on disk, read in chunks (a file that cannot be read does not match)."""
    d = Digests()
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                d.update(chunk)
    except (OSError, _TooLarge):
        return False
    return d.matches(spec)


def _fetch_to(url: str, target: Path, spec: RemoteFile, timeout: float) -> str | None:
    """Stream ``url`` into a temp file beside ``target``; rename it there if its checksum matches.

    Returns None on success, else why it failed (the temp file is removed either way). Memory
    stays bounded by the chunk size; the download by ``MAX_DOWNLOAD_BYTES``.
    """
    d = Digests()
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (https/http mirrors only)
                declared = resp.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > MAX_DOWNLOAD_BYTES:
                    return (
                        f"{url}: the server announces {int(declared):,} bytes, "
                        f"more than a data set file has (at most {MAX_DOWNLOAD_BYTES:,})"
                    )
                while True:
                    try:
                        chunk = resp.read(_CHUNK)
                    except http.client.IncompleteRead as exc:  # the server closed the connection mid-file
                        got = d.size + len(exc.partial)
                        more = f" ({exc.expected} more expected)" if exc.expected is not None else ""
                        return f"{url}: connection dropped after {got} bytes{more}"
                    if not chunk:
                        break  # the end, or a connection closed early (checked below)
                    if d.size + len(chunk) > MAX_DOWNLOAD_BYTES:
                        return (
                            f"{url}: more than {MAX_DOWNLOAD_BYTES:,} bytes served; "
                            "not a data set file (stopped reading)"
                        )
                    d.update(chunk)
                    try:
                        out.write(chunk)
                    except OSError as exc:  # disk full: no mirror will do better
                        raise DataError(f"cannot write {target}: {exc.strerror or exc}") from None
            if declared and declared.isdigit() and d.size < int(declared):
                return f"{url}: connection dropped after {d.size} bytes ({int(declared) - d.size} more expected)"
            if not d.matches(spec):
                return f"{url}: sha256 mismatch (got {d.served.hexdigest()[:16]}...)"
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
        return None
    except _TooLarge as exc:
        return f"{url}: {exc}; not a data set file (stopped reading)"
    except http.client.HTTPException as exc:  # a broken response (bad status line, ...)
        return f"{url}: bad HTTP response ({type(exc).__name__}: {exc})"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"{url}: {getattr(exc, 'reason', exc)}"
    finally:
        Path(tmp).unlink(missing_ok=True)


def download(
    name: str,
    dest: str | Path | None = None,
    mirrors: tuple[str, ...] | None = None,
    timeout: float = 60.0,
    report: Callable[[str], None] | None = None,
) -> Path:
    """Download and verify data set ``name`` into ``dest`` (default: the cache); returns the directory.

    Files already present and matching their checksum are kept. ``$TRAINLAB_MIRROR`` replaces the
    mirror list (a local server, for tests or air-gapped sites).
    """
    if name not in REMOTE:
        raise unknown("downloadable data set", name, REMOTE)
    ds = REMOTE[name]
    dest = Path(dest) if dest else cache_dir(name)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create {dest}: {exc.strerror or exc}") from None
    env_mirror = os.environ.get("TRAINLAB_MIRROR")
    mirrors = mirrors or ((env_mirror,) if env_mirror else ds.mirrors)
    for spec in ds.files:
        target = dest / spec.name
        if target.is_file() and verify_file(target, spec):
            if report:
                report(f"{target}: present, checksum ok")
            continue
        errors = []
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + spec.name
            try:
                problem = _fetch_to(url, target, spec, timeout)
            except OSError as exc:  # the temp file could not be created: the destination is the problem
                raise DataError(f"cannot write in {dest}: {exc.strerror or exc}") from None
            if problem:
                errors.append(problem)
                continue
            if report:
                report(f"{target}: downloaded from {url}, sha256 ok")
            break
        else:
            raise DataError(f"could not download {spec.name} for {name}: " + "; ".join(errors))
    return dest
