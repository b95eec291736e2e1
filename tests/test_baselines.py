"""Classical baselines as ordinary runs: registry, config keys reaching the estimator, run directories,
one compare table with networks, the worker process and a clean Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import quick
from trainlab.classical import BASELINES, baselines, canonical, match_clusters, split_names
from trainlab.cli import main
from trainlab.comparisons import compare_runs, format_table
from trainlab.errors import ConfigError
from trainlab.runner import train
from trainlab.runs import load_run

SRC = Path(__file__).resolve().parents[1] / "src"


def test_registry_has_the_issue_list() -> None:
    assert set(BASELINES.names()) == {
        "logistic_regression",
        "linear_svm",
        "svc",
        "knn",
        "decision_tree",
        "random_forest",
        "gradient_boosting",
        "gaussian_nb",
        "perceptron",
        "mlp_classifier",
        "kmeans",
    }
    assert canonical("svc(C=10,kernel=rbf)") == "svc(C=10,kernel=rbf)"
    assert canonical("knn(3)") == "knn(k=3)"
    assert canonical("decision_tree(max_depth=null)") == "decision_tree(max_depth=null)"
    assert split_names("svc(C=10,kernel=rbf),knn") == ["svc(C=10,kernel=rbf)", "knn"]


@pytest.mark.parametrize(
    "names, needle", [("svm", "svc"), ("svc(c=1)", "'c'"), ("", "choose from"), ("svc(kernel=rbff)", "kernel.*'rbf'")]
)
def test_bad_names_fail_before_data_loads(names: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        baselines(names, overrides=["data.name=nonexistent"])


def test_keys_that_do_not_apply_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"optim.lr= does not apply.*seed, threads, data"):
        baselines("knn", overrides=["optim.lr=0.1"])


def test_match_clusters_undoes_a_permutation() -> None:
    labels = np.array([0, 0, 1, 1, 2, 2, 2])
    clusters = np.array([2, 2, 0, 0, 1, 1, 0])
    mapping = match_clusters(clusters, labels, 3, 3)
    assert mapping.tolist() == [1, 2, 0]
    assert (mapping[clusters] == labels).mean() == pytest.approx(6 / 7)


def test_baselines_are_ordinary_runs_and_compare_with_networks(runs_dir: Path) -> None:
    runs = baselines(
        "knn(k=3),gaussian_nb,kmeans",
        overrides=["data.name=digits", "data.limit=800", "threads=1", "seed=3", f"output.dir={runs_dir}"],
        isolate=False,
    )
    knn, nb, km = runs
    for r in runs:
        loaded = load_run(r.path)  # what `trainlab runs/show/compare` read
        s = loaded.summary
        assert s["kind"] == "baseline" and s["status"] == "completed"
        assert loaded.config.model.name == f"baseline({s['baseline']})" and loaded.config.seed == 3
        assert s["data"]["train"] == 720 and s["data"]["val"] == 80  # data.limit and the seeded split reach it
        assert sum(map(sum, s["confusion_matrix"])) == s["data"]["test"]
        assert len(s["per_class_accuracy"]) == 10 and s["fit_seconds"] >= 0
        assert (
            0 < s["test_macro_f1"] <= 1 and 0 < s["test_balanced_accuracy"] <= 1 and len(s["per_class"]) == 10
        )  # class_report, as networks
        assert (r.path / "report.html").is_file() and "versions" in s and "scikit-learn" in s["versions"]
    assert (
        knn.summary["estimator_params"]["n_neighbors"] == 3 and knn.summary["estimator_params"]["n_jobs"] == 1
    )  # inline k, threads -> n_jobs
    assert knn.summary["test_accuracy"] > 0.9 and nb.summary["test_accuracy"] > 0.6
    assert 0.3 < km.summary["adjusted_rand_index"] < 1 and km.summary["test_accuracy"] > 0.4
    net = train(quick(runs_dir, train__epochs=1, data__limit=800, seed=3))
    comp = compare_runs([knn.path, net.path], runs_dir, report=False)
    table = format_table(comp)
    assert "baseline(knn(k=3))" in table and "model.name=mlp" in table
    baseline_line = next(line for line in table.splitlines() if "baseline(knn" in line)
    assert "epochs" not in baseline_line and "hidden" not in baseline_line  # network keys mean nothing to a baseline


def test_network_train_refuses_a_baseline_config(runs_dir: Path) -> None:
    with pytest.raises(ConfigError, match="trainlab baselines"):
        train(quick(runs_dir, model__name="baseline(svc)"))


def test_worker_process_fits_and_cli_lists(runs_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "baselines",
                "gaussian_nb,perceptron",
                "data.name=digits",
                "data.limit=400",
                "threads=1",
                f"output.dir={runs_dir}",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "[1/2] gaussian_nb: fitting on 360 examples" in out and "perceptron" in out.split("baseline")[-1]
    assert main(["list", "baselines"]) == 0
    assert "svc(C, kernel, gamma, degree)" in capsys.readouterr().out
    assert main(["baselines", "svm", "data.name=digits"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "svc" in err


def test_ctrl_c_stops_a_long_fit_cleanly(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    cmd = [
        sys.executable,
        "-m",
        "trainlab",
        "baselines",
        "gradient_boosting(exact=true,max_iter=5000)",
        "data.name=digits",
        "threads=1",
        f"output.dir={out}",
    ]
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # a background shell may ignore SIGINT
    deadline = time.time() + 60
    while time.time() < deadline and not list(out.glob("*/summary.json")):
        time.sleep(0.2)
    time.sleep(2)  # inside the fit by now
    t0 = time.time()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert time.time() - t0 < 10  # stopped at once, not after the 5000 trees
    (summary,) = out.glob("*/summary.json")
    s = json.loads(summary.read_text())
    assert s["status"] == "interrupted" and s["interrupted_by"] == "SIGINT"
    assert "Traceback" not in err
