"""Errors a user can cause: each carries a one-line message naming the bad value and what is allowed."""

from __future__ import annotations

import difflib
import reprlib
from collections.abc import Iterable
from typing import Any


class TrainlabError(Exception):
    """A problem the user can fix (bad config, missing data, corrupt file); the CLI exits 2 on it."""

    exit_code = 2


class ConfigError(TrainlabError):
    """A config key, value or name is wrong."""


class DataError(TrainlabError):
    """A data set is missing, corrupt or inconsistent."""


class CheckpointError(TrainlabError):
    """A checkpoint or run directory cannot be used."""


class _Brief(reprlib.Repr):
    """reprlib with room for ordinary values, and integers too long for ``repr`` summarized."""

    def __init__(self, limit: int):
        super().__init__()
        self.maxstring = self.maxother = self.maxlong = limit
        self.maxlist = self.maxtuple = self.maxdict = self.maxset = 20
        self.maxlevel = 4

    def repr_int(self, x: int, level: int) -> str:
        # Python refuses str() of integers over 4300 digits; a bit count costs nothing
        if x.bit_length() > 3 * self.maxlong:
            return f"<an integer of about {int(x.bit_length() * 0.30103)} digits>"
        return super().repr_int(x, level)


def brief(value: Any, limit: int = 200) -> str:
    """``repr(value)`` cut to about ``limit`` characters, built without expanding big values first.

    Error messages quote the bad value; a hostile one (a YAML alias bomb, a 5000-digit number) must
    not turn a one-line message into megabytes.
    """
    if hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, (str, bytes)):
        # a tensor or array: its repr runs over lines and elements; what matters is its kind
        return f"<{type(value).__name__} of shape {tuple(value.shape)}, {value.dtype}>"
    text = " ".join(_Brief(limit).repr(value).split())  # one line, whatever the value's repr does
    return text if len(text) <= limit else text[: limit - 3] + "..."


def clip(text: str, limit: int = 200) -> str:
    """``text`` cut to ``limit`` characters (with '...'), for quoting other messages inside ours."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def close_match(word: str, choices: Iterable[str]) -> str:
    """Return ' (did you mean X?)' for the closest choice, or '' when none is close."""
    # difflib is quadratic in the word's length: a hostile 1 MB name must not stall the message
    found = difflib.get_close_matches(str(word)[:100], list(choices), n=1, cutoff=0.6)
    return f" (did you mean {found[0]!r}?)" if found else ""


def unknown(kind: str, name: str, choices: Iterable[str]) -> ConfigError:
    """Build the standard 'unknown X' error listing the valid names and a close match."""
    choices = sorted(choices)
    return ConfigError(f"unknown {kind} {brief(name)}{close_match(name, choices)}; choose one of: {', '.join(choices)}")


class NotStackable(TrainlabError):
    """These runs cannot train as one stacked model (``trainlab.stacking``); callers train them one by one."""
