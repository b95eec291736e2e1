"""SweepOptions: sweep()'s keywords map onto one checked object; unknown keywords and bad values are one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainlab.cli import main
from trainlab.errors import ConfigError
from trainlab.sweeps import SweepOptions, sweep

BASE = [
    "data.name=digits",
    "data.limit=200",
    "model.hidden=[8]",
    "train.epochs=1",
    "threads=1",
    "optim.batch_size=128",
    "output.report=false",
    "train.checkpoint=false",
]


def test_an_unknown_keyword_names_the_close_match_and_the_options(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        sweep(None, BASE, trails=4, root=tmp_path)
    text = str(err.value)
    assert "'trails'" in text and "did you mean 'trials'" in text and "sampler" in text and "\n" not in text
    assert not list(tmp_path.iterdir())  # nothing was created


@pytest.mark.parametrize(
    ("keywords", "words"),
    [
        ({"workers": 0}, "workers=0 must be at least 1"),
        ({"trials": -2}, "trials=-2 must be a positive integer"),
        ({"heartbeat": 0}, "heartbeat=0"),
        ({"grace": -1.0}, "grace=-1.0"),
        ({"progress": "yes"}, "use True, False or 'auto'"),
        ({"stack": "no"}, "stack='no' must be True or False"),
        ({"join": "a", "resume": "a"}, "either --join NAME or --resume NAME"),
    ],
)
def test_bad_options_fail_once_in_one_line(keywords: dict, words: str) -> None:
    with pytest.raises(ConfigError, match="^[^\n]*$") as err:
        SweepOptions(**keywords)
    assert words in str(err.value)
    with pytest.raises(ConfigError):  # the same check through sweep()'s keywords
        sweep(None, BASE, **keywords)


def test_options_object_and_keywords_run_the_same_sweep(tmp_path: Path) -> None:
    pytest.importorskip("optuna")
    space = [*BASE, "optim.lr=loguniform(1e-3,1e-1)"]
    options = SweepOptions(trials=3, sampler="random", seed=2, root=tmp_path, report=False, progress=False)
    a = sweep(None, space, options=options, name="a")  # a keyword on top of the object
    b = sweep(None, space, trials=3, sampler="random", seed=2, root=tmp_path, name="b", report=False, progress=False)
    assert [t.params for t in a.trials] == [t.params for t in b.trials] and len(a.trials) == 3
    assert [t.value for t in a.trials] == [t.value for t in b.trials]
    assert options.name is None  # frozen: the keyword replaced a copy's field
    with pytest.raises(ConfigError, match="must be a SweepOptions"):
        sweep(None, space, options={"trials": 3})


def test_the_cli_reports_a_bad_option_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", *BASE, "optim.lr=loguniform(1e-3,1e-1)", "--workers", "0", "--dir", str(tmp_path)]) == 2
    assert "workers=0 must be at least 1" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
