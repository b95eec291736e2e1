"""Config: YAML + dotted overrides, validation messages, the resolved config reproduces a run."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainlab.config import Config, describe_keys, load_config, parse_overrides
from trainlab.errors import ConfigError
from trainlab.registry import Spec

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_are_the_reference_recipe() -> None:
    assert load_config(ROOT / "configs" / "seed-mlp.yaml") == Config().replace(**{"loss.name": "cross_entropy"})
    c = Config()
    assert (c.model.name, c.model.hidden, c.model.act, c.model.init, c.model.bias_init) == (
        "mlp",
        [256],
        "relu",
        "kaiming_normal",
        "zeros",
    )
    assert (c.optim.name, c.optim.lr, c.optim.batch_size, c.train.epochs, c.seed) == ("adam", 1e-3, 256, 10, 0)
    assert c.data.name == "fashion-mnist" and c.output.dir == "runs"


def test_overrides_parse_numbers_lists_and_specs() -> None:
    c = load_config(
        None,
        [
            "model.hidden=[512,256]",
            "optim.lr=3e-4",
            "data.name=digits",
            "model.act=leaky_relu(0.1)",
            "data.limit=100",
            "optim.batch_size=full",
        ],
    )
    assert c.model.hidden == [512, 256]
    assert c.optim.lr == pytest.approx(3e-4) and isinstance(c.optim.lr, float)
    assert c.data.name == "digits" and c.model.act == "leaky_relu(0.1)"
    assert c.data.limit == 100 and c.optim.batch_size == "full"


def test_yaml_file_plus_overrides(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("optim:\n  lr: 0.01\ntrain:\n  epochs: 3\n")
    c = load_config(f, ["train.epochs=5"])
    assert c.optim.lr == 0.01 and c.train.epochs == 5


def test_resolved_config_round_trips(tmp_path: Path) -> None:
    c = load_config(None, ["model.hidden=[64,32]", "seed=7", "optim.name=sgd(momentum=0.9)"])
    f = tmp_path / "config.yaml"
    f.write_text(c.to_yaml())
    assert load_config(f) == c


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.lrr=0.1", "unknown config key 'optim.lrr' (did you mean 'optim.lr'?); try: optim.lr=0.1"),
        ("modle.hidden=[3]", "unknown config key 'modle'"),
        ("optim.lr=abc", "optim.lr='abc' has the wrong type; expected float"),
        ("optim.lr=-1", "optim.lr=-1.0 is out of range; must be >= 0"),
        ("train.epochs=0", "train.epochs=0 is out of range; must be >= 1"),
        ("train.epochs=2.5", "train.epochs=2.5 has the wrong type; expected int"),
        ("optim.batch_size=many", "optim.batch_size='many' is not allowed"),
        ("model.hidden=[0]", "model.hidden=[0] must be a list of positive integers"),
        ("model.dropout=1.5", "model.dropout=1.5 is out of range; must be <= 0.99"),
        ("train.monitor=acc", "train.monitor='acc' is not allowed"),
        ("seed=true", "seed=True has the wrong type; expected int"),
        ("nothing", "cannot read override 'nothing'"),
    ],
)
def test_bad_values_name_the_key_and_what_is_allowed(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_broken_yaml_file(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("optim: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(f)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    f.write_text("- a list\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(f)


def test_parse_overrides_and_key_listing() -> None:
    assert parse_overrides(["a.b=1", "c=[1,2]", "d=x(1)"]) == {"a.b": 1, "c": [1, 2], "d": "x(1)"}
    keys = {k for k, _, _ in describe_keys()}
    for required in (
        "seed",
        "device",
        "threads",
        "data.name",
        "data.val",
        "data.limit",
        "data.preprocess",
        "model.name",
        "model.hidden",
        "model.act",
        "model.init",
        "model.dropout",
        "loss.name",
        "optim.name",
        "optim.lr",
        "optim.batch_size",
        "train.epochs",
        "output.dir",
    ):
        assert required in keys


def test_catalogue_values_are_parsed_once_into_specs() -> None:
    """cfg.spec gives the parsed form; the field keeps the text; bad syntax fails at load, naming the key."""
    cfg = load_config(None, ["model.act=leaky_relu(0.1)", "optim.name=sgd(momentum=0.9)"])
    assert cfg.model.act == "leaky_relu(0.1)"  # what config.yaml holds, as written
    assert cfg.spec("model.act") == Spec("leaky_relu", (0.1,)) == cfg.model.spec("act")
    assert cfg.spec("optim.name").kwargs == {"momentum": 0.9}
    assert cfg.spec("model.act") is cfg.spec("model.act")  # parsed once, not at every call
    with pytest.raises(ConfigError, match=r"^model\.act: cannot read 'leaky_relu\(0\.1'"):
        load_config(None, ["model.act=leaky_relu(0.1"])
    with pytest.raises(KeyError, match="not a catalogue value"):
        cfg.spec("optim.lr")
