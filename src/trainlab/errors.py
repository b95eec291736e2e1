"""Errors a user can cause: each carries a one-line message naming the bad value and what is allowed."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class TrainlabError(Exception):
    """A problem the user can fix (bad config, missing data, corrupt file); the CLI exits 2 on it."""

    exit_code = 2


class ConfigError(TrainlabError):
    """A config key, value or name is wrong."""


class DataError(TrainlabError):
    """A data set is missing, corrupt or inconsistent."""


class CheckpointError(TrainlabError):
    """A checkpoint or run directory cannot be used."""


def close_match(word: str, choices: Iterable[str]) -> str:
    """Return ' (did you mean X?)' for the closest choice, or '' when none is close."""
    found = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {found[0]!r}?)" if found else ""


def unknown(kind: str, name: str, choices: Iterable[str]) -> ConfigError:
    """Build the standard 'unknown X' error listing the valid names and a close match."""
    choices = sorted(choices)
    return ConfigError(
        f"unknown {kind} {name!r}{close_match(name, choices)}; choose one of: {', '.join(choices)}"
    )
