"""Search-space syntax: distributions, list choices, grids, and messages for bad input."""

from __future__ import annotations

import pytest

from trainlab.errors import ConfigError
from trainlab.sweeps.refine import narrow
from trainlab.sweeps.space import Param, grid, is_distribution, parse_param, parse_space, split_args


def test_each_distribution_parses() -> None:
    assert parse_param("optim.lr", "loguniform(1e-4,1e-1)") == Param("optim.lr", "loguniform", 1e-4, 0.1, True)
    assert parse_param("model.dropout", "uniform(0,0.5)") == Param("model.dropout", "uniform", 0.0, 0.5, False)
    assert parse_param("optim.batch_size", "int(32,512,log)") == Param("optim.batch_size", "int", 32, 512, True)
    assert parse_param("optim.batch_size", "int(32,512)").log is False
    p = parse_param("model.hidden", "choice([128],[256,128])")
    assert p.choices == ([128], [256, 128])
    assert p.labels() == ["[128]", "[256,128]"]  # Optuna categoricals hold scalars
    assert p.decode("[256,128]") == [256, 128]
    assert parse_param("model.act", "choice(relu,leaky_relu(0.1))").choices == ("relu", "leaky_relu(0.1)")
    assert parse_param("model.act", ["relu", "tanh"]).kind == "choice"  # a YAML list is a choice
    assert str(parse_param("optim.lr", "loguniform(1e-4,1e-1)")) == "loguniform(0.0001,0.1)"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("loguniform(0,1)", "positive lower bound"),
        ("uniform(1,0)", "low < high"),
        ("uniform(1)", "two numbers"),
        ("int(1.5,4)", "whole numbers"),
        ("int(1,4,lin)", "may only be 'log'"),
        ("choice()", "at least one value"),
        ("choice(1,1)", "distinct"),
        ("normal(0,1)", "is not a distribution"),
    ],
)
def test_bad_distributions_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_param("optim.lr", text)


def test_space_keys_must_be_config_keys() -> None:
    with pytest.raises(ConfigError, match=r"optim\.lrr.*did you mean 'optim\.lr'"):
        parse_space({"optim.lrr": "uniform(0,1)"})


def test_command_line_items_split_into_space_and_overrides() -> None:
    space, overrides = split_args(
        [
            "optim.lr=loguniform(1e-4,1e-1)",
            "train.epochs=3",
            "model.act=leaky_relu(0.1)",
            "model.hidden=choice([64],[128])",
        ]
    )
    assert space == {"optim.lr": "loguniform(1e-4,1e-1)", "model.hidden": "choice([64],[128])"}
    assert overrides == ["train.epochs=3", "model.act=leaky_relu(0.1)"]  # an activation spec is no distribution
    assert not is_distribution("leaky_relu(0.1)") and is_distribution("int(1,3)")


def test_grid_is_the_product_of_choices_and_refuses_ranges() -> None:
    space = parse_space({"optim.lr": "choice(0.01,0.1)", "model.act": "choice(relu,tanh,gelu)"})
    combos = grid(space)
    assert len(combos) == 6 and len({tuple(c.items()) for c in combos}) == 6
    with pytest.raises(ConfigError, match="grid sampler needs choice"):
        grid(parse_space({"optim.lr": "loguniform(1e-4,1e-1)"}))


def test_refine_narrows_around_the_top_values() -> None:
    lr = Param("optim.lr", "loguniform", 1e-4, 1e-1, True)
    new = narrow(lr, [2e-3, 6e-3, 4e-3])
    assert 1e-4 < new.low < 2e-3 and 6e-3 < new.high < 1e-1 and new.log
    assert new.high / new.low < 20  # from a 1000x range to a few x around the winners
    act = Param("model.act", "choice", choices=("relu", "tanh", "gelu"))
    assert narrow(act, ["tanh", "tanh", "relu"]).choices == ("relu", "tanh")
    bs = Param("optim.batch_size", "int", 32, 512, True)
    one = narrow(bs, [128, 128])
    assert one.low <= 128 <= one.high and one.low < one.high and one.kind == "int"
    edge = narrow(Param("model.dropout", "uniform", 0.0, 0.5), [0.0, 0.05])
    assert edge.low == 0.0 and edge.high <= 0.5  # clipped to the old range
