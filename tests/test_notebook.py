"""notebooks/tutorial.ipynb: kept without outputs, and every cell runs in a real Jupyter kernel."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "tutorial.ipynb"
nbformat = pytest.importorskip("nbformat", reason="notebook extra not installed: pip install -e '.[notebook]'")


def test_tutorial_is_kept_without_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, (
        f"clear the outputs of cells {dirty} before committing (jupyter nbconvert --clear-output --inplace)"
    )


@pytest.mark.slow
def test_tutorial_runs_in_a_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbclient = pytest.importorskip("nbclient")
    kernelspec = pytest.importorskip("ipykernel.kernelspec")
    # a kernel on this interpreter running this checkout's code, whatever kernels the machine has
    kernelspec.install(kernel_name="trainlab-test", prefix=str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter" / "share" / "jupyter"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    work = tmp_path / "work"  # runs/, sweeps/ and lessons-out/ land here
    work.mkdir()
    nb = nbformat.read(NOTEBOOK, as_version=4)
    t0 = time.perf_counter()
    nbclient.NotebookClient(
        nb, kernel_name="trainlab-test", timeout=300, resources={"metadata": {"path": str(work)}}
    ).execute()
    seconds = time.perf_counter() - t0
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "a cell did not run"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    kinds = {k for c in code for o in c.outputs for k in o.get("data", {})}
    assert "image/png" in kinds, "no figure in the notebook's outputs"
    assert "text/html" in kinds, "no object displayed itself as HTML"
    pyplot = next(c for c in code if "pyplot" in c.metadata.get("tags", []))
    assert any("image/png" in o.get("data", {}) for o in pyplot.outputs), (
        "the user's own pyplot figure did not show inline"
    )
    assert (work / "runs").is_dir()
    print(f"tutorial.ipynb ran in {seconds:.1f} s", file=sys.stderr)
