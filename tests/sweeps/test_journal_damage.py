"""Damaged journal files (``--storage journal:FILE``): a torn last line is repaired before anything is
appended, every other kind of damage is one line and exit 2, and nothing a sweep wrote is overwritten."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import optuna
import pytest

from trainlab.cli import main
from trainlab.errors import ConfigError
from trainlab.sweeps import sweep
from trainlab.sweeps.storage import make_storage

from .test_lose_nothing import SPACE

TORN = b'{"op_code":5,"worker_id":"w-1","trial_id":1,"param_na'  # a writer killed mid-append


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The bytes of a finished 2-trial journal sweep named j."""
    root = tmp_path_factory.mktemp("journal")
    log = root / "j.log"
    sweep(None, SPACE, sampler="random", trials=2, root=root, name="j", storage=f"journal:{log}", report=False)
    return log.read_bytes()


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], repaired: bool = False) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    if repaired:  # the line saying what was repaired, then the error
        note, err = err.split("\n", 1)
        assert "its last line was torn" in note
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_a_torn_last_line_is_cut_with_a_copy_kept_and_the_sweep_goes_on(
    tmp_path: Path, journal: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "j.log"
    log.write_bytes(journal + TORN)
    url = f"journal:{log}"
    assert main(["sweep", "--join", "j", "--storage", url, "--dir", str(tmp_path), "--top", "1"]) == 0
    err = capsys.readouterr().err
    assert "its last line was torn" in err and err.count("\n") == 1 and "Traceback" not in err
    backups = list(tmp_path.glob("j.log.torn-*"))
    assert len(backups) == 1 and backups[0].read_bytes() == journal + TORN  # nothing lost: the copy as it was
    assert log.read_bytes().startswith(journal) and log.read_bytes().endswith(b"\n")
    # appending goes on (on main the next record was glued onto the torn line and the study was lost)
    r = sweep(resume="j", trials=3, storage=url, root=tmp_path, report=False)
    assert [t.state.name for t in r.trials] == ["COMPLETE"] * 3
    study = optuna.load_study(study_name="j", storage=make_storage(url))  # Optuna itself loads it
    assert len(study.trials) == 3


def test_a_cut_spec_line_fails_in_one_line_and_keeps_the_report(
    tmp_path: Path, journal: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = journal.splitlines(keepends=True)
    assert b'"trainlab_sweep"' in lines[1]  # line 2 stores the spec
    page = tmp_path / "j" / "sweep.html"
    page.parent.mkdir()
    page.write_text("the report of the sweep")
    log = tmp_path / "j.log"
    argv = ["sweep", "--join", "j", "--storage", f"journal:{log}", "--dir", str(tmp_path)]
    log.write_bytes(lines[0] + lines[1][:300])  # torn while writing the spec: cut off, then the study has none
    assert "interrupted while being created" in _one_line_error(capsys, argv, repaired=True)
    log.write_bytes(lines[0] + lines[1][:300] + b"\n" + b"".join(lines[2:]))  # cut in the middle of the file
    assert "line 2 is not a journal record" in _one_line_error(capsys, argv)
    assert page.read_text() == "the report of the sweep"


def _immutable(path: Path) -> bool:
    """Make ``path`` immutable (chattr +i, root on a filesystem that has it); whether it worked."""
    if shutil.which("chattr") is None:
        return False
    return subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("proc", "cannot create the directory '/proc/x'"),
        ("under a file", "is a file, not a directory"),
        ("random bytes", "is not a journal record"),
        ("not json", "line 1 is not a journal record (not JSON"),
        ("json, not a record", "line 2 is not a journal record (JSON but not a journal record"),
        ("middle line", "line 5 is not a journal record"),
        ("no record at the end", "does not end with a journal record"),
        ("a device", "is not a regular file"),
        ("immutable directory", "cannot write to"),
        ("immutable file", "cannot write to"),
    ],
)
def test_damaged_or_unusable_journals_are_one_line(
    tmp_path: Path, journal: bytes, capsys: pytest.CaptureFixture[str], case: str, message: str
) -> None:
    log = tmp_path / "j.log"
    lines = journal.splitlines(keepends=True)
    frozen = None
    if case == "proc":
        log = Path("/proc/x/j.log")
    elif case == "under a file":
        (tmp_path / "file").write_text("x")
        log = tmp_path / "file" / "j.log"
    elif case == "random bytes":
        log.write_bytes(bytes(range(256)) * 20)
    elif case == "not json":
        log.write_text("hello\nworld\n")
    elif case == "json, not a record":
        log.write_bytes(lines[0] + b"[1, 2]\n")
    elif case == "middle line":
        log.write_bytes(b"".join(lines[:4]) + b'{"op_code":4,"wor\n' + b"".join(lines[4:]))
    elif case == "no record at the end":
        log.write_bytes(journal + b"\x00\x00\x00")
    elif case == "a device":
        log = Path("/dev/null")
    else:
        (tmp_path / "d").mkdir()
        log = tmp_path / "d" / "j.log"
        log.write_bytes(journal)
        frozen = log.parent if case == "immutable directory" else log
        if not _immutable(frozen):
            pytest.skip("chattr +i is not available here")
    try:
        argv = ["sweep", "--join", "j", "--storage", f"journal:{log}", "--dir", str(tmp_path)]
        assert message in _one_line_error(capsys, argv)
        if case not in ("proc", "under a file", "a device"):
            with pytest.raises(ConfigError, match="journal"):  # the API says the same
                sweep(join="j", storage=f"journal:{log}", root=tmp_path)
    finally:
        if frozen is not None:
            subprocess.run(["chattr", "-i", str(frozen)], check=True)


def test_a_reader_needs_no_write_access_and_skips_a_torn_line(tmp_path: Path, journal: bytes) -> None:
    log = tmp_path / "j.log"
    log.write_bytes(journal + TORN)
    store = make_storage(f"journal:{log}", write=False)
    assert log.read_bytes() == journal + TORN  # a reader repairs nothing
    assert len(optuna.load_study(study_name="j", storage=store).trials) == 2
