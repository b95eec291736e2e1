"""``summary.json``: the typed summary of a run (``Summary``), its status rules, and what produced its numbers.

``trainlab.session.RunSession`` is the one writer of the file; this module only says what it holds.
"""

from __future__ import annotations

import enum
import platform
from dataclasses import dataclass, field, fields
from typing import Any

import numpy
import torch

from trainlab.version import __version__

RUNNING = "running"
# how a run ends: early stopping ends "completed" (or "stopped" by another callback), the NaN guard
# "diverged", a sweep's pruner "pruned", a stop signal "interrupted" (a checkpoint to resume), an error "failed"
FINAL = ("completed", "stopped", "failed", "interrupted", "diverged", "pruned")
STATUSES = (RUNNING, *FINAL)


def versions() -> dict[str, str]:
    """Versions of what produced the numbers."""
    return {
        "trainlab": __version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


class Unset(enum.Enum):
    """A field summary.json does not have, as opposed to one it has as ``null``."""

    UNSET = "unset"


UNSET = Unset.UNSET
METRIC_KEYS = ("confusion_matrix", "per_class_accuracy", "per_class", "adjusted_rand_index")


def is_metric(key: str) -> bool:
    """Whether a summary.json key is a final figure (``test_*``, ``train_*``, ``val_*``, the confusion matrix...)."""
    return key.startswith(("test_", "train_", "val_")) or key in METRIC_KEYS


class StatusError(ValueError):
    """A status change the life cycle does not allow (a programming error, never the user's)."""


@dataclass
class Summary:
    """What summary.json holds, field by field, in the order it is written.

    ``status`` goes from ``running`` to one of ``FINAL`` once and never back; a field left ``UNSET``
    is not written (``None`` is written as ``null``). ``metrics`` are the final figures, written at
    the top level where the fields list them; ``extra`` keeps keys this class does not know.
    """

    kind: str | Unset = UNSET  # "baseline" for a scikit-learn baseline (classical.KIND); unset for a network
    status: str = RUNNING
    started: str = ""
    header: str = ""
    baseline: str | Unset = UNSET  # the baseline's spec, e.g. svc(C=10)
    world_size: int | Unset = UNSET  # processes of a data-parallel run
    resumes: int | Unset = UNSET
    resumed_at_step: int | Unset = UNSET
    stacked: dict[str, Any] | Unset = UNSET  # runs (in its stack), seconds (the stack's training), of (stacked in all)
    ranks: list[dict[str, Any]] | Unset = UNSET  # where each rank of a data-parallel run stopped
    stop_reason: str | None | Unset = UNSET
    interrupted_by: str | None | Unset = UNSET
    error: str | Unset = UNSET
    epochs: int | Unset = UNSET
    steps: int | Unset = UNSET
    fit_seconds: float | Unset = UNSET
    eval_seconds: float | Unset = UNSET
    best_val_accuracy: float | None | Unset = UNSET
    metrics: dict[str, Any] = field(default_factory=dict)
    initial_loss: float | None | Unset = UNSET
    expected_initial_loss: float | None | Unset = UNSET
    estimator: str | Unset = UNSET  # a baseline's scikit-learn class, its parameters and iterations
    estimator_params: dict[str, Any] | Unset = UNSET
    n_iter: int | Unset = UNSET
    warnings: list[str] | Unset = UNSET
    nan_guard: dict[str, Any] | None | Unset = UNSET
    params: int | Unset = UNSET
    device: str | Unset = UNSET
    threads: int | Unset = UNSET
    omp_wait_policy: str | Unset = UNSET
    data: dict[str, Any] | Unset = UNSET
    fitted: dict[str, Any] | Unset = UNSET  # a linear model on a regression task: w and b in the data's units
    representation: dict[str, Any] | Unset = UNSET  # a pretraining run's linear probes and kNN
    versions: dict[str, str] | Unset = UNSET
    finished: str | Unset = UNSET
    report_seconds: float | Unset = UNSET
    report_interrupted_by: str | Unset = UNSET
    extra: dict[str, Any] = field(default_factory=dict)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "status":
            if "status" in self.__dict__:
                self.check_end(value)
            elif value not in STATUSES:
                raise StatusError(f"status {value!r} is not one of {', '.join(STATUSES)}")
        super().__setattr__(name, value)

    def check_end(self, status: str) -> None:
        """Raise ``StatusError`` unless this summary may end as ``status`` now (it is running; ``status`` is final)."""
        if status not in STATUSES:
            raise StatusError(f"status {status!r} is not one of {', '.join(STATUSES)}")
        if not (self.status == RUNNING and status in FINAL):
            raise StatusError(
                f"a run's status goes from {RUNNING} to one of {', '.join(FINAL)} once;"
                f" not from {self.status!r} to {status!r}"
            )

    @property
    def running(self) -> bool:
        """True until the run has its final status."""
        return self.status == RUNNING

    def update(self, **values: Any) -> None:
        """Set fields by name: known fields, else final figures (``is_metric``) into ``metrics``, else ``extra``."""
        names = _FIELDS
        for key, value in values.items():
            if key in names:
                setattr(self, key, value)
            elif is_metric(key):
                self.metrics[key] = value
            else:
                self.extra[key] = value

    def to_dict(self) -> dict[str, Any]:
        """summary.json's object: the fields that are set, in field order, metrics and extra at the top level."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("metrics", "extra"):
                out.update(value)
            elif value is not UNSET:
                out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Summary:
        """A summary read back from summary.json's object (its status as written)."""
        summary = cls(status=raw.get("status", RUNNING) if raw.get("status") in STATUSES else RUNNING)
        summary.update(**{k: v for k, v in raw.items() if k != "status"})
        return summary


_FIELDS = frozenset(f.name for f in fields(Summary)) - {"metrics", "extra"}
