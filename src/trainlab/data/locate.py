"""Where IDX data sets are found on disk, and how they are downloaded and verified.

Search order for a data set ``NAME``: the explicit directory (``data.dir`` / ``--data-dir``),
``$TRAINLAB_DATA`` (the directory itself or its ``NAME/`` subfolder), the user cache
(``$XDG_CACHE_HOME/trainlab/NAME``, default ``~/.cache/trainlab/NAME``), then Debian's
``/usr/share/datasets/NAME`` (package ``dataset-fashion-mnist``). Downloads go to the cache, are
checked by sha256 before use, and are never half-written: bytes land in a temporary file in the
same directory, which is renamed into place only after the checksum matches.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

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
            RemoteFile("train-images-idx3-ubyte.gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
            RemoteFile("train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
            RemoteFile("t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
            RemoteFile("t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
        ),
    ),
    "fashion-mnist": RemoteDataset(
        "fashion-mnist",
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        (
            RemoteFile("train-images-idx3-ubyte.gz", raw_sha256="c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
            RemoteFile("train-labels-idx1-ubyte.gz", raw_sha256="bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
            RemoteFile("t10k-images-idx3-ubyte.gz", raw_sha256="5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
            RemoteFile("t10k-labels-idx1-ubyte.gz", raw_sha256="0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
        ),
        debian_package="dataset-fashion-mnist",
    ),
}


def cache_dir(name: str) -> Path:
    """The user cache directory for data set ``name``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "trainlab" / name


def candidate_dirs(name: str, data_dir: str | Path | None = None) -> list[Path]:
    """Directories searched for data set ``name``, in order."""
    dirs: list[Path] = []
    for base in (data_dir, os.environ.get("TRAINLAB_DATA")):
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
    """Paths of the four IDX files of ``name``, or a DataError saying where it looked and how to get them."""
    searched = candidate_dirs(name, data_dir)
    for directory in searched:
        found = {stem: _find_file(directory, stem) for stem in IDX_FILES}
        if all(found.values()):
            return found  # type: ignore[return-value]
    hint = f"run `trainlab data get {name}`"
    pkg = REMOTE.get(name).debian_package if name in REMOTE else None
    if pkg:
        hint += f" or `apt-get install {pkg}`"
    raise DataError(
        f"data set {name!r} not found (looked in {', '.join(str(d) for d in searched)}); {hint}"
        " or pass --data-dir DIR"
    )


def sha256_of(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def verify(data: bytes, spec: RemoteFile) -> bool:
    """True when ``data`` matches the file's published checksum (as served, or decompressed)."""
    if spec.sha256 and sha256_of(data) == spec.sha256:
        return True
    if spec.raw_sha256:
        try:
            raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
        except (OSError, EOFError):
            return False
        return sha256_of(raw) == spec.raw_sha256
    return False


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fetch(url: str, timeout: float) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (https/http mirrors only)
            return resp.read()
    except http.client.IncompleteRead as exc:  # the server closed the connection mid-file
        raise OSError(f"connection dropped after {len(exc.partial)} bytes ({exc.expected} more expected)") from None
    except http.client.HTTPException as exc:  # a broken response (bad status line, ...)
        raise OSError(f"bad HTTP response ({type(exc).__name__}: {exc})") from None


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
        if target.is_file() and verify(target.read_bytes(), spec):
            if report:
                report(f"{target}: present, checksum ok")
            continue
        errors = []
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + spec.name
            try:
                data = _fetch(url, timeout)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                errors.append(f"{url}: {getattr(exc, 'reason', exc)}")
                continue
            if not verify(data, spec):
                errors.append(f"{url}: sha256 mismatch (got {sha256_of(data)[:16]}...)")
                continue
            try:
                _atomic_write(target, data)
            except OSError as exc:
                raise DataError(f"cannot write {target}: {exc.strerror or exc}") from None
            if report:
                report(f"{target}: downloaded from {url}, sha256 ok")
            break
        else:
            raise DataError(f"could not download {spec.name} for {name}: " + "; ".join(errors))
    return dest
