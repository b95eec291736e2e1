"""Downloads against a local HTTP server: verified by sha256, never half-written into the cache."""

from __future__ import annotations

import gzip
import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from trainlab.cli import main
from trainlab.data import locate
from trainlab.data.locate import RemoteDataset, RemoteFile, download
from trainlab.errors import DataError

GOOD = {"a.gz": gzip.compress(b"first file " * 500, mtime=0), "b.gz": gzip.compress(b"second file " * 700, mtime=0)}
TINY = RemoteDataset(
    "tiny",
    (),
    (
        RemoteFile("a.gz", sha256=hashlib.sha256(GOOD["a.gz"]).hexdigest()),
        RemoteFile("b.gz", raw_sha256=hashlib.sha256(gzip.decompress(GOOD["b.gz"])).hexdigest()),  # Debian-style
    ),
)


class Mirror(BaseHTTPRequestHandler):
    """/good/F serves F, /bad/F a corrupted copy, /drop/F half of F then hangs up, anything else 404."""

    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        Mirror.requests.append(self.path)
        kind, _, name = self.path.strip("/").partition("/")
        if kind in ("endless", "announced"):  # a hostile or broken mirror: bytes without end
            self.send_response(200)
            if kind == "announced":
                self.send_header("Content-Length", str(10**12))
            self.end_headers()
            try:
                while True:
                    self.wfile.write(b"\x1f\x8b" + bytes(1 << 16))
            except OSError:  # the client hung up
                return
        body = GOOD.get(name)
        if body is None or kind not in ("good", "bad", "drop"):
            self.send_error(404)
            return
        if kind == "bad":
            body = body[:-20] + b"x" * 20
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if kind == "drop":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """Base URL of a mirror on 127.0.0.1 (a free port)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Mirror)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def tiny_remote(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(locate.REMOTE, "tiny", TINY)
    Mirror.requests.clear()


def _leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def test_good_mirror_downloads_and_verifies_then_keeps(server: str, tmp_path: Path) -> None:
    lines: list[str] = []
    dest = download("tiny", tmp_path / "cache", mirrors=(f"{server}/good",), report=lines.append)
    assert {n: (dest / n).read_bytes() for n in GOOD} == GOOD
    assert all("sha256 ok" in line for line in lines) and len(Mirror.requests) == 2
    download("tiny", dest, mirrors=(f"{server}/good",), report=lines.append)
    assert len(Mirror.requests) == 2 and lines[-1].endswith("present, checksum ok")


def test_corrupted_file_is_rejected_and_never_cached(server: str, tmp_path: Path) -> None:
    dest = tmp_path / "cache"
    with pytest.raises(
        DataError, match=r"could not download a.gz for tiny: http://127.0.0.1:\d+/bad/a.gz: sha256 mismatch"
    ):
        download("tiny", dest, mirrors=(f"{server}/bad",))
    assert _leftovers(dest) == []


def test_dropped_connection_is_named_and_leaves_nothing(server: str, tmp_path: Path) -> None:
    dest = tmp_path / "cache"
    with pytest.raises(DataError, match=r"drop/a.gz: connection dropped after \d+ bytes"):
        download("tiny", dest, mirrors=(f"{server}/drop",))
    assert _leftovers(dest) == []


def test_falls_back_to_the_next_mirror(server: str, tmp_path: Path) -> None:
    dest = download("tiny", tmp_path / "cache", mirrors=(f"{server}/drop", f"{server}/bad", f"{server}/good"))
    assert _leftovers(dest) == ["a.gz", "b.gz"] and (dest / "b.gz").read_bytes() == GOOD["b.gz"]


def test_damaged_cached_file_is_replaced(server: str, tmp_path: Path) -> None:
    dest = tmp_path / "cache"
    dest.mkdir()
    (dest / "a.gz").write_bytes(GOOD["a.gz"][:100])  # e.g. left by an older tool
    download("tiny", dest, mirrors=(f"{server}/good",))
    assert (dest / "a.gz").read_bytes() == GOOD["a.gz"]


def test_cli_data_get_via_env_mirror(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("TRAINLAB_MIRROR", f"{server}/missing")
    assert main(["data", "get", "tiny", "--dir", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: could not download a.gz for tiny:") and "Not Found" in err and err.count("\n") == 1
    monkeypatch.setenv("TRAINLAB_MIRROR", f"{server}/good")
    assert main(["data", "get", "tiny", "--dir", str(tmp_path / "c")]) == 0
    assert "tiny ready in" in capsys.readouterr().out


def test_endless_body_is_cut_off_at_the_bound_streamed_to_disk(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # issue 13: TRAINLAB_MIRROR serving an endless body reached MemoryError at 2.5 GB
    monkeypatch.setattr(locate, "MAX_DOWNLOAD_BYTES", 2 << 20)
    monkeypatch.setenv("TRAINLAB_MIRROR", f"{server}/endless")
    import tracemalloc

    tracemalloc.start()
    with pytest.raises(DataError, match=r"endless/a.gz: more than 2,097,152 bytes served; not a data set file"):
        download("tiny", tmp_path / "cache")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 2 << 20  # chunks go to disk; only one is in memory at a time
    assert _leftovers(tmp_path / "cache") == []


def test_announced_huge_body_is_refused_before_reading(server: str, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"announced/a.gz: the server announces 1,000,000,000,000 bytes"):
        download("tiny", tmp_path / "cache", mirrors=(f"{server}/announced",))
    assert _leftovers(tmp_path / "cache") == []


def test_checksums_are_streamed_and_bounded() -> None:
    raw = b"IDX" * 100_000
    served = gzip.compress(raw) + gzip.compress(b"second member")  # gzip.decompress reads every member
    spec = RemoteFile("x.gz", raw_sha256=hashlib.sha256(raw + b"second member").hexdigest())
    assert locate.verify(served, spec)
    assert not locate.verify(served[:-30], spec)  # a cut-off stream has no valid content checksum
    d = locate.Digests(max_raw=1000)
    with pytest.raises(locate._TooLarge):
        d.update(gzip.compress(bytes(10_000)))


def test_default_fashion_mnist_mirror_is_https() -> None:
    assert locate.REMOTE["fashion-mnist"].mirrors[0].startswith("https://")
    assert all(m.startswith("https://") for m in locate.REMOTE["mnist"].mirrors)
