"""``trainlab lab``: a local web app to start, watch, stop, resume and compare runs, and a playground.

``app.create_app`` builds the ASGI app (Starlette, behind ``security.Guard``); ``serve`` runs it under
uvicorn with a fresh token. Training never runs in the server: runs are ``worker.py`` subprocesses in
a bounded pool (``jobs.Pool``) writing ordinary run folders plus ``live.jsonl``, which the server
streams to pages as server-sent events. Needs the ``lab`` extra (starlette, uvicorn, plotly).
"""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path
from typing import TextIO

from trainlab.errors import ConfigError


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url(host: str, port: int, token: str) -> str:
    """The address to open: the token in the query string, as Jupyter prints it."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    shown = f"[{shown}]" if ":" in shown else shown
    return f"http://{shown}:{port}/?token={token}"


def serve(
    host: str = "127.0.0.1",
    port: int = 8765,
    runs_dir: str | Path = "runs",
    open_browser: bool = False,
    pool_size: int | None = None,
    stream: TextIO | None = None,
) -> None:
    """Run the lab until Ctrl-C: print its URL (with a fresh token), warn when reachable from other machines."""
    try:
        # optional: the lab's web stack is the `lab` extra
        import uvicorn

        # optional: the app imports starlette (the lab extra)
        from trainlab.lab.app import create_app
    except ImportError as exc:
        raise ConfigError(
            f"trainlab lab needs the lab extra ({exc.name} is missing): pip install 'trainlab[lab]'"
        ) from None
    # lazy: loaded with the app above, only when serving
    from trainlab.lab.security import new_token

    out = stream or sys.stdout
    if not 0 < port < 65536:
        raise ConfigError(f"--port {port} must be in 1..65535")
    token = new_token()
    app = create_app(runs_dir, token, pool_size)
    if not _loopback(host):
        print(
            f"warning: --host {host} makes the lab reachable from other machines; anyone holding the token "
            f"can start and stop runs here (the token is still required)",
            file=sys.stderr,
        )
    address = url(host, port, token)
    print(
        f"trainlab lab: serving runs in {runs_dir} at\n    {address}\nCtrl-C stops the server "
        f"(runs it started go on; a restarted lab shows them)",
        file=out,
        flush=True,
    )
    if open_browser:
        # lazy: only --open needs the browser module
        import webbrowser

        webbrowser.open(address)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=2)
