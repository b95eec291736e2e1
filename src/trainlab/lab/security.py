"""The lab's guard: a token on every request, same-origin POSTs, bounded bodies, run names kept inside --dir.

A pure ASGI middleware in front of the whole app, so no route can forget a rule:

- every HTTP request carries the token: ``?token=`` once (answered by a redirect that sets an
  HttpOnly, SameSite=Strict cookie and drops the token from the address), then the cookie, or the
  header ``X-Trainlab-Token`` / ``Authorization: token ...``; compared in constant time;
- a request that changes state is a POST, and its ``Origin`` (else ``Referer``) must be this very
  origin, so another site cannot make the browser post to the lab (CSRF); GET never changes state;
- a request body is read whole, at most ``MAX_BODY`` bytes (413 beyond);
- every response says ``Content-Security-Policy``: scripts from this origin only, none inline.

:func:`run_folder` turns a run name from a request into a folder inside the runs folder or refuses.
"""

from __future__ import annotations

import re
import secrets
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

MAX_BODY = 64 * 1024  # bytes: the largest form the lab takes (a whole config fits in a few KB)
COOKIE = "trainlab_lab_token"
HEADER = "x-trainlab-token"
# what a lab page may load: its own scripts (plotly.min.js, lab.js) and styles, its own events; nothing inline
# but styles (plotly sets element styles), nothing from another origin, no frames, no plugins
CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self' data: blob:; "
    "style-src 'self' 'unsafe-inline'; font-src 'self' data:; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# a run folder's name: what runs/rundir.create_run_dir makes (date-time-slug) and any plain name; no
# separators, no leading dot (so neither `..` nor the lab's own `.lab` folder), bounded
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+=-]{0,199}")


class Refused(ValueError):
    """A request the lab will not serve (a bad run name): answered 404, the server goes on."""


def new_token() -> str:
    """A fresh random token for one server (as Jupyter's: printed in the URL)."""
    return secrets.token_urlsafe(24)


def run_folder(runs_dir: Path, name: str) -> Path:
    """The folder ``runs_dir/name`` when ``name`` is a plain run name naming a real folder inside ``runs_dir``."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        raise Refused(f"not a run name: {name[:80]!r}")
    root = runs_dir.resolve()
    path = root / name
    # a symlink, or anything resolving outside the runs folder, is not a run of this lab
    if path.is_symlink() or not path.is_dir() or path.resolve().parent != root:
        raise Refused(f"no run {name!r} in {runs_dir}")
    return path


def _headers(scope: dict[str, Any]) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _given_token(scope: dict[str, Any], headers: dict[str, str]) -> tuple[str | None, bool]:
    """(the token the request carries, whether it came in the query string)."""
    for key, value in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True):
        if key == "token":
            return value, True
    if HEADER in headers:
        return headers[HEADER], False
    auth = headers.get("authorization", "")
    if auth.lower().startswith("token "):
        return auth[6:].strip(), False
    cookie = SimpleCookie()
    try:
        cookie.load(headers.get("cookie", ""))
    except Exception:  # a malformed cookie header is no token, not a crash
        return None, False
    return (cookie[COOKIE].value if COOKIE in cookie else None), False


def same_origin(headers: dict[str, str], scheme: str) -> bool:
    """Whether a request's ``Origin`` (else ``Referer``) is the origin it was sent to (its Host)."""
    host = headers.get("host", "")
    source = headers.get("origin") or headers.get("referer") or ""
    if not host or not source or source == "null":
        return False
    parts = urlsplit(source)
    return parts.scheme == scheme and parts.netloc == host


async def _send_plain(send: Any, status: int, text: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = text.encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"content-security-policy", CSP.encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """ASGI middleware enforcing the rules of this module's docstring on every HTTP request."""

    def __init__(self, app: Any, token: str, max_body: int = MAX_BODY) -> None:
        self.app = app
        self.token = token
        self.max_body = max_body

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        given, in_query = _given_token(scope, headers)
        if given is None or not secrets.compare_digest(given.encode(), self.token.encode()):
            await _send_plain(
                send, 403, "403: this lab needs its token: open the URL `trainlab lab` printed (it ends in ?token=...)"
            )
            return
        method = scope["method"]
        if in_query and method in ("GET", "HEAD"):
            # keep the token out of the address bar, history and Referer: a cookie carries it from now on
            rest = urlencode(
                [
                    (k, v)
                    for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
                    if k != "token"
                ]
            )
            target = scope.get("root_path", "") + scope["path"] + (f"?{rest}" if rest else "")
            cookie = f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
            await _send_plain(
                send, 303, "see other", [(b"location", target.encode("utf-8")), (b"set-cookie", cookie.encode())]
            )
            return
        if method not in ("GET", "HEAD"):
            if not same_origin(headers, scope.get("scheme", "http")):
                await _send_plain(send, 403, "403: a cross-site request (its Origin/Referer is not this lab)")
                return
            declared = headers.get("content-length", "")
            if declared and (not declared.isdigit() or int(declared) > self.max_body):
                await _send_plain(send, 413, f"413: request bodies are limited to {self.max_body} bytes")
                return
            body = bytearray()
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                body += message.get("body", b"")
                if len(body) > self.max_body:
                    await _send_plain(send, 413, f"413: request bodies are limited to {self.max_body} bytes")
                    return
                if not message.get("more_body"):
                    break
            receive = _replay(bytes(body), receive)

        async def send_with_policy(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-frame-options", b"DENY"),
                ]
                message = {
                    **message,
                    "headers": [*message.get("headers", []), *(h for h in extra if h[0] not in names)],
                }
            await send(message)

        await self.app(scope, receive, send_with_policy)


def _replay(body: bytes, receive: Any) -> Any:
    """A ``receive`` that gives the app the body already read, then waits on the real one (disconnect)."""
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
