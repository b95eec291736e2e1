"""Untrusted text is read within bounds: YAML depth and alias expansion, JSON size and depth, short messages."""

from __future__ import annotations

import json
import time
import tracemalloc
from pathlib import Path

import pytest

from trainlab.bounded import MAX_DEPTH, MAX_NODES, json_depth, load_yaml, loads_json, read_json
from trainlab.cli import main
from trainlab.config import load_config
from trainlab.errors import ConfigError, brief


def alias_bomb(levels: int = 9, width: int = 10, leaf: str = "1") -> str:
    """The "billion laughs" in YAML flow style: each level repeats the previous one ``width`` times."""
    lines = [f"a0: &a0 [{', '.join([leaf] * width)}]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
    return "\n".join(lines)


def test_alias_bomb_is_refused_while_composing_in_bounded_time_and_memory() -> None:
    text = alias_bomb()  # 10**9 values once expanded, about 600 bytes of text
    assert len(text) < 700
    tracemalloc.start()
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match=rf"expands to more than {MAX_NODES:,} values"):
        load_yaml(text, "config file 'bomb.yaml'")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert time.perf_counter() - t0 < 5 and peak < 50e6


def test_aliases_within_the_bound_still_work() -> None:
    data = load_yaml("base: &b {lr: 0.1}\nother: *b\nlist: &l [1, 2]\nmore: [*l, *l]", "x")
    assert data["other"] == {"lr": 0.1} and data["more"] == [[1, 2], [1, 2]]


@pytest.mark.parametrize("key", ["model.blocks", "data.augment", "model.hidden"])
def test_alias_bomb_in_a_config_file_is_one_short_line(tmp_path: Path, key: str, capsys: pytest.CaptureFixture) -> None:
    section, _, name = key.partition(".")
    bomb = alias_bomb(leaf="conv(8)" if name == "blocks" else "1")
    path = tmp_path / "bomb.yaml"
    path.write_text(bomb + f"\n{section}:\n  {name}: *a8\n")
    t0 = time.perf_counter()
    assert main(["train", "--config", str(path), f"output.dir={tmp_path / 'runs'}"]) == 2
    err = capsys.readouterr().err
    assert time.perf_counter() - t0 < 10
    assert err.count("\n") == 1 and len(err) < 400 and "expands to more than" in err


def test_deep_nesting_is_refused_not_a_recursion_error(tmp_path: Path) -> None:
    deep = "[" * 5000 + "]" * 5000
    with pytest.raises(ConfigError, match=f"nested deeper than {MAX_DEPTH} levels"):
        load_config(None, [f"model.hidden={deep}"])
    (tmp_path / "deep.yaml").write_text("model:\n  hidden: " + deep + "\n")
    with pytest.raises(ConfigError, match=f"nested deeper than {MAX_DEPTH} levels"):
        load_config(tmp_path / "deep.yaml")
    with pytest.raises(ConfigError, match=f"nested deeper than {MAX_DEPTH} levels"):  # the spec-list path
        load_config(None, ["model.blocks=" + "[" * 5000 + "conv(1)" + "]" * 5000])


def test_recursive_alias_is_refused() -> None:
    with pytest.raises(ConfigError, match="recursive structure"):
        load_yaml("a: &a [1, *a]", "x")


def test_huge_numbers_and_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"seed holds a number with more than \d+ digits"):
        load_config(None, ["seed=" + "9" * 5000])
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * (2 << 20) + "\n")
    with pytest.raises(ConfigError, match="is too big"):
        load_config(big)


def test_bad_values_are_quoted_briefly() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, {"model.hidden": [[1] * 1000] * 1000})
    assert len(str(info.value)) < 400
    assert brief(10**5000) == "<an integer of about 5000 digits>"
    assert brief("spirals(classes=0)") == "'spirals(classes=0)'"
    assert len(brief("x" * 10**6)) == 200


def test_json_depth_ignores_brackets_in_strings() -> None:
    assert json_depth(b'{"a": [1, {"b": "[[[[{{{"}]}') == 3
    assert json_depth(b'"\\"[[["') == 0


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested 100000 levels deep"),
        (b'{"x": ' + b"7" * 5000 + b"}", "a number with more than"),
        (b"{not json", "is not valid JSON"),
        (b"\xff\xfe", "is not valid JSON"),
    ],
)
def test_hostile_json_is_one_line(raw: bytes, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        loads_json(raw, "summary.json")


def test_json_files_are_read_up_to_a_bound(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"a": "x" * 1000}))
    assert read_json(path)["a"] == "x" * 1000
    with pytest.raises(ConfigError, match="too big to read"):
        read_json(path, max_bytes=100)
