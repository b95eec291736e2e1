"""The new-run form, generated from the typed config: one field per config key, nothing listed twice.

Each field's key, help and default come from ``config.describe_keys()``; its rules (``choices``,
``min``/``max``) from the field's metadata in ``config.py``; the names a catalogue value may take
from ``names.CATALOGUES`` (the light table ``trainlab list`` prints). A submitted form becomes the
``KEY=VALUE`` overrides of the keys that differ from their defaults, checked by
``config.load_config`` exactly as ``trainlab train`` checks them; an error is shown beside the
field it names, with the CLI's own message.
"""

from __future__ import annotations

import dataclasses
import shlex
import typing
from dataclasses import dataclass
from typing import Any

from trainlab.config import Config, describe_keys, load_config
from trainlab.errors import TrainlabError
from trainlab.names import CATALOGUES

MAX_VALUE = 2000  # characters: the longest value one field takes (a cnn's blocks fit)


@dataclass(frozen=True)
class Field:
    """One config key as a form field."""

    key: str
    help: str
    default: str  # the default written as an override value ('' for none)
    kind: str  # text, number, bool, choice
    choices: tuple[str, ...] = ()  # fixed choices (kind choice) or catalogue names (suggestions)
    catalogue: str = ""
    low: Any = None
    high: Any = None

    @property
    def section(self) -> str:
        """The config section a key belongs to ('' for top-level keys)."""
        return self.key.rpartition(".")[0]


def text_of(value: Any) -> str:
    """A config value as the text of an override (``[256]``, ``true``, ``1e-3``); '' for None."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(text_of(v) for v in value) + "]"
    return str(value)


def _rules() -> dict[str, tuple[Any, dict[str, Any]]]:
    """(type hint, metadata) of every leaf key of ``Config``."""
    out: dict[str, tuple[Any, dict[str, Any]]] = {}

    def walk(cls: type, prefix: str) -> None:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if dataclasses.is_dataclass(hints[f.name]):
                walk(hints[f.name], prefix + f.name + ".")
            else:
                out[prefix + f.name] = (hints[f.name], dict(f.metadata))

    walk(Config, "")
    return out


def fields() -> list[Field]:
    """Every config key as a form field, in the config's own order."""
    rules = _rules()
    out = []
    for key, help_text, default in describe_keys():
        hint, meta = rules[key]
        catalogue = meta.get("catalogue", "")
        names = tuple(entry[0] for entry in CATALOGUES.get(catalogue, ()))
        if meta.get("choices"):
            kind, choices = "choice", tuple(map(str, meta["choices"]))
        elif hint is bool:
            kind, choices = "bool", ("true", "false")
        elif hint in (int, float):
            kind, choices = "number", ()
        else:
            kind, choices = "text", names
        out.append(Field(key, help_text, text_of(default), kind, choices, catalogue, meta.get("min"), meta.get("max")))
    return out


def overrides_from(form: dict[str, str], known: list[Field] | None = None) -> list[str]:
    """The ``KEY=VALUE`` overrides of a submitted form: the known keys whose value differs from the default."""
    out = []
    for f in known or fields():
        value = form.get(f.key)
        if value is None:
            continue
        value = value.strip()[:MAX_VALUE]
        if value != f.default and not (value == "" and f.default == ""):
            out.append(f"{f.key}={value}")
    return out


def field_of(message: str, keys: list[str]) -> str:
    """The config key an error message names (the longest that appears in it), or ''."""
    found = [k for k in keys if k in message]
    return max(found, key=len) if found else ""


def validate(overrides: list[str]) -> tuple[Config | None, dict[str, str]]:
    """The config the overrides give, or the CLI's error message keyed by the field it names ('' for none)."""
    try:
        return load_config(None, overrides), {}
    except TrainlabError as exc:
        message = str(exc)
        return None, {field_of(message, [f.key for f in fields()]): message}


def command(overrides: list[str], resume: str | None = None) -> str:
    """The ``trainlab train ...`` command that makes the same run."""
    if resume is not None:
        return f"trainlab train --resume {shlex.quote(resume)}"
    return " ".join(["trainlab train", *(shlex.quote(o) for o in overrides)])


def sections(known: list[Field]) -> list[tuple[str, list[Field]]]:
    """The fields grouped by config section, in order (top-level keys under 'run')."""
    groups: dict[str, list[Field]] = {}
    for f in known:
        groups.setdefault(f.section or "run", []).append(f)
    return list(groups.items())


__all__ = ["Field", "command", "field_of", "fields", "overrides_from", "sections", "text_of", "validate"]
