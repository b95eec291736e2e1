"""A data place the user names is the only place looked in; what it lacks is named (issue 13, A)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import make_idx_dataset
from trainlab.cli import main
from trainlab.data.locate import find_idx_files
from trainlab.errors import DataError


@pytest.fixture
def other_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A complete data set where the search order would find it ($TRAINLAB_DATA): a named place must
    not fall back to it."""
    fallback = make_idx_dataset(tmp_path / "fallback" / "mnist", n_train=30, n_test=10)
    monkeypatch.setenv("TRAINLAB_DATA", str(fallback.parent))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return fallback


def test_a_missing_named_directory_is_an_error_not_a_fallback(tmp_path: Path, other_copy: Path) -> None:
    assert find_idx_files("mnist")["t10k-labels-idx1-ubyte"].parent == other_copy  # unnamed: the search order
    with pytest.raises(
        DataError, match=r"data.dir='.*nonexistent': no such directory; it should hold the 4 IDX files of mnist"
    ):
        find_idx_files("mnist", tmp_path / "nonexistent")


def test_three_of_four_files_names_the_missing_one(tmp_path: Path, other_copy: Path) -> None:
    d = make_idx_dataset(tmp_path / "mine", n_train=30, n_test=10)
    (d / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(
        DataError, match=r"holds 3 of the 4 IDX files of mnist; missing: t10k-labels-idx1-ubyte\[\.gz\]"
    ):
        find_idx_files("mnist", d)


def test_a_folder_where_a_file_should_be(tmp_path: Path, other_copy: Path) -> None:
    d = make_idx_dataset(tmp_path / "mine", n_train=30, n_test=10)
    (d / "train-images-idx3-ubyte.gz").unlink()
    (d / "train-images-idx3-ubyte.gz").mkdir()
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz is not a regular file"):
        find_idx_files("mnist", d)


def test_a_file_named_as_the_directory(tmp_path: Path, other_copy: Path) -> None:
    (tmp_path / "afile").write_text("x")
    with pytest.raises(DataError, match="is a file, not a directory"):
        find_idx_files("mnist", tmp_path / "afile")


def test_the_named_directory_or_its_name_subfolder_is_used(tmp_path: Path, other_copy: Path) -> None:
    mine = make_idx_dataset(tmp_path / "mine" / "mnist", n_train=30, n_test=10, seed=5)
    assert find_idx_files("mnist", tmp_path / "mine")["train-images-idx3-ubyte"].parent == mine
    assert find_idx_files("mnist", mine)["train-images-idx3-ubyte"].parent == mine


@pytest.mark.parametrize("how", ["data.dir", "--data-dir"])
def test_train_refuses_instead_of_training_on_other_data(
    tmp_path: Path, other_copy: Path, how: str, capsys: pytest.CaptureFixture
) -> None:
    d = tmp_path / "partial"
    shutil.copytree(other_copy, d)
    (d / "train-labels-idx1-ubyte.gz").unlink()
    place = [f"data.dir={d}"] if how == "data.dir" else ["--data-dir", str(d)]
    assert main(["train", "data.name=mnist", *place, f"output.dir={tmp_path / 'runs'}", "train.epochs=1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing: train-labels-idx1-ubyte[.gz]" in err
    assert not (tmp_path / "runs").exists()
