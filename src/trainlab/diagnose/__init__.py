"""Babysitting the learning process: the doctor's checks, the LR range test, per-layer statistics."""

from trainlab.diagnose.checks import CheckResult, Subject, run_checks
from trainlab.diagnose.lr_find import (
    LR_SUGGESTIONS,
    LRFinder,
    LRFindOptions,
    LRFindResult,
    lr_range_test,
)

__all__ = [
    "LR_SUGGESTIONS",
    "CheckResult",
    "LRFindOptions",
    "LRFindResult",
    "LRFinder",
    "Subject",
    "lr_range_test",
    "run_checks",
]
