"""Every security rule of the lab, at the HTTP level: token, CSRF, run names, body size, escaping, bad requests."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.lab.conftest import TOKEN


def fake_run(runs: Path, name: str, header: str = "h", status: str = "completed", data: str = "digits") -> Path:
    d = runs / name
    d.mkdir(parents=True)
    (d / "config.yaml").write_text(f"data:\n  name: {json.dumps(data)}\nmodel:\n  name: mlp\n")
    (d / "summary.json").write_text(json.dumps({"status": status, "header": header, "test_accuracy": 0.5}))
    (d / "report.html").write_text("<!doctype html><p>report</p>")
    return d


def test_no_token_or_wrong_token_is_refused(client) -> None:
    client.cookies.clear()
    for path in ("/", "/new", "/playground", "/static/lab.js", "/runs/x/events", "/api/jobs/1"):
        assert client.get(path).status_code == 403, path
    assert client.get("/", headers={"x-trainlab-token": "wrong"}).status_code == 403
    assert client.get("/?token=wrong").status_code == 403
    client.cookies.set("trainlab_lab_token", TOKEN[:-1])
    assert client.get("/").status_code == 403
    client.cookies.clear()
    assert client.post("/new", data={"action": "start"}).status_code == 403


def test_token_in_url_becomes_a_cookie_and_leaves_the_address(client) -> None:
    client.cookies.clear()
    r = client.get(f"/playground?data=moons&token={TOKEN}", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/playground?data=moons"
    cookie = r.headers["set-cookie"]
    assert f"trainlab_lab_token={TOKEN}" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    client.cookies.clear()
    assert client.get("/", headers={"x-trainlab-token": TOKEN}).status_code == 200
    assert client.get("/", headers={"authorization": f"token {TOKEN}"}).status_code == 200


def test_cross_site_posts_are_refused(client, tmp_path: Path) -> None:
    fake_run(tmp_path / "runs", "20250101-000000-a", status="interrupted")
    for headers in (
        {"origin": "http://evil.example"},
        {"origin": "http://127.0.0.1:9999"},
        {"origin": "null"},
        {"origin": "https://127.0.0.1:8765"},
    ):
        for path in (
            "/new",
            "/runs/20250101-000000-a/resume",
            "/runs/20250101-000000-a/stop",
            "/compare",
            "/playground",
        ):
            assert client.post(path, data={"action": "start"}, headers=headers).status_code == 403, (path, headers)
    del client.headers["origin"]  # neither Origin nor Referer: refused too
    assert client.post("/new", data={"action": "check"}).status_code == 403
    r = client.post("/new", data={"action": "check"}, headers={"referer": "http://127.0.0.1:8765/new"})
    assert r.status_code == 200
    assert client.get("/runs/20250101-000000-a/resume").status_code in (404, 405)  # GET never changes state
    assert not client.app.app.state.lab.pool.jobs  # and nothing above started a run


@pytest.mark.parametrize(
    "path",
    [
        "/runs/...",
        "/runs/%2e%2e",
        "/runs/%2E%2E/report.html",
        "/runs/..%2F..%2Fetc",
        "/runs/%2Fetc",
        "/runs/.lab",
        "/runs/outside",
        "/runs/nope",
        "/runs/20250101-000000-a/config.yaml",
        "/runs/20250101-000000-a/..%2F..%2Fsecret.txt",
        "/runs/20250101-000000-a/%2e%2e",
        "/runs/a%00b",
        "/runs/20250101-000000-a/linked.html",
    ],
)
def test_paths_outside_the_runs_folder_are_refused(client, tmp_path: Path, path: str) -> None:
    runs = tmp_path / "runs"
    d = fake_run(runs, "20250101-000000-a")
    (tmp_path / "secret.txt").write_text("SECRET")
    outside = tmp_path / "elsewhere"
    fake_run(tmp_path, "elsewhere")
    (outside / "report.html").write_text("SECRET")
    (runs / "outside").symlink_to(outside)  # a symlink out of the runs folder
    (d / "linked.html").symlink_to(tmp_path / "secret.txt")
    r = client.get(path)
    assert r.status_code == 404, (path, r.status_code)
    assert "SECRET" not in r.text
    assert client.get("/runs/20250101-000000-a/report.html").status_code == 200  # the real one is served


def test_compare_refuses_names_outside(client, tmp_path: Path) -> None:
    fake_run(tmp_path / "runs", "20250101-000000-a")
    for bad in ("../elsewhere", "/etc", str(tmp_path), "..", "%2e%2e"):
        r = client.post("/compare", data={"run": ["20250101-000000-a", bad]})
        assert r.status_code == 404, bad


def test_bodies_are_bounded(client) -> None:
    big = "x" * (70 * 1024)
    assert client.post("/new", data={"optim.lr": big}).status_code == 413
    # no Content-Length (chunked): counted as it arrives

    def chunks():
        for _ in range(100):
            yield b"a" * 1024

    r = client.post("/new", content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413
    assert client.post("/new", content=b"x", headers={"content-length": "-5"}).status_code == 413
    assert client.get("/").status_code == 200  # and the server goes on


def test_hostile_text_is_escaped(client, tmp_path: Path) -> None:
    evil = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    fake_run(tmp_path / "runs", "20250101-000000-evil", header=evil, data=evil)
    for path in ("/", "/runs/20250101-000000-evil", f"/?q={evil}", f"/playground?act={evil}"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert "<script>alert" not in r.text and "<img src=x" not in r.text, path
    page = client.get("/runs/20250101-000000-evil").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    r = client.post("/new", data={"data.name": evil, "action": "check"})
    assert r.status_code == 400 and "<script>alert" not in r.text


def test_pages_allow_only_same_origin_scripts(client) -> None:
    for path in ("/", "/new", "/playground"):
        r = client.get(path)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        assert "default-src 'none'" in csp
        scripts = re.findall(r"<script([^>]*)>", r.text)
        assert scripts and all('src="/static/' in s for s in scripts), scripts  # no inline script, no CDN
        assert "http://" not in "".join(scripts) and "https://" not in "".join(scripts)


def test_bad_requests_never_stop_the_server(client, tmp_path: Path) -> None:
    d = fake_run(tmp_path / "runs", "20250101-000000-bad")
    (d / "summary.json").write_text("{not json")  # damaged files are shown, not crashed on
    (d / "config.yaml").write_text(": : :\n\t- [")
    assert client.get("/").status_code == 200
    assert client.get("/runs/20250101-000000-bad").status_code == 200
    assert client.get("/api/jobs/nope").status_code == 404
    assert client.get("/runs/20250101-000000-bad/events?offset=-7").status_code == 200
    assert client.get("/", headers={"cookie": 'trainlab_lab_token="unterminated'}).status_code in (200, 403)
    assert client.post("/runs/20250101-000000-bad/resume").status_code == 409  # completed: nothing to resume
    assert client.get("/?sort=__class__&desc=9").status_code == 200
    assert client.get("/").status_code == 200


def test_form_shows_the_cli_message_beside_its_field(client) -> None:
    r = client.post("/new", data={"optim.lr": "-1", "action": "start"})
    assert r.status_code == 400
    m = re.search(r'id="error-optim.lr">([^<]*)<', r.text)
    assert m and "optim.lr=-1.0 is out of range; must be &gt;= 0.0" in m.group(1)
    r = client.post("/new", data={"data.name": "digitz", "action": "start"})
    m = re.search(r'id="error-data.name">([^<]*)<', r.text)
    assert m and "did you mean &#39;digits&#39;" in m.group(1)
    r = client.post("/new", data={"data.name": "digits", "optim.lr": "0.01", "action": "check"})
    assert r.status_code == 200
    assert "trainlab train data.name=digits optim.lr=0.01" in r.text


def test_form_lists_every_config_key_once_with_catalogue_names(client) -> None:
    from trainlab.config import describe_keys
    from trainlab.names import CATALOGUES

    page = client.get("/new").text
    for key, _, _ in describe_keys():
        assert page.count(f'name="{key}"') == 1, key
    for name, *_ in CATALOGUES["activations"]:
        assert f'<option value="{name}">' in page


def test_playground_settings_live_in_the_url(client) -> None:
    r = client.get("/playground?data=spirals&act=relu&lr=0.1&depth=3&width=5&noise=0.2")
    assert r.status_code == 200
    assert "&#39;data.name=spirals(noise=0.2)&#39;" in r.text and "model.hidden=[5,5,5]" in r.text
    assert 'id="link">' in r.text and "act=relu" in r.text
    r = client.get("/playground?lr=abc&act=nope")
    assert 'id="error-lr"' in r.text and 'id="error-act"' in r.text
