"""``summary.json``: what produced a run's numbers, and writing it when things go wrong."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import numpy
import torch

from trainlab.atomic import json_text, overwrite_in_place, write_json
from trainlab.errors import TrainlabError
from trainlab.version import __version__


def versions() -> dict[str, str]:
    """Versions of what produced the numbers."""
    return {"trainlab": __version__, "torch": torch.__version__, "numpy": numpy.__version__, "python": platform.python_version(), "platform": platform.platform()}


def write_summary_best_effort(path: Path, summary: dict[str, Any]) -> None:
    """Record a failure in summary.json unless the disk refuses too: the original error matters more.

    On a full disk the atomic write (a new temporary file) fails; summary.json is then rewritten in
    place, in the blocks it already has, so it does not go on claiming "running".
    """
    try:
        write_json(path, summary)
    except TrainlabError:
        overwrite_in_place(path, json_text(summary))
