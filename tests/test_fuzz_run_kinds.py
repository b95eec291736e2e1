"""The fuzz properties of tests/test_fuzz_cli.py extended to the run kinds added since issue 13 (issue 29):
pretraining, imbalance, baselines, sweep journal files and decoded-data cache entries.

The promises are the same for any generated input: the CLI returns one of the known exit codes with no
traceback, an error is one line, no run is left claiming ``running``, and a damaged cache entry is never
trusted. ``make test`` runs a few examples per property; ``make fuzz`` ten times as many.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.test_fuzz_cli import assert_nothing_running, fresh_dir, fuzz, run_cli
from trainlab.data import cache
from trainlab.data.idx import write_idx

N_PRETRAIN, N_IMBALANCE, N_BASELINES, N_JOURNAL, N_CACHE = 8, 12, 4, 12, 15

# numbers a learner or an attacker might type: ordinary, edge, absurd
NUMBERS = st.sampled_from(["0", "1", "-1", "0.5", "2", "1e-300", "1e308", "nan", "inf", "-0", "3", "10", "[1,2]", "x"])


def _spec(name: str, keys: list[str]) -> st.SearchStrategy[str]:
    """``name(key=value, ...)`` with some of ``keys`` given generated values."""
    pairs = (
        st.lists(st.tuples(st.sampled_from(keys), NUMBERS), max_size=2, unique_by=lambda kv: kv[0])
        if keys
        else st.just([])
    )
    return pairs.map(lambda kv: name if not kv else f"{name}({','.join(f'{k}={v}' for k, v in kv)})")


def _base(runs: Path, data: str) -> list[str]:
    return [
        "--no-progress",
        f"data.name={data}",
        "train.epochs=1",
        "threads=1",
        f"output.dir={runs}",
        "output.report=false",
        "optim.batch_size=32",
    ]


@fuzz(N_PRETRAIN)
@given(
    method=st.one_of(_spec("simclr", ["temperature", "proj"]), _spec("autoencoder", ["hidden"])),
    views=st.sampled_from(["[]", "[noise(0.1)]", "[shift(1)]", "[shift(2000)]", "[resized_crop]", "[flip]", "x"]),
    knn=NUMBERS,
)
def test_fuzz_pretraining(capsys: pytest.CaptureFixture, method: str, views: str, knn: str) -> None:
    with fresh_dir() as tmp:
        runs = tmp / "runs"
        args = [*_base(runs, "digits"), "data.limit=96", "model.hidden=[16]", f"pretrain.method={method}"]
        run_cli(["train", *args, f"pretrain.views={views}", f"pretrain.knn_k={knn}"], capsys)
        assert_nothing_running(runs)


@fuzz(N_IMBALANCE)
@given(  # each field its ordinary value half the time, so that some examples train and finish
    imbalance=st.one_of(st.just("exp(ratio=10)"), _spec("exp", ["ratio"]), _spec("step", ["ratio", "minority"])),
    resample=st.sampled_from(["none", "none", "over", "under", "sideways"]),
    sampler=st.sampled_from(["uniform", "uniform", "balanced", "sqrt", "x"]),
    loss=st.one_of(
        st.just("cross_entropy"),
        _spec("focal", ["gamma", "alpha"]),
        _spec("ldam", ["max_margin", "s", "beta"]),
        _spec("logit_adjusted", ["tau"]),
        _spec("cross_entropy", ["weights", "label_smoothing"]),
    ),
    adjust=st.one_of(st.just("0"), st.just("1"), NUMBERS),
)
def test_fuzz_imbalance(
    capsys: pytest.CaptureFixture, imbalance: str, resample: str, sampler: str, loss: str, adjust: str
) -> None:
    with fresh_dir() as tmp:
        runs = tmp / "runs"
        args = [*_base(runs, "blobs(size=300)"), "model.hidden=[8]", f"data.imbalance={imbalance}"]
        args += [
            f"data.resample={resample}",
            f"data.sampler={sampler}",
            f"loss.name={loss}",
            f"eval.logit_adjust={adjust}",
        ]
        rc, _, _ = run_cli(["train", *args], capsys)
        assert_nothing_running(runs)
        for summary in runs.glob("*/summary.json"):  # a finished run reports finite figures, never NaN silently
            s = json.loads(summary.read_text())
            if rc == 0 and s.get("status") == "completed":
                assert np.isfinite(s["test_loss"]), s


@fuzz(N_BASELINES)
@given(
    spec=st.one_of(
        _spec("kmeans", ["k", "n_init"]),
        _spec("knn", ["k", "p"]),
        _spec("gaussian_nb", ["var_smoothing"]),
        _spec("decision_tree", ["max_depth"]),
        _spec("gradient_boosting", ["max_depth", "max_iter"]),
    ),
)
def test_fuzz_baselines(capsys: pytest.CaptureFixture, spec: str) -> None:
    with fresh_dir() as tmp:
        runs = tmp / "runs"
        run_cli(["baselines", spec, "data.name=digits", "data.limit=200", "threads=1", f"output.dir={runs}"], capsys)
        assert_nothing_running(runs)
        assert not list(runs.glob("*/run.pid"))  # the lock of a baseline is released however it ended


@fuzz(N_JOURNAL)
@given(
    lines=st.lists(
        st.one_of(
            st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
            st.just('{"op_code": 0, "worker_id": "w", "study_name": "s", "directions": [1]}'),
            st.just('{"op_code": 0, "worker_id": "w"'),  # torn
            st.just("not json"),
            st.just("[]"),
        ),
        max_size=4,
    ),
)
def test_fuzz_journal_files(capsys: pytest.CaptureFixture, lines: list[str]) -> None:
    pytest.importorskip("optuna")
    with fresh_dir() as tmp:
        journal = tmp / "study.log"
        journal.write_bytes("\n".join(lines).encode("utf-8", "surrogateescape"))
        rc, _, _ = run_cli(["sweep", "--join", "s", "--storage", f"journal:{journal}", "--no-progress"], capsys)
        assert rc in (0, 1, 2)
        assert_nothing_running(tmp)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """A gzip IDX file of random images, big enough to be cached (with MIN_BYTES lowered)."""
    folder = tmp_path_factory.mktemp("idx")
    x = np.random.default_rng(0).integers(0, 256, (40, 28, 28)).astype(np.uint8)
    write_idx(folder / "img.gz", x, compress=True)
    return folder / "img.gz", x


@fuzz(N_CACHE)
@given(
    offset=st.integers(0, 40 * 28 * 28 + 200),
    value=st.integers(0, 255),
    cut=st.one_of(st.none(), st.integers(0, 40 * 28 * 28 + 200)),
)
def test_fuzz_cache_entries(
    images: tuple[Path, np.ndarray], monkeypatch: pytest.MonkeyPatch, offset: int, value: int, cut: int | None
) -> None:
    path, x = images
    with fresh_dir() as tmp:
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp))
        monkeypatch.delenv("TRAINLAB_DECODED_CACHE", raising=False)
        monkeypatch.setattr(cache, "MIN_BYTES", 100)
        assert np.array_equal(cache.read_idx_cached(path), x)
        (entry,) = (tmp / "trainlab" / "decoded").glob("*.npy")
        raw = bytearray(entry.read_bytes())
        if offset < len(raw):
            raw[offset] = value
        entry.write_bytes(bytes(raw[:cut] if cut is not None else raw))
        got = cache.read_idx_cached(path)  # whatever the damage: the decoded images, never the damaged copy
        assert np.array_equal(got, x) and got.dtype == x.dtype
