"""The trainlab command end to end in a temporary directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from trainlab.cli import main


def trainlab_cmd(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, "-m", "trainlab", *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=300
    )


def test_train_runs_eval_end_to_end(tmp_path: Path, idx_dir: Path) -> None:
    r = trainlab_cmd(
        "train", "--data-dir", str(idx_dir), "model.hidden=[32]", "train.epochs=2", "threads=1", cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0].startswith(
        "data fashion-mnist (270 train / 30 val / 100 test, 1x28x28, 10 classes) | model mlp 784-32-10"
    )
    assert "device cpu | threads 1" in out[0]
    assert out[1].startswith("initial loss ") and "expected 2.3026 = ln(10)" in out[1]
    assert out[2].startswith("epoch 1/2  loss ") and "val_acc" in out[2]
    assert out[-3].startswith("test accuracy ") and out[-1].startswith("run saved in runs/")
    assert out[-2] == f"report: {out[-1].split()[-1]}/report.html"
    run_dir = tmp_path / out[-1].split()[-1]
    assert (run_dir / "summary.json").is_file()
    r = trainlab_cmd("runs", cwd=tmp_path)
    assert r.returncode == 0 and run_dir.name in r.stdout and "completed" in r.stdout
    r = trainlab_cmd("eval", str(run_dir), "--split", "val", "--data-dir", str(idx_dir), cwd=tmp_path)
    assert r.returncode == 0 and "val (30 examples)" in r.stdout and "accuracy" in r.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["train", "model.act=relu6"],
            "error: model.act: unknown activation 'relu6' (did you mean 'relu'?); try: model.act=relu",
        ),
        (["train", "data.name=cifar"], "error: data.name: unknown data set 'cifar'"),
        (["train", "optim.lr=fast"], "error: optim.lr='fast' has the wrong type"),
        (["train", "--data-dir", "/nonexistent", "data.name=mnist"], "trainlab data get mnist"),
        (["train", "--config", "/nonexistent.yaml"], "error: config file '/nonexistent.yaml' not found"),
        (["eval", "/nonexistent"], "is not a run directory"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("TRAINLAB_DATA", raising=False)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_corrupt_data_file_is_reported(
    tmp_path: Path, idx_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    f = idx_dir / "train-images-idx3-ubyte.gz"
    f.write_bytes(f.read_bytes()[:200])
    assert main(["train", "--data-dir", str(idx_dir)]) == 2
    assert "corrupt or truncated gzip" in capsys.readouterr().err


def test_help_and_listings(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for cmd in ("train", "eval", "runs", "summary", "list", "data"):
        assert cmd in text
    assert main(["list", "activations"]) == 0
    assert "leaky_relu(slope)" in capsys.readouterr().out
    assert main(["list", "keys"]) == 0
    assert "optim.lr" in capsys.readouterr().out
    assert main(["summary", "data.name=digits"]) == 0
    out = capsys.readouterr().out
    assert "fc1" in out and "(256,)" in out and "total parameters 19,210" in out


def test_overrides_may_follow_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "data.name=digits", "--data-dir", "/tmp", "model.hidden=[8]"]) == 0
    assert "total parameters 610" in capsys.readouterr().out  # 64*8+8 + 8*10+10: both overrides applied
    assert main(["summary", "--bogus"]) == 2  # one line naming the options (tests/test_grammar.py)
