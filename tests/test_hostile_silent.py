"""Values that used to be silently replaced, paths that used to end in a traceback, counts that used to be
unbounded (issue 29): each is refused in one line naming the value and the valid range, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainlab.classical import BASELINES
from trainlab.cli import main
from trainlab.comparisons.core import run_folder_name
from trainlab.config import load_config


def _one_line(capsys: pytest.CaptureFixture[str], argv: list[str], *needles: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


@pytest.mark.parametrize(
    ("spec", "needles"),
    [
        ("kmeans(k=0)", ("k=0 is out of range", "integer >= 1", "absent: one cluster per class")),
        ("kmeans(k=-3)", ("k=-3 is out of range",)),
        ("gradient_boosting(exact=true,max_depth=0)", ("max_depth=0 is out of range", "integer >= 1")),
        ("gradient_boosting(max_depth=0)", ("max_depth", "range [1, inf)")),
    ],
)
def test_baseline_values_a_default_used_to_replace_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spec: str, needles: tuple[str, ...]
) -> None:
    # on main kmeans(k=0) fitted 10 clusters (`k or classes`) and max_depth=0 fitted depth 3 (`max_depth or 3`)
    _one_line(capsys, ["baselines", spec, "data.name=digits", f"output.dir={tmp_path}"], *needles)
    assert not list(tmp_path.iterdir())  # refused before any run folder


def test_baseline_defaults_still_apply_when_the_value_is_absent_or_null() -> None:
    assert BASELINES.create("kmeans", n_jobs=1, seed=0, classes=7).n_clusters == 7
    assert BASELINES.create("kmeans(k=3)", n_jobs=1, seed=0, classes=7).n_clusters == 3
    assert BASELINES.create("gradient_boosting(exact=true)", n_jobs=1, seed=0, classes=2).max_depth == 3
    assert BASELINES.create("gradient_boosting(exact=true,max_depth=5)", n_jobs=1, seed=0, classes=2).max_depth == 5


@pytest.mark.parametrize("value", ["1e308", "11", "-1"])
def test_logit_adjust_is_bounded(tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str) -> None:
    # on main 1e308 trained to NaN losses and accuracy 0.10, exit 0
    _one_line(capsys, ["train", "data.name=digits", f"eval.logit_adjust={value}", f"output.dir={tmp_path}"], "range")
    assert load_config(None, ["eval.logit_adjust=10"]).eval.logit_adjust == 10.0


@pytest.mark.parametrize(
    ("out", "needle"), [("/etc/passwd/x", "'/etc/passwd' is a file"), ("/proc/x", "cannot create")]
)
def test_reproduce_out_that_cannot_be_created_is_one_line(
    capsys: pytest.CaptureFixture[str], out: str, needle: str
) -> None:
    if not Path("/etc/passwd").is_file() or not Path("/proc").is_dir():
        pytest.skip("needs /etc/passwd and /proc")
    _one_line(capsys, ["reproduce", "fashion-table3", "--quick", "--out", out], f"--out {out!r}", needle)


def test_a_compare_value_longer_than_a_file_name_trains_with_bounded_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deep = "[" + ",".join(["4"] * 150) + "]"  # 300 bytes in one KEY=VALUES argument
    argv = ["compare", f"model.hidden={deep},[8]", "data.name=digits", "data.limit=200", "train.epochs=1"]
    assert main([*argv, "threads=1", "--out", str(tmp_path), "--no-report", "--workers", "1"]) == 0
    assert "Traceback" not in capsys.readouterr().err
    (folder,) = tmp_path.iterdir()
    runs = sorted(p.name for p in folder.iterdir() if p.is_dir())
    assert len(runs) == 2 and all(len(name) <= 80 for name in runs), runs
    assert run_folder_name("hidden=" + deep, 0) != run_folder_name("hidden=" + deep[:-2] + "5]", 0)  # hashed whole


def test_compare_refuses_more_runs_than_its_limit_before_expanding(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # on main --seeds 10000 grew past 1.5 GB building the configs
    _one_line(
        capsys, ["compare", "model.act=relu,tanh", "--seeds", "10000"], "20000 runs", "limit is 1000", "--max-runs"
    )
    _one_line(capsys, ["compare", "model.act=relu,tanh", "--seeds", "3", "--max-runs", "5"], "6 runs", "limit is 5")
    monkeypatch.setenv("TRAINLAB_MAX_RUNS", "4")
    _one_line(capsys, ["compare", "model.act=relu,tanh,gelu", "optim.lr=0.1,0.01"], "6 runs", "limit is 4")
    monkeypatch.setenv("TRAINLAB_MAX_RUNS", "lots")
    _one_line(capsys, ["compare", "model.act=relu,tanh"], "TRAINLAB_MAX_RUNS='lots' must be a positive integer")
