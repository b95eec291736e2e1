"""`trainlab doctor` and `trainlab lr-find` from the command line: output and exit codes."""

from __future__ import annotations

from pathlib import Path

from trainlab.cli import main

FAST = ["--lr-steps", "20", "--overfit-steps", "200"]


def test_doctor_passes_a_healthy_config(tmp_path: Path, capsys) -> None:
    code = main(["doctor", *FAST, "--plot", str(tmp_path / "lr.png"), "data.name=digits", "threads=1", "optim.lr=0.01"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.count("✓") == 8 and "8/8 checks passed" in out and (tmp_path / "lr.png").is_file()
    assert "initial loss" in out and "expected 2.3026 = ln(10)" in out and "suggested lr" in out


def test_doctor_fails_deep_tanh_with_tiny_init_and_names_layers(tmp_path: Path, capsys) -> None:
    args = [
        "doctor",
        *FAST,
        "--plot",
        str(tmp_path / "lr.png"),
        "data.name=digits",
        "threads=1",
        "model.act=tanh",
        "model.init=normal(std=0.01)",
        "model.hidden=[64,64,64,64,64,64,64,64,64]",
    ]
    code = main(args)
    out = capsys.readouterr().out
    assert code == 1
    assert "✗ gradient flow at init" in out and "vanishing gradients in fc1" in out
    assert "✗ activations at init" in out and "vanishing activations in fc2, act2, fc3, act3" in out
    assert "failed: " in out


def test_lr_find_prints_suggestion_and_plot(tmp_path: Path, capsys) -> None:
    plot = tmp_path / "lr.png"
    code = main(["lr-find", "--steps", "40", "--start", "1e-5", "--plot", str(plot), "data.name=digits", "threads=1"])
    out = capsys.readouterr().out
    assert code == 0 and "suggested lr" in out and f"plot: {plot}" in out
    assert plot.is_file() and plot.with_suffix(".csv").is_file()


def test_doctor_bad_option_is_one_line(capsys) -> None:
    assert main(["doctor", "--lr-steps", "1", "data.name=digits"]) == 2
    assert "--lr-steps=1" in capsys.readouterr().err


def test_lr_find_cli_trains_with_the_builders_trainer(tmp_path: Path, capsys, monkeypatch) -> None:
    import trainlab.build as build  # the one place a Trainer is made: the CLI's range test must come through it

    made: list = []
    original = build.make_trainer
    monkeypatch.setattr(build, "make_trainer", lambda s, cbs=(): made.append(original(s, cbs)) or made[-1])
    keys = [
        "data.name=digits",
        "threads=1",
        "train.precision=bf16",
        "loss.l1=1e-4",
        "optim.clip_grad=1.0",
        "data.imbalance=exp(ratio=5)",
        "data.sampler=balanced",
        "data.augment=[noise(std=0.01)]",
    ]
    code = main(["lr-find", "--steps", "20", "--start", "1e-4", "--plot", str(tmp_path / "lr.png"), *keys])
    assert code in (0, 1) and "lr range test:" in capsys.readouterr().out
    (t,) = made
    assert (t.precision, t.l1, t.clip_grad) == ("bf16", 1e-4, 1.0)
    assert t.sampler is not None and t.augment is not None
