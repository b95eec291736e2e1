"""Hostile and careless config input: one-line errors with the bad value and the choices, never a traceback."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trainlab.cli import main
from trainlab.config import Config, describe_keys, load_config
from trainlab.errors import ConfigError, TrainlabError
from trainlab.registry import parse_spec


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.lr=-0.1", "optim.lr=-0.1 is out of range; must be >= 0"),
        ("train.epochs=0", "train.epochs=0 is out of range; must be >= 1"),
        ("model.dropout=1.5", "model.dropout=1.5 is out of range; must be <= 0.99"),
        ("optim.lr=nan", "optim.lr='nan' has the wrong type; expected float"),
        ("train.epochs=ten", "train.epochs='ten' has the wrong type; expected int"),
        ("train.epochs=2.5", "train.epochs=2.5 has the wrong type; expected int"),
        ("train.checkpoint=maybe", "train.checkpoint='maybe' has the wrong type; expected bool"),
        ("optim.batch_size=half", "optim.batch_size='half' is not allowed; use a positive integer or 'full'"),
        ("model.hidden=[64,-1]", "model.hidden=[64, -1] must be a list of positive integers"),
        ("train.monitor=val_los", "train.monitor='val_los' is not allowed (did you mean 'val_loss'?)"),
        ("optim.lrr=0.1", "unknown config key 'optim.lrr' (did you mean 'optim.lr'?); try: optim.lr=0.1"),
        ("trian.epochs=3", "unknown config key 'trian' (did you mean 'train'?)"),
        ("optim=3", "optim must be a mapping of keys to values, got 3"),
        ("epochs", "cannot read override 'epochs': expected key=value"),
        ("train.checkpoint_every=-5", "train.checkpoint_every=-5 is out of range; must be >= 0"),
    ],
)
def test_bad_values_name_key_value_and_rule(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, [override])
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_numbers_from_yaml_or_python(value: float) -> None:
    with pytest.raises(ConfigError, match=f"optim.lr={value} must be a finite number"):
        load_config(None, {"optim.lr": value})


def test_bad_yaml_files(tmp_path: Path) -> None:
    cases = {
        "broken.yaml": ("optim: {lr: [1,\n", "is not valid YAML at line"),
        "list.yaml": ("- 1\n- 2\n", "must hold a mapping of keys, got list"),
        "binary.yaml": (b"\xff\xfe\x00junk", "cannot read config file"),
    }
    for name, (content, message) in cases.items():
        p = tmp_path / name
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
        with pytest.raises(ConfigError, match=message):
            load_config(p)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_cli_bad_config_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["train", "optim.lr=-1", f"output.dir={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert err == "error: optim.lr=-1.0 is out of range; must be >= 0.0\n"
    assert main(["train", "--resume", str(tmp_path / "nothing")]) == 2
    assert "no such run directory or checkpoint file" in capsys.readouterr().err


# -- property-based: any mapping yields a Config or a ConfigError, nothing else ---------------------

KEYS = [k for k, _, _ in describe_keys()]
SECTIONS = sorted({k.split(".")[0] for k in KEYS if "." in k})
values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=2),
    max_leaves=6,
)
keys = st.sampled_from(KEYS) | st.text(max_size=10) | st.sampled_from([k + "x" for k in KEYS[:8]])


def _nest(flat: dict[str, object]) -> dict:
    out: dict = {}
    for key, value in flat.items():
        node, parts = out, key.split(".")
        for p in parts[:-1]:
            nxt = node.setdefault(p, {})
            if not isinstance(nxt, dict):
                break
            node = nxt
        else:
            node[parts[-1]] = value
    return out


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(keys, values, max_size=5))
def test_any_mapping_gives_config_or_config_error(flat: dict[str, object]) -> None:
    try:
        cfg = Config.from_dict(_nest(flat))
    except ConfigError as exc:
        assert "\n" not in str(exc)
        return
    for f in dataclasses.fields(cfg):  # what validation let through obeys the schema
        assert f.name in {"seed", "device", "threads", *SECTIONS}
    assert cfg.train.epochs >= 1 and math.isfinite(cfg.optim.lr) and cfg.optim.lr >= 0
    assert Config.from_dict(cfg.to_dict()) == cfg  # a saved config reloads to itself


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.text(max_size=30) | st.builds(lambda k, v: f"{k}={v}", st.sampled_from(KEYS), st.text(max_size=15)),
        max_size=4,
    )
)
def test_any_override_strings_give_config_or_trainlab_error(items: list[str]) -> None:
    try:
        load_config(None, items)
    except TrainlabError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=40))
def test_any_spec_text_parses_or_config_error(text: str) -> None:
    try:
        parse_spec(text)
    except ConfigError:
        pass


# -- issue 13: values that used to crash (traceback, segfault) or be silently misread ---------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["seed=99999999999999999999"], "seed=99999999999999999999 is out of range; must be <= 9223372036854775807"),
        ([f"seed={2**64}"], f"seed={2**64} is out of range; must be <= 9223372036854775807"),
        (["threads=100000"], "threads=100000 is out of range; must be <= 1024"),
        (["data.name=spirals(classes=0)"], "data set 'spirals(classes=0)': classes=0 is out of range; must be >= 2"),
        (["data.name=xor(test=0)"], "data set 'xor(test=0)': test=0 is out of range; must be >= 1"),
        (["data.name=blobs(classes=1)"], "data set 'blobs(classes=1)': classes=1 is out of range; must be >= 2"),
        (["data.name=xor(size=abc)"], "data set 'xor(size=abc)': size='abc' must be an integer"),
        (["data.name=xor(size=100000000000)"], "size=100000000000 is out of range; must be <= 10000000"),
        (["data.name=xor", "model.init=normal(std=-1)"], "init 'normal(std=-1)': std=-1 is out of range; must be >= 0"),
        (["data.name=xor", "model.init=normal(std=nan)"], "init 'normal(std=nan)': std='nan' must be a number"),
        (
            ["data.name=xor", "model.init=normal(std=.inf)"],
            "init 'normal(std=.inf)': std=inf must be a finite number >= 0",
        ),
        (["data.name=xor", "model.bias_init=constant(abc)"], "bias init 'constant(abc)': value='abc' must be a number"),
        (
            ["data.name=xor", "data.val=1.5"],
            "data.val=1.5 is neither a fraction in (0, 1) nor a whole number of examples",
        ),
        (["data.name=xor", "data.val=0.0001"], "data.val=0.0001 of 400 training examples rounds to 0 examples"),
    ],
)
@pytest.mark.parametrize("command", ["train", "summary"])
def test_issue13_bad_values_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture, command: str, args: list[str], message: str
) -> None:
    assert (
        main(
            [
                command,
                *args,
                f"output.dir={tmp_path / 'runs'}",
                "threads=1" if "threads" not in args[0] else "train.epochs=1",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "runs").exists()  # refused before a run directory is made


def test_val_count_and_fraction_still_work(tmp_path: Path) -> None:
    assert load_config(None, ["data.val=0.25"]).data.val == 0.25
    assert load_config(None, ["data.val=40"]).data.val == 40
    assert load_config(None, ["data.val=1e3"]).data.val == 1000
    assert load_config(None, ["data.val=0"]).data.val == 0


def test_resume_with_an_empty_run_name_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a default run would land in ./runs
    assert main(["train", "--resume", ""]) == 2
    assert (
        capsys.readouterr().err
        == "error: --resume needs a run: its directory, its checkpoint.pt or its name under runs/\n"
    )
    assert main(["train", "--resume", "  "]) == 2
    assert main(["train", "--force-unlock", "data.name=xor"]) == 2
    assert "--force-unlock goes with --resume RUN" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
