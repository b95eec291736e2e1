"""Imbalance end to end through the CLI: summary.json's class metrics, `show`, `compare --metric`,
eval.logit_adjust, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import trainlab.build as build
from trainlab.cli import main
from trainlab.config import as_config
from trainlab.errors import ConfigError
from trainlab.nn.losses import logit_adjustment

TINY = [
    "data.name=digits",
    "data.imbalance=exp(ratio=5)",
    "model.hidden=[16]",
    "train.epochs=2",
    "threads=1",
    "output.report=false",
    "train.checkpoint=false",
]


def test_train_show_and_compare_by_balanced_accuracy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "compare",
                *TINY,
                f"output.dir={tmp_path}",
                "data.sampler=uniform,balanced",
                "--metric",
                "balanced_accuracy",
                "--no-report",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "test balanced accuracy" in out.splitlines()[-4] and "* best test balanced accuracy" in out
    run_dir = next(p for p in next(tmp_path.glob("*-compare")).iterdir() if p.is_dir())
    s = json.loads((run_dir / "summary.json").read_text())
    assert {"test_balanced_accuracy", "test_macro_f1", "test_g_mean"} <= s.keys()
    assert set(s["per_class"]["0"]) == {"precision", "recall", "f1", "support"} and s["per_class"]["9"]["support"] == 36
    assert main(["show", str(run_dir)]) == 0
    shown = capsys.readouterr().out
    assert "classes  balanced accuracy" in shown and "per-class precision, recall and F1 (test)" in shown
    assert main(["compare", str(run_dir), "--metric", "balanced_acc", "--no-report"]) == 2
    assert "--metric 'balanced_acc' is not a final metric; choose one of:" in capsys.readouterr().err


def test_eval_logit_adjust_adds_minus_tau_log_prior_at_evaluation_only() -> None:
    cfg = as_config(None, [*TINY, "eval.logit_adjust=0.5"])
    s, trainer = build.build(cfg)
    counts = torch.bincount(s.data.train.y, minlength=10)
    x = s.data.test.x[:5]
    with torch.no_grad():
        raw = s.model.eval()(x)
    assert torch.allclose(trainer.outputs(x), raw + logit_adjustment(counts, 0.5), atol=1e-6)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (["data.name=line", "data.sampler=balanced"], "need class labels; line is a regression task"),
        (["data.imbalance=exp(ratio=0)"], "ratio must be >= 1"),
        (["data.sampler=sqrtt"], "unknown data sampler 'sqrtt'"),
        (["data.resample=both"], "data.resample"),
    ],
)
def test_bad_input_is_one_config_error(overrides: list[str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        build.setup(as_config(None, ["threads=1", *overrides]))
