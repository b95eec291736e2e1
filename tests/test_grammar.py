"""One grammar for every command (issue 31): options and key=value overrides in any order, threads=
and friends as config keys everywhere, one-line usage errors; presets by name from any folder; each
run kind's answer first in ``show`` and ``runs``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import trainlab
from trainlab.cli import build_parser, main
from trainlab.cli.compare import threads_said
from trainlab.cli.grammar import GRAMMAR
from trainlab.cli.headline import headline
from trainlab.config import PRESETS, config_path, load_config, presets, read_yaml
from trainlab.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def one_error(capsys: pytest.CaptureFixture[str]) -> str:
    """The command's stderr, checked to be one line starting with ``error: ``."""
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err.strip()


def command_paths() -> list[list[str]]:
    """Every (sub)command of the CLI as the words that name it: ["train"], ["data", "get"], ..."""
    out = []

    def walk(parser: Any, prefix: list[str]) -> None:
        for action in parser._actions:
            if action.__class__.__name__ == "_SubParsersAction":
                for name, sub in action.choices.items():
                    out.append([*prefix, name])
                    walk(sub, [*prefix, name])

    walk(build_parser(), [])
    return out


@pytest.fixture(scope="module")
def xor_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run (xor, one epoch, one thread) under a temporary runs/ folder."""
    root = tmp_path_factory.mktemp("grammar")
    cfg = {
        "data": {"name": "xor"},
        "model": {"hidden": [4]},
        "train": {"epochs": 1},
        "threads": 1,
        "output": {"dir": str(root / "runs"), "report": False},
    }
    return trainlab.train(cfg, progress=False, handle_signals=False).path


# -- options and key=value in any order ----------------------------------------------------------


def test_compare_takes_the_issues_command_line(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    """The README's compare, with --metric before threads=1, reaches compare with every key=value."""
    seen: dict[str, Any] = {}

    def fake_compare(items: list[str], base: Any, options: Any) -> Any:
        seen.update(items=items, base=base)
        raise ConfigError("stop here")

    monkeypatch.setattr("trainlab.comparisons.compare", fake_compare)
    args = [
        "compare",
        "loss.name=cross_entropy,logit_adjusted",
        "data.imbalance=exp(ratio=100)",
        "--metric",
        "balanced_accuracy",
        "threads=1",
    ]
    assert main(args) == 2 and "stop here" in one_error(capsys)
    assert seen["items"] == ["loss.name=cross_entropy,logit_adjusted", "data.imbalance=exp(ratio=100)", "threads=1"]
    # the same with the options first, and mixed
    assert main(["compare", "--metric", "balanced_accuracy", "--seeds", "1", *args[1:3], "threads=1"]) == 2
    assert seen["items"][-1] == "threads=1"


def test_train_options_and_overrides_in_any_order(capsys: pytest.CaptureFixture[str]) -> None:
    """summary (as train) reads overrides before, between and after options."""
    for args in (
        ["summary", "model.hidden=[8]", "--data-dir", "/tmp", "data.name=digits"],
        ["summary", "--data-dir", "/tmp", "data.name=digits", "model.hidden=[8]"],
        ["summary", "data.name=digits", "model.hidden=[8]", "--data-dir", "/tmp"],
    ):
        assert main(args) == 0
        assert "total parameters 610" in capsys.readouterr().out  # 64*8+8 + 8*10+10


def test_reproduce_takes_threads_as_a_key_and_an_option(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    """threads=1 and --threads 1 mean the same; output.dir= is --out; two different values are refused."""
    calls: list[tuple] = []

    def fake(name: str, quick: bool, out: str, threads: int, *rest: Any) -> Any:
        calls.append((name, quick, out, threads))
        raise ConfigError("stop here")

    monkeypatch.setattr("trainlab.reproductions.reproduce", fake)
    assert main(["reproduce", "babysitting", "threads=1"]) == 2
    assert main(["reproduce", "threads=1", "babysitting", "--quick", "output.dir=out"]) == 2
    assert main(["reproduce", "babysitting", "--threads", "1", "--out", "o2"]) == 2
    assert main(["reproduce", "babysitting"]) == 2
    assert calls == [
        ("babysitting", False, "runs", 1),
        ("babysitting", True, "out", 1),
        ("babysitting", False, "o2", 1),
        ("babysitting", False, "runs", 0),
    ]
    capsys.readouterr()
    assert main(["reproduce", "babysitting", "--threads", "2", "threads=1"]) == 2
    assert "--threads 2 and threads=1 disagree" in one_error(capsys)
    assert main(["reproduce", "babysitting", "thread=1"]) == 2
    assert one_error(capsys) == (
        "error: trainlab reproduce takes no thread= (did you mean threads?); its keys: threads=, output.dir="
    )
    assert main(["reproduce", "babysitting", "threads=many"]) == 2
    assert "threads" in one_error(capsys)
    assert len(calls) == 4


def test_eval_takes_threads_as_a_key(xor_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`trainlab eval RUN threads=1` evaluates (before or after the options), as the run's own numbers."""
    assert main(["eval", str(xor_run), "--split", "val"]) == 0
    plain = capsys.readouterr().out
    assert main(["eval", "threads=1", str(xor_run), "--split", "val", "device=cpu"]) == 0
    assert capsys.readouterr().out == plain and "val (" in plain
    assert main(["eval", str(xor_run), "optim.lr=0.1"]) == 2
    assert "trainlab eval takes no optim.lr=" in one_error(capsys)


def test_runs_show_report_take_output_dir(xor_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """output.dir=DIR names the parent of runs for runs, show and report, as DIR does for runs."""
    parent = str(xor_run.parent)
    assert main(["runs", f"output.dir={parent}"]) == 0
    out = capsys.readouterr().out
    assert xor_run.name in out
    assert main(["runs", parent]) == 0 and capsys.readouterr().out == out
    assert main(["show", xor_run.name, f"output.dir={parent}"]) == 0
    assert f"run      {xor_run}" in capsys.readouterr().out
    assert main(["show", f"output.dir={parent}", "--no-confusion"]) == 0  # the latest run there
    assert f"run      {xor_run}" in capsys.readouterr().out


def test_lesson_options_after_and_before_overrides(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    """lesson NAME, options and overrides in any order reach the lesson."""
    seen: list[tuple] = []

    def fake(name: str, quick: bool, overrides: list[str], out_dir: Any, log: Any, stack: bool) -> Any:
        seen.append((name, quick, overrides, out_dir, stack))
        raise ConfigError("stop here")

    monkeypatch.setattr("trainlab.lessons.run_lesson", fake)
    assert main(["lesson", "init", "seed=1", "--quick", "threads=1", "--out", "x", "--no-stack"]) == 2
    assert main(["lesson", "--quick", "init", "seed=1", "threads=1", "--no-stack", "--out", "x"]) == 2
    assert seen == [("init", True, ["seed=1", "threads=1"], "x", False)] * 2


# -- one-line usage errors -----------------------------------------------------------------------


def test_unknown_option_names_close_matches_and_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "model.act=relu,tanh", "--metrc", "balanced_accuracy", "threads=1"]) == 2
    err = one_error(capsys)
    assert err.startswith("error: trainlab compare: unknown option --metrc (did you mean --metric?); its options:")
    for option in ("--config", "--seeds", "--workers", "--metric", "--no-stack"):
        assert option in err
    assert main(["trian", "data.name=digits"]) == 2
    assert one_error(capsys).startswith("error: trainlab: unknown command 'trian' (did you mean train?); commands:")
    assert main(["eval", "x", "--split", "tset"]) == 2
    assert "--split: unknown value 'tset' (did you mean test?); choose one of: train, val, test" in one_error(capsys)
    assert main(["list", "keys", "threads=1"]) == 2
    assert "trainlab list: takes no key=value overrides, got threads=1" in one_error(capsys)


@pytest.mark.parametrize("path", command_paths(), ids=" ".join)
def test_every_command_says_a_bad_option_in_one_line(path: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """No command prints argparse's two lines of usage: each error is one line naming the command."""
    assert main([*path, "--no-such-option"]) == 2
    err = one_error(capsys)
    assert err.startswith(f"error: trainlab {' '.join(path)}: "), err
    assert "unknown option --no-such-option" in err or "required" in err


def test_help_shows_the_grammar_once(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.count(GRAMMAR.splitlines()[0]) == 1 and "in any order" in out


# -- presets -------------------------------------------------------------------------------------


def test_presets_by_name_from_any_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.chdir(tmp_path)
    reference = load_config(PRESETS / "seed-mlp.yaml")
    for spelling in ("seed-mlp", "seed-mlp.yaml", "configs/seed-mlp.yaml"):
        assert load_config(spelling) == reference
    assert main(["summary", "--config", "cnn-fashion"]) == 0
    assert "conv" in capsys.readouterr().out
    (tmp_path / "seed-mlp.yaml").write_text("seed: 7\n")  # a file of that name here wins over the preset
    assert load_config("seed-mlp.yaml").seed == 7


def test_a_missing_config_says_where_presets_live(tmp_path: Path, monkeypatch: Any, capsys: Any) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--config", "seed_mlp"]) == 2
    err = one_error(capsys)
    assert "config file 'seed_mlp' not found (did you mean 'seed-mlp'?); try: --config seed-mlp" in err
    assert str(PRESETS) in err and all(name in err for name in presets())
    with pytest.raises(ConfigError, match="try: trainlab sweep sweep-mlp"):
        config_path("sweep_mlp", "trainlab sweep")


def test_list_presets_one_line_each(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = sorted(p.stem for p in PRESETS.glob("*.yaml"))
    assert [line.split()[0] for line in lines[:-1]] == names and len(names) >= 5
    for line in lines[:-1]:  # each with the first comment line of its file
        name, help_ = line.split(None, 1)
        first = (PRESETS / f"{name}.yaml").read_text().splitlines()[0]
        assert first == f"# {help_.strip()}"


def test_presets_are_package_data_and_configs_points_at_them() -> None:
    # pyproject's [tool.setuptools.package-data] line for trainlab (tomllib is Python 3.11+)
    line = next(ln for ln in (ROOT / "pyproject.toml").read_text().splitlines() if ln.startswith("trainlab = ["))
    assert '"presets/*.yaml"' in line
    assert PRESETS == Path(trainlab.__file__).parent / "presets"
    assert (ROOT / "configs" / "seed-mlp.yaml").resolve() == (PRESETS / "seed-mlp.yaml").resolve()


def test_sweep_preset_by_name_keeps_its_base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`trainlab sweep sweep-mlp` from any folder: the preset, and its `base:` relative to it."""
    from trainlab.cli.sweep import _split_items
    from trainlab.sweeps.preset import load_preset

    monkeypatch.chdir(tmp_path)
    for spelling in ("sweep-mlp", "configs/sweep-mlp.yaml"):
        preset, rest = _split_items([spelling, "optim.lr=choice(0.1,0.01)"])
        assert Path(preset) == PRESETS / "sweep-mlp.yaml" and rest == ["optim.lr=choice(0.1,0.01)"]
    spec = load_preset(preset)
    assert spec.base_config().model.hidden == read_yaml(PRESETS / "seed-mlp.yaml")["model"]["hidden"]


# -- the answer first ----------------------------------------------------------------------------


def test_headline_of_each_run_kind() -> None:
    probe = {"linear_probe": {"1%": 0.43, "10%": 0.91, "100%": 0.96}, "knn": 0.95}
    pretraining = {"test_loss": 2.52, "representation": {"train_labels": 10, "pretrained": probe}}
    assert headline(pretraining) == (
        "linear probe accuracy with 1% 0.4300  10% 0.9100  100% 0.9600 of the labels, kNN 0.9500"
    )
    assert headline(pretraining, short=True) == "probe 1%:0.430 10%:0.910 100%:0.960"
    regression = {"test_loss": 0.3, "test_mse": 0.3, "test_mae": 0.5, "test_r2": 0.71}
    assert headline(regression) == "test R² 0.7100 (MSE 0.3000, MAE 0.5000)"
    classes = {"test_accuracy": 0.9, "test_balanced_accuracy": 0.6, "test_loss": 0.4}
    assert headline(classes) == "test accuracy 0.9000"
    assert headline(classes, imbalanced=True) == "test balanced accuracy 0.6000 (accuracy 0.9000)"
    assert headline({"status": "failed"}) == "-"


def test_show_and_runs_lead_with_the_answer(xor_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = trainlab.load_run(xor_run).summary
    assert main(["show", str(xor_run)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2] == f"answer   test accuracy {s['test_accuracy']:.4f}"
    assert main(["runs", str(xor_run.parent)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[4] == "answer" and f"acc {s['test_accuracy']:.4f}" in out[1]


def test_compare_header_says_the_threads_the_runs_were_told() -> None:
    base = load_config(None, ["threads=3"])
    assert threads_said(["model.act=relu,tanh", "threads=1"], base, 1) == "1 thread per run"
    assert threads_said(["model.act=relu,tanh"], base, 1) == "3 threads per run"
    assert threads_said(["model.act=relu,tanh"], base, 2) == "1 thread each"
    assert threads_said(["threads=0"], base, 1).startswith("threads=0: all ")
