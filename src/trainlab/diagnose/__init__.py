"""Babysitting the learning process: the doctor's checks, the LR range test, per-layer statistics."""

from trainlab.diagnose.checks import CheckResult, Subject, run_checks
from trainlab.diagnose.lr_find import LR_SUGGESTIONS, LRFindResult, lr_range_test

__all__ = ["LR_SUGGESTIONS", "CheckResult", "LRFindResult", "Subject", "lr_range_test", "run_checks"]
