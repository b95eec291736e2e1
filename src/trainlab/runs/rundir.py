"""The run directory: ``runs/<date>-<time>-<name>/`` with config, metrics, summary, checkpoint, weights.

Any text editor can read it; ``list_runs`` scans directories, nothing else is the source of truth.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainlab.atomic import write_text
from trainlab.bounded import describe_type, read_json
from trainlab.config import Config, load_config
from trainlab.errors import CheckpointError, ConfigError, TrainlabError, brief, clip

CONFIG, METRICS, SUMMARY, CHECKPOINT, WEIGHTS = (
    "config.yaml",
    "metrics.csv",
    "summary.json",
    "checkpoint.pt",
    "model.safetensors",
)
FITTED_PREPROCESS = "preprocess.safetensors"  # the fitted preprocessing, re-applied by eval
MAX_METRICS_BYTES = 64 << 20  # 100k epochs of 20 metrics; more is not a metrics.csv trainlab wrote


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:60] or "run"


def run_name(cfg: Config) -> str:
    """A run's name: ``output.name``, else ``<model>-<data>`` (e.g. ``mlp-fashion-mnist``)."""
    return cfg.output.name or f"{cfg.spec('model.name').name}-{cfg.spec('data.name').name}"


def create_run_dir(parent: str | Path, name: str) -> Path:
    """Create a fresh ``<parent>/<YYYYmmdd-HHMMSS>-<name>`` directory; same-second runs get -2, -3..."""
    parent = Path(parent)
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CheckpointError(f"cannot create run directory parent {parent}: {exc.strerror or exc}") from None
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{_slug(name)}"
    for i in range(1, 1000):
        path = parent / (stem if i == 1 else f"{stem}-{i}")
        try:
            path.mkdir()  # exclusive: fails if another run took the name
            return path
        except FileExistsError:
            continue
        except OSError as exc:
            raise CheckpointError(f"cannot create run directory {path}: {exc.strerror or exc}") from None
    raise CheckpointError(f"too many runs named {stem} in {parent}")


def write_metrics_csv(path: Path, history: list[dict[str, float]]) -> None:
    """Write metrics.csv: one row per epoch, one column per metric (union of keys, in first-seen order)."""
    cols: list[str] = []
    for row in history:
        cols += [k for k in row if k not in cols]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=cols)
    writer.writeheader()
    for row in history:
        writer.writerow({k: row.get(k, "") for k in cols})
    write_text(path, buf.getvalue())


def read_metrics_csv(path: Path) -> list[dict[str, float]]:
    """Read metrics.csv back into a list of dicts of floats; a damaged file is a one-line CheckpointError."""
    if not path.is_file():
        return []
    try:
        if path.stat().st_size > MAX_METRICS_BYTES:
            raise CheckpointError(
                f"{path}: {path.stat().st_size:,} bytes is too big for a metrics table (one row per epoch)"
            )
        with path.open(newline="") as fh:
            # a row missing cells gives None values, an over-long one a None key: both damaged
            rows = list(csv.DictReader(fh))
            return [{k: float(v) for k, v in row.items() if v not in ("", None) and k is not None} for row in rows]
    except (OSError, UnicodeDecodeError, ValueError, TypeError, csv.Error) as exc:
        raise CheckpointError(f"{path}: not a metrics table ({clip(str(exc), 100)})") from None


# How a run draws itself (figures, notebook HTML) lives a layer up, in report/views.py, which fills
# this when trainlab.report loads (the public API, trainlab.train, trainlab.load_run, ..., loads it).
VIEWS: dict[str, Callable[..., Any]] = {}


@dataclass
class Run:
    """A run directory and what it holds: the config, per-epoch history and final summary."""

    path: Path
    config: Config
    summary: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    model: Any = None  # the trained torch model when the run was made in this process

    @property
    def name(self) -> str:
        """Directory name."""
        return self.path.name

    def __getitem__(self, key: str) -> Any:
        return self.summary[key]

    @property
    def test_accuracy(self) -> float | None:
        """Final test accuracy (classification)."""
        return self.summary.get("test_accuracy")

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, status={self.summary.get('status')!r}, test_accuracy={self.test_accuracy})"

    def _view(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if name not in VIEWS:
            raise TrainlabError(f"run.{name}() draws with trainlab.report: `import trainlab.report` first")
        return VIEWS[name](self, *args, **kwargs)

    def plot(self) -> Any:
        """Learning curves (loss, accuracy, learning rate; train and validation) as a matplotlib Figure."""
        return self._view("plot")

    def confusion(self, normalize: bool = False) -> Any:
        """The test confusion matrix as a matplotlib Figure (counts, or row shares with ``normalize``)."""
        return self._view("confusion", normalize=normalize)

    def mistakes(self, n: int = 16) -> Any:
        """The ``n`` most confident test mistakes (image data) as a matplotlib Figure."""
        return self._view("mistakes", n=n)

    def weights(self, units: int = 64) -> Any:
        """The first layer's weights (up to ``units`` units) as a matplotlib Figure."""
        return self._view("weights", units=units)

    def _repr_html_(self) -> str | None:
        """Jupyter's rich display: a card with the results, curves and confusion matrix."""
        return VIEWS["html"](self) if "html" in VIEWS else None


# The fields of summary.json that commands read, and what each must be: a summary edited by hand,
# damaged, or written by something else is refused in one line instead of crashing a listing.
_TEXT = ("status", "stop_reason", "error", "header", "started", "finished", "device", "interrupted_by")
_NUMBERS = (
    "test_accuracy",
    "test_loss",
    "train_accuracy",
    "train_loss",
    "best_val_accuracy",
    "fit_seconds",
    "eval_seconds",
    "report_seconds",
    "test_mse",
    "test_mae",
    "test_r2",
    "train_mse",
    "train_mae",
    "train_r2",
    "initial_loss",
    "expected_initial_loss",
    "epochs",
    "steps",
    "params",
    "threads",
    "resumes",
    "resumed_at_step",
)
_MAPPINGS = ("data", "versions", "fitted", "nan_guard", "per_class_accuracy")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_summary(summary: Any, where: str) -> dict[str, Any]:
    """``summary`` if it is a JSON object whose known fields have their types, else a CheckpointError naming
    the field."""
    if not isinstance(summary, dict):
        raise CheckpointError(f"{where} holds {describe_type(summary)}, not a JSON object of run results")
    for key in _TEXT:
        if summary.get(key) is not None and not isinstance(summary[key], str):
            raise CheckpointError(f"{where}: {key}={brief(summary[key], 60)} is not text")
    for key in _NUMBERS:
        if summary.get(key) is not None and not _is_number(summary[key]):
            raise CheckpointError(f"{where}: {key}={brief(summary[key], 60)} is not a number")
    for key in _MAPPINGS:
        if summary.get(key) is not None and not isinstance(summary[key], dict):
            raise CheckpointError(f"{where}: {key} is {describe_type(summary[key])}, not a JSON object")
    per_class = summary.get("per_class_accuracy") or {}
    if not all(_is_number(v) for v in per_class.values()):
        raise CheckpointError(f"{where}: per_class_accuracy holds values that are not numbers")
    warnings = summary.get("warnings")
    if warnings is not None and not (isinstance(warnings, list) and all(isinstance(w, str) for w in warnings)):
        raise CheckpointError(f"{where}: warnings is not a list of messages")
    data = summary.get("data") or {}
    classes = data.get("classes")
    if classes is not None and not (
        isinstance(classes, list) and all(isinstance(c, str) or _is_int(c) for c in classes)
    ):
        raise CheckpointError(f"{where}: data.classes={brief(classes, 60)} is not a list of class names")
    shape = data.get("input_shape")
    if shape is not None and not (isinstance(shape, list) and all(_is_int(d) and d > 0 for d in shape)):
        raise CheckpointError(f"{where}: data.input_shape={brief(shape, 60)} is not a list of positive sizes")
    cm = summary.get("confusion_matrix")
    if cm is not None:
        n = len(cm) if isinstance(cm, list) else -1
        square = n >= 0 and all(
            isinstance(row, list) and len(row) == n and all(_is_int(c) and c >= 0 for c in row) for row in cm
        )
        if not square or (per_class and n != len(per_class)) or (classes is not None and n != len(classes)):
            raise CheckpointError(f"{where}: confusion_matrix is not a square table of counts, one row per class")
    return summary


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def missing_weights(run: Run) -> str:
    """Why a run folder has no model weights to use, as the end of a one-line error."""
    status = run.summary.get("status")
    if run.summary.get("kind") == "baseline":
        return "a scikit-learn baseline keeps no network weights: its results are in summary.json and report.html"
    if status in ("interrupted", "running"):
        return f"the run did not finish; resume it: trainlab train --resume {run.path}"
    if status in ("failed", "diverged"):
        return f"the run {status}; train it again"
    return f"no {WEIGHTS} in the run folder; train it again"


def load_run(path: str | Path) -> Run:
    """Load a run directory (config, metrics, summary) without touching the checkpoint."""
    path = Path(path)
    if not (path / CONFIG).is_file():
        raise ConfigError(f"{path} is not a run directory (no {CONFIG})")

    cfg = load_config(path / CONFIG)
    summary: dict[str, Any] = {}
    if (path / SUMMARY).is_file():
        try:  # bounded: size and nesting are checked before json.loads sees the text
            raw = read_json(path / SUMMARY)
        except ConfigError as exc:
            raise CheckpointError(str(exc)) from None
        summary = check_summary(raw, str(path / SUMMARY))
    return Run(path, cfg, summary, read_metrics_csv(path / METRICS))


def list_runs(parent: str | Path = "runs", unreadable: list[tuple[Path, str]] | None = None) -> list[Run]:
    """Every run directory under ``parent``, oldest first.

    A run whose files cannot be read is left out of the list (one bad run must not hide the others);
    pass a list as ``unreadable`` to get ``(directory, why)`` for each of them.
    """
    parent = Path(parent)
    if not parent.is_dir():
        return []
    runs = []
    for d in sorted(parent.iterdir()):
        if d.is_dir() and (d / CONFIG).is_file():
            try:
                runs.append(load_run(d))
            except (ConfigError, CheckpointError) as exc:
                if unreadable is not None:
                    unreadable.append((d, str(exc)))
    return runs
