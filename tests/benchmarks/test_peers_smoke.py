"""Smoke test of benchmarks/peers.py: one tiny round (bare loop, trainlab, compute floor) on toy IDX files.

Benchmarks are not tests: nothing here asserts a time, only that the script runs end to end and
reports what it promises.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "peers.py"


def test_peers_runs_one_tiny_round(idx_dir: Path, tmp_path: Path) -> None:
    out_json = tmp_path / "peers.json"
    env = {**os.environ, "TRAINLAB_DECODED_CACHE": "0", "XDG_CACHE_HOME": str(tmp_path / "cache")}
    cmd = [
        sys.executable,
        str(SCRIPT),
        "--cases",
        "mlp",
        "--peers",
        "bare,trainlab",
        "--epochs",
        "1",
        "--rounds",
        "1",
        "--threads",
        "1",
        "--settings",
        "fixed",
        "--data-dir",
        str(idx_dir),
        "--json",
        str(out_json),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    report = done.stdout
    assert report.startswith("cpu: ") and "flags: " in report  # the machine, printed first
    assert (
        "### mlp (fixed)" in report
        and "(as-used)" not in report
        and "| bare | " in report
        and "| trainlab | " in report
        and "| floor (" in report
    )
    bare_row = next(line for line in report.splitlines() if line.startswith("| bare |"))
    cells = [c.strip() for c in bare_row.split("|")]
    assert cells[3] == "1.00" and cells[7] == "1.00"  # both ratio columns are relative to the bare loop
    records = json.loads(out_json.read_text())["records"]["fixed"]["mlp"]
    assert set(records) == {"bare", "trainlab", "floor"}
    for peer in ("bare", "trainlab"):
        (rec,) = records[peer]
        assert rec["threads"] == 1 and rec["epochs"] == 1 and rec["omp_wait_policy"] == "PASSIVE"
        assert rec["total"] > 0 and abs(rec["total"] - rec["load"] - rec["train"]) < 1e-6 and rec["wall"] > rec["total"]
        assert 0.0 <= rec["test_accuracy"] <= 1.0
    floor = records["floor"][0]
    assert floor["flops"] > 0 and floor["flop_per_s"] > 0
    assert not (tmp_path / "runs").exists()  # trainlab's run directory went to a temporary place


def test_unknown_case_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--cases", "huge"], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert done.returncode == 2 and "unknown case 'huge'" in done.stderr


def test_peers_as_used_lets_trainlab_decide(idx_dir: Path, tmp_path: Path) -> None:
    out_json = tmp_path / "peers.json"
    # the caller's OpenMP settings are removed: each peer runs with its own defaults
    env = {
        **os.environ,
        "TRAINLAB_DECODED_CACHE": "0",
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "OMP_NUM_THREADS": "1",
        "OMP_WAIT_POLICY": "FROM_CALLER",
    }
    cmd = [
        sys.executable,
        str(SCRIPT),
        "--cases",
        "mlp",
        "--peers",
        "trainlab",
        "--epochs",
        "1",
        "--rounds",
        "1",
        "--no-floor",
        "--settings",
        "as-used",
        "--data-dir",
        str(idx_dir),
        "--json",
        str(out_json),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "### mlp (as-used)" in done.stdout and "(fixed)" not in done.stdout
    (rec,) = json.loads(out_json.read_text())["records"]["as-used"]["mlp"]["trainlab"]
    assert rec["omp_wait_policy"] in ("ACTIVE", "PASSIVE")  # trainlab's own decision: the caller's variable was removed
    assert 1 <= rec["threads"] <= len(os.sched_getaffinity(0))
