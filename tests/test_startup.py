"""Commands that only print (help, version, list, runs, show) import no torch, scikit-learn,
matplotlib or Optuna; the light name table they list from equals the live registries."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

import trainlab
from trainlab import names
from trainlab.cli import build_parser, catalog

HEAVY = ("torch", "sklearn", "matplotlib", "optuna", "numpy", "scipy", "jinja2", "safetensors")
SRC = str(Path(trainlab.__file__).resolve().parents[1])

# runs the CLI in a fresh interpreter, then prints the heavy packages it loaded on its last line
PROBE = f"""
import runpy, sys
sys.argv = ["trainlab", *sys.argv[1:]]
try:
    runpy.run_module("trainlab", run_name="__main__")
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print("LOADED", code, ",".join(m for m in {HEAVY!r} if m in sys.modules))
"""


def loaded(args: list[str], cwd: Path) -> tuple[int, set[str], str]:
    """(exit code, heavy packages imported, output) of ``trainlab ARGS`` in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    last = proc.stdout.strip().splitlines()[-1].split(" ", 2)
    assert last[0] == "LOADED", proc.stdout + proc.stderr
    return (
        int(last[1] or 0),
        set(filter(None, last[2].split(","))) if len(last) > 2 else set(),
        proc.stdout + proc.stderr,
    )


def subcommands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every (sub)command path of the CLI: ``("train",)``, ``("data", "get")``, ..."""
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out += [(*prefix, name), *subcommands(sub, (*prefix, name))]
    return out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run (xor, one epoch) under a temporary runs/ folder."""
    root = tmp_path_factory.mktemp("startup")
    cfg = {
        "data": {"name": "xor"},
        "model": {"hidden": [4]},
        "train": {"epochs": 1},
        "threads": 1,
        "output": {"dir": str(root / "runs"), "report": False},
    }
    run = trainlab.train(cfg, progress=False, handle_signals=False)
    assert run.summary["status"] == "completed"
    return run.path


def test_light_table_equals_the_registries() -> None:
    """trainlab/names.py lists exactly the live registries' names, parameters and help (no drift)."""
    live = catalog.live_table()
    assert list(names.CATALOGUES) == list(live), "rewrite the table: python -m trainlab.cli.catalog"
    for kind, rows in live.items():
        assert names.CATALOGUES[kind] == rows, (
            f"{kind} differs from its registry; rewrite the table: python -m trainlab.cli.catalog"
        )
        assert catalog.help_lines(names.CATALOGUES[kind]) == catalog.catalogs()[kind].help_lines()
    assert names.LESSON_ORDER == catalog.live_lesson_order()
    assert names.CATALOGUES.keys() >= {
        "models",
        "activations",
        "losses",
        "inits",
        "norms",
        "optimizers",
        "schedules",
        "datasets",
        "preprocess",
        "baselines",
        "lessons",
    }


def test_table_source_round_trips() -> None:
    """The writer's text, executed, gives the live table (what `python -m trainlab.cli.catalog` writes)."""
    space: dict = {}
    exec(catalog.table_source(), space)  # noqa: S102 - our own generated text
    assert space["CATALOGUES"] == catalog.live_table()


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["--version"],
        [],
        ["list", "models"],
        ["list", "baselines"],
        ["list", "lessons"],
        ["list", "keys"],
        ["lesson", "list"],
        *([*path, "--help"] for path in subcommands(build_parser())),
    ],
)
def test_printing_commands_load_no_heavy_library(args: list[str], tmp_path: Path) -> None:
    code, heavy, out = loaded(args, tmp_path)
    assert code == 0, out
    assert not heavy & {"torch", "sklearn", "matplotlib", "optuna", "scipy"}, (
        f"trainlab {' '.join(args)} imported {sorted(heavy)}"
    )
    if args != ["list", "keys"]:  # the config schema (list keys) reads YAML; the rest need none of it
        assert not heavy, f"trainlab {' '.join(args)} imported {sorted(heavy)}"


def test_list_prints_the_table(tmp_path: Path) -> None:
    code, _, out = loaded(["list", "activations"], tmp_path)
    assert code == 0 and "leaky_relu(slope)" in out
    code, _, out = loaded(["lesson", "list"], tmp_path)
    assert code == 0 and out.index("nonlinearity") < out.index("cnn")  # course order


def test_bad_kind_is_refused_without_torch(tmp_path: Path) -> None:
    code, heavy, out = loaded(["list", "activation"], tmp_path)
    assert code == 2 and "unknown value 'activation' (did you mean activations" in out
    assert "torch" not in heavy


def test_runs_and_show_load_no_torch(run_dir: Path) -> None:
    parent = run_dir.parent
    code, heavy, out = loaded(["runs", str(parent)], parent)
    assert code == 0 and run_dir.name in out and "completed" in out, out
    assert not heavy & {"torch", "sklearn", "matplotlib", "optuna", "numpy", "scipy"}, sorted(heavy)
    code, heavy, out = loaded(["show", str(run_dir)], parent)
    assert code == 0 and "status   completed" in out, out
    assert not heavy & {"torch", "sklearn", "matplotlib", "optuna", "numpy", "scipy"}, sorted(heavy)
