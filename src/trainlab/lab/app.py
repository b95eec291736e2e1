"""The lab's web app: Starlette routes, pages through the one page engine, events as server-sent events.

Pages render through ``report/pages.py`` (templates ``lab_*.html`` extending ``base.html``, autoescaped);
charts are plotly.js, served from the installed ``plotly`` package at ``/static/plotly.min.js``, driven by
``lab/static/lab.js``. No route trains: runs are ``lab/worker.py`` subprocesses in a bounded ``jobs.Pool``.
Every request passes ``security.Guard`` first (token, same-origin POST, bounded body).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from trainlab.config import read_yaml
from trainlab.errors import TrainlabError
from trainlab.lab import form, jobs, playground
from trainlab.lab.security import Guard, Refused, run_folder
from trainlab.names import CATALOGUES
from trainlab.report import pages

STATIC = Path(__file__).with_name("static")
TICK = 0.1  # seconds between two looks at a run's live.jsonl (an epoch is on screen within ~0.1-0.2 s)
FILES = ("report.html", "compare.html")  # what /runs/NAME/FILE serves from a run or comparison folder
COLUMNS = ("run", "data", "model", "status", "score", "epochs", "fit_seconds", "started")


def _plotly_js() -> Path:
    # optional: plotly is the `lab` extra; its bundled plotly.js draws every chart (no CDN, no hand-drawn charts)
    import plotly

    return Path(plotly.__file__).with_name("package_data") / "plotly.min.js"


def clean(value: Any) -> Any:
    """``value`` with non-finite floats as None: JSON (and JavaScript's JSON.parse) has no NaN."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def _page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(pages.render(template, **context), status_code=status)


class Lab:
    """One lab server's state: its runs folder and pool of worker processes."""

    def __init__(self, runs_dir: Path, pool_size: int | None = None) -> None:
        self.runs_dir = runs_dir
        runs_dir.mkdir(parents=True, exist_ok=True)
        self.pool = jobs.Pool(runs_dir, pool_size)

    # ---- reading run folders -------------------------------------------------------------------
    def folder(self, name: str) -> Path:
        """The run folder ``name`` inside the runs folder, or a 404."""
        try:
            return run_folder(self.runs_dir, name)
        except Refused as exc:
            raise HTTPException(404, str(exc)) from None

    def row(self, path: Path) -> dict[str, Any]:
        """One run's line of the runs table."""
        s = jobs.read_summary(path)
        try:
            cfg = read_yaml(path / "config.yaml")
        except Exception:  # an unreadable config: the run is listed with what is known
            cfg = {}
        status = jobs.run_status(path, s)
        if self.pool.job_of(path.name) is not None and status != "running":
            status = "queued"
        score = s.get("test_accuracy", s.get("test_r2"))
        return {
            "run": path.name,
            "data": str((cfg.get("data") or {}).get("name", "?")),
            "model": str((cfg.get("model") or {}).get("name", "?")),
            "status": status,
            "score": score if isinstance(score, (int, float)) else None,
            "epochs": s.get("epochs") if isinstance(s.get("epochs"), (int, float)) else None,
            "fit_seconds": s.get("fit_seconds") if isinstance(s.get("fit_seconds"), (int, float)) else None,
            "started": str(s.get("started", "")),
            "report": (path / "report.html").is_file(),
            "resumable": jobs.resumable(path, status),
        }

    def rows(self) -> list[dict[str, Any]]:
        """Every run folder in the runs folder (those the CLI made too), newest first."""
        found = [
            p
            for p in sorted(self.runs_dir.iterdir(), reverse=True)
            if not p.name.startswith(".") and not p.is_symlink() and (p / "config.yaml").is_file()
        ]
        return [self.row(p) for p in found]

    def state(self, path: Path) -> dict[str, Any]:
        """A run's live state for its page and its event stream."""
        status = jobs.run_status(path)
        job = self.pool.job_of(path.name)
        if job is not None and status != "running":
            status = "queued" if job.state == "queued" else "starting"
        return {
            "kind": "status",
            "status": status,
            "resumable": jobs.resumable(path, status),
            "stoppable": status in ("running", "queued", "starting"),
            "report": (path / "report.html").is_file(),
        }

    # ---- routes ----------------------------------------------------------------------------------
    async def index(self, request: Request) -> Response:
        rows = self.rows()
        sort = request.query_params.get("sort", "run")
        sort = sort if sort in COLUMNS else "run"
        desc = request.query_params.get("desc", "1" if sort == "run" else "0") == "1"
        rows.sort(key=lambda r: (r[sort] is None, r[sort] if r[sort] is not None else 0), reverse=desc)
        query = request.query_params.get("q", "")[:200]
        if query:
            wanted = query.lower()
            rows = [r for r in rows if any(wanted in str(r[c]).lower() for c in ("run", "data", "model", "status"))]
        links = {
            c: "?" + urlencode({"sort": c, "desc": "0" if (c == sort and desc) else "1", "q": query}) for c in COLUMNS
        }
        return _page(
            "lab_runs.html",
            title="trainlab lab",
            rows=rows,
            sort=sort,
            desc=desc,
            q=query,
            links=links,
            columns=COLUMNS,
            dir=str(self.runs_dir),
            pool=self.pool.size,
            active=len(self.pool.running()),
            queued=len(self.pool.queue),
        )

    async def new(self, request: Request) -> Response:
        known = form.fields()
        values = {f.key: f.default for f in known}
        errors: dict[str, str] = {}
        status = 200
        if request.method == "POST":
            submitted = _last(await _form(request))
            values.update({k: v for k, v in submitted.items() if k in values})
            overrides = form.overrides_from(submitted, known)
            overrides = [*overrides, f"output.dir={self.runs_dir}"]
            cfg, errors = form.validate(overrides)
            if cfg is not None and submitted.get("action") == "start":
                shown = [o for o in overrides if not o.startswith("output.dir=")]
                job = self.pool.submit(overrides, form.command(shown) + self._dir_tail())
                return RedirectResponse(f"/jobs/{job.id}", status_code=303)
            status = 400 if errors else 200
        shown = form.overrides_from(values, known)
        return _page(
            "lab_new.html",
            status,
            title="trainlab lab · new run",
            sections=form.sections(known),
            values=values,
            errors=errors,
            general=errors.get("", ""),
            command=form.command(shown) + self._dir_tail(),
            catalogues=_catalogues(known),
        )

    def _dir_tail(self) -> str:
        return "" if self.runs_dir == Path("runs") else f" output.dir={self.runs_dir}"

    async def job_page(self, request: Request) -> Response:
        job = self.pool.jobs.get(request.path_params["job"])
        if job is None:
            raise HTTPException(404, "no such job")
        self.pool.tick()
        if job.run:
            return RedirectResponse(f"/runs/{job.run}", status_code=303)
        return _page(
            "lab_job.html",
            title="trainlab lab · starting",
            job=job.public(),
            log=self.pool.error_of(job) if job.state == "done" else "",
        )

    async def job_api(self, request: Request) -> Response:
        job = self.pool.jobs.get(request.path_params["job"])
        if job is None:
            raise HTTPException(404, "no such job")
        self.pool.tick()
        out = job.public()
        if job.state == "done" and not job.run:
            out["log"] = self.pool.error_of(job)
        return JSONResponse(out)

    async def run_page(self, request: Request) -> Response:
        path = self.folder(request.path_params["name"])
        s = jobs.read_summary(path)
        command = self.pool.command_of(path.name) or f"trainlab train --config {path / 'config.yaml'}"
        facts = {
            k: s[k]
            for k in ("test_accuracy", "test_loss", "test_r2", "fit_seconds", "epochs", "stop_reason")
            if isinstance(s.get(k), (int, float, str)) and s.get(k) != ""
        }
        return _page(
            "lab_run.html",
            title=f"trainlab lab · {path.name}",
            name=path.name,
            state=self.state(path),
            header=str(s.get("header", "")),
            facts=facts,
            command=command,
            resume_command=form.command([], str(path)),
        )

    async def events(self, request: Request) -> Response:
        path = self.folder(request.path_params["name"])
        try:
            offset = max(0, int(request.query_params.get("offset", "0")))
        except ValueError:
            offset = 0

        async def stream() -> Any:
            nonlocal offset
            if not (path / jobs.LIVE).is_file():
                for event in jobs.history_events(path):
                    yield _sse(event)
            last: dict[str, Any] = {}
            beat = time.monotonic()
            while True:
                self.pool.tick()
                state = self.state(path)  # read before the events: a final state means no event is left unread
                events, offset = await run_in_threadpool(jobs.read_events, path, offset)
                for event in events:
                    yield _sse(event)
                if state != last:
                    yield _sse(state)
                    last = state
                if not state["stoppable"]:
                    yield "event: end\ndata: {}\n\n"
                    return
                if time.monotonic() - beat > 15:
                    yield ": keep-alive\n\n"
                    beat = time.monotonic()
                await asyncio.sleep(TICK)

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"cache-control": "no-store", "x-accel-buffering": "no"}
        )

    async def stop(self, request: Request) -> Response:
        path = self.folder(request.path_params["name"])
        self.pool.stop(path)
        return RedirectResponse(f"/runs/{path.name}", status_code=303)

    async def resume(self, request: Request) -> Response:
        path = self.folder(request.path_params["name"])
        state = self.state(path)
        if not state["resumable"]:
            raise HTTPException(
                409, f"{path.name} is {state['status']}: only an interrupted run with a checkpoint resumes"
            )
        self.pool.submit(["--resume", str(path)], form.command([], str(path)), run=path.name)
        return RedirectResponse(f"/runs/{path.name}", status_code=303)

    async def file(self, request: Request) -> Response:
        path = self.folder(request.path_params["name"])
        name = request.path_params["file"]
        if name not in FILES or not (path / name).is_file() or (path / name).is_symlink():
            raise HTTPException(404, f"no {name[:80]!r} in {path.name}")
        return FileResponse(path / name, media_type="text/html")

    async def compare(self, request: Request) -> Response:
        names = (await _form(request)).get("run", [])[:50]
        if len(names) < 2:
            raise HTTPException(400, "select two or more runs to compare")
        paths = [self.folder(n) for n in names]
        # lazy: the compare engine loads only when runs are compared
        from trainlab.comparisons import compare_runs

        try:
            comp = await run_in_threadpool(compare_runs, paths, self.runs_dir)
        except TrainlabError as exc:
            raise HTTPException(400, str(exc)) from None
        return RedirectResponse(f"/runs/{comp.path.name}/compare.html", status_code=303)

    async def playground_page(self, request: Request) -> Response:
        settings, errors = playground.settings(dict(request.query_params))
        job = self.pool.jobs.get(request.query_params.get("job", ""))
        return _page(
            "lab_playground.html",
            title="trainlab lab · playground",
            settings=settings,
            errors=errors,
            choices=playground.choices(),
            job=job.public() if job else None,
            command=form.command(playground.overrides(settings)),
            link="?" + urlencode(settings),
        )

    async def playground_start(self, request: Request) -> Response:
        settings, errors = playground.settings(_last(await _form(request)))
        overrides = playground.overrides(settings)
        if not errors:
            _, problems = form.validate(overrides)
            errors = {"": "; ".join(problems.values())} if problems else {}
        if errors:
            return _page(
                "lab_playground.html",
                400,
                title="trainlab lab · playground",
                settings=settings,
                errors=errors,
                choices=playground.choices(),
                job=None,
                command=form.command(overrides),
                link="?" + urlencode(settings),
            )
        job = self.pool.submit(["--grid", *overrides, f"output.dir={self.runs_dir}"], form.command(overrides))
        return RedirectResponse("/playground?" + urlencode({**settings, "job": job.id}), status_code=303)

    async def static(self, request: Request) -> Response:
        name = request.path_params["file"]
        if name == "plotly.min.js":
            return FileResponse(_plotly_js(), media_type="text/javascript", headers={"cache-control": "max-age=3600"})
        if name in ("lab.js", "lab.css"):
            kind = "text/javascript" if name.endswith(".js") else "text/css"
            return FileResponse(STATIC / name, media_type=kind, headers={"cache-control": "no-cache"})
        raise HTTPException(404, "no such file")


async def _form(request: Request) -> dict[str, list[str]]:
    """A posted urlencoded form (the body is already bounded by the guard) as lists of values by name."""
    kind = request.headers.get("content-type", "application/x-www-form-urlencoded").split(";")[0].strip()
    if kind != "application/x-www-form-urlencoded":
        raise HTTPException(415, f"the lab takes urlencoded forms, not {kind[:80]}")
    out: dict[str, list[str]] = {}
    text = (await request.body()).decode("utf-8", "replace")
    for key, value in parse_qsl(text, keep_blank_values=True, max_num_fields=1000):
        out.setdefault(key, []).append(value)
    return out


def _last(data: dict[str, list[str]]) -> dict[str, str]:
    return {k: v[-1] for k, v in data.items()}


def _sse(event: dict[str, Any]) -> str:
    return f"data: {json.dumps(clean(event), separators=(',', ':'))}\n\n"


def _catalogues(known: list[form.Field]) -> dict[str, tuple[str, ...]]:
    return {f.catalogue: tuple(e[0] for e in CATALOGUES.get(f.catalogue, ())) for f in known if f.catalogue}


async def _error(request: Request, exc: Exception) -> Response:
    code = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else f"{type(exc).__name__}: {exc}"
    return _page("lab_error.html", code, title=f"trainlab lab · {code}", code=code, detail=str(detail)[:2000])


def create_app(runs_dir: str | Path = "runs", token: str = "", pool_size: int | None = None) -> Any:
    """The lab as an ASGI app (Starlette behind ``security.Guard``) serving ``runs_dir`` with ``token``."""
    if not token:
        raise ValueError("the lab needs a token")
    lab = Lab(Path(runs_dir), pool_size)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        async def ticker() -> None:
            while True:
                lab.pool.tick()
                await asyncio.sleep(0.25)

        task = asyncio.create_task(ticker())
        try:
            yield
        finally:
            task.cancel()
            lab.pool.close()

    routes = [
        Route("/", lab.index),
        Route("/new", lab.new, methods=["GET", "POST"]),
        Route("/jobs/{job}", lab.job_page),
        Route("/api/jobs/{job}", lab.job_api),
        Route("/runs/{name}", lab.run_page),
        Route("/runs/{name}/events", lab.events),
        Route("/runs/{name}/stop", lab.stop, methods=["POST"]),
        Route("/runs/{name}/resume", lab.resume, methods=["POST"]),
        Route("/runs/{name}/{file}", lab.file),
        Route("/compare", lab.compare, methods=["POST"]),
        Route("/playground", lab.playground_page),
        Route("/playground", lab.playground_start, methods=["POST"]),
        Route("/static/{file}", lab.static),
        Route("/favicon.ico", lambda request: Response(status_code=204)),  # no icon: say so without a 404
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _error, Exception: _error})
    app.state.lab = lab
    return Guard(app, token)
