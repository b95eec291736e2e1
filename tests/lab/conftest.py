"""Fixtures of the lab's tests: an app under Starlette's TestClient, and a real uvicorn server in a thread."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason="the lab extra (starlette) is not installed: pip install 'trainlab[lab]'")
pytest.importorskip("uvicorn", reason="the lab extra (uvicorn) is not installed: pip install 'trainlab[lab]'")

TOKEN = "test-token-abc"
QUICK = ["data.name=digits", "threads=1", "output.report=false"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def client(tmp_path: Path) -> Any:
    """A TestClient holding the token cookie, its requests coming from the lab's own origin."""
    from starlette.testclient import TestClient

    from trainlab.lab.app import create_app

    app = create_app(tmp_path / "runs", TOKEN, 1)
    with TestClient(app, base_url="http://127.0.0.1:8765") as c:
        c.cookies.set("trainlab_lab_token", TOKEN)
        c.headers["origin"] = "http://127.0.0.1:8765"
        yield c


class Server:
    """A lab served by uvicorn in a thread, on a free port."""

    def __init__(self, runs: Path, workers: int = 2) -> None:
        import httpx2 as httpx
        import uvicorn

        from trainlab.lab.app import create_app

        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.app = create_app(runs, TOKEN, workers)
        level = os.environ.get("LAB_LOG", "warning")
        self.server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level=level, timeout_graceful_shutdown=1)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started and time.time() < deadline:
            time.sleep(0.05)
        self.http = httpx.Client(
            base_url=self.base, headers={"origin": self.base}, cookies={"trainlab_lab_token": TOKEN}, timeout=60
        )

    def stop(self) -> None:
        self.http.close()
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def server(tmp_path: Path) -> Any:
    s = Server(tmp_path / "runs")
    yield s
    s.stop()


def start_run(http: Any, overrides: list[str]) -> str:
    """POST the new-run form with ``overrides`` (KEY=VALUE) and return the run folder's name once it exists."""
    fields = dict(o.split("=", 1) for o in overrides)
    r = http.post("/new", data={**fields, "action": "start"}, follow_redirects=False)
    assert r.status_code == 303, r.text[:2000]
    job = r.headers["location"].rsplit("/", 1)[1]
    return wait_run(http, job)


def wait_run(http: Any, job: str, timeout: float = 120) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        info = http.get(f"/api/jobs/{job}").json()
        if info["run"]:
            return info["run"]
        assert info["state"] in ("queued", "running"), info
        time.sleep(0.2)
    raise AssertionError(f"job {job} made no run folder in {timeout} s")


def events(http: Any, run: str, until: Any = None, timeout: float = 180) -> list[dict[str, Any]]:
    """The run's server-sent events, read as they arrive, until the stream ends or ``until(events)`` holds."""
    out: list[dict[str, Any]] = []
    deadline = time.time() + timeout
    with http.stream("GET", f"/runs/{run}/events") as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                data = json.loads(line[6:])
                if data:
                    data["_received"] = time.time()
                    out.append(data)
            if line.startswith("event: end") or (until is not None and until(out)) or time.time() > deadline:
                break
    return out
