"""Readers for text nobody vouches for (config files, override values, summary.json), bounded.

A YAML alias bomb (600 bytes of ``&a [*b, *b, ...]`` anchors) expands to billions of values once
constructed; a 5000-deep nesting overflows Python's recursion; a 5000-digit number or 100000 nested
brackets in JSON raise ValueError or RecursionError deep in the parser. These loaders refuse such
input first, with a ConfigError naming what was too big:

- YAML: at most ``MAX_DEPTH`` levels of nesting and ``MAX_NODES`` values *after* alias expansion,
  counted while the document is composed (before any Python object is built).
- JSON: at most ``MAX_JSON_BYTES`` bytes and ``MAX_DEPTH`` levels of nesting, checked by a scan
  before ``json.loads``; over-long integers are refused by Python itself and reported in one line.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from trainlab.errors import ConfigError, brief, clip

MAX_DEPTH = 100  # nesting levels: a config needs about 5, JSON summaries about 4
MAX_NODES = 100_000  # YAML values after expanding aliases: the largest real config has a few hundred
MAX_CONFIG_BYTES = 1 << 20  # a config file; the reference recipe is 2 KB
MAX_JSON_BYTES = 16 << 20  # summary.json of a 1000-class run (confusion matrix) is about 4 MB


class _TooBig(Exception):
    """Raised inside the YAML composer; turned into a ConfigError by ``load_yaml``."""


class BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that counts nesting depth and the expanded number of nodes while composing.

    An alias is counted as the full size of the node it names, so ``[*a, *a]`` where ``a`` holds
    1000 values counts 2001: the size the constructed Python value will have. Aliases to a node
    that is still being composed (recursive structures) are refused as well.
    """

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0
        self._total = 0
        self._sizes: dict[int, int] = {}  # id(node) -> expanded size, for nodes composed so far

    def compose_node(self, parent: Any, index: Any) -> Any:
        alias = self.check_event(yaml.AliasEvent)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _TooBig(f"nested deeper than {MAX_DEPTH} levels")
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if alias:
            size = self._sizes.get(id(node))
            if size is None:
                raise _TooBig("an alias refers to a value that contains it (a recursive structure)")
            self._total += size
        else:
            if isinstance(node, yaml.SequenceNode):
                children = node.value
            elif isinstance(node, yaml.MappingNode):
                children = [n for pair in node.value for n in pair]
            else:
                children = []
            size = 1 + sum(self._sizes[id(c)] for c in children)
            self._sizes[id(node)] = size
            self._total += 1
        if self._total > MAX_NODES:
            raise _TooBig(f"expands to more than {MAX_NODES:,} values (YAML aliases repeat what they name)")
        return node


def load_yaml(text: str, what: str) -> Any:
    """Parse YAML ``text`` safely within the bounds above; ``what`` names the source in messages.

    YAML syntax errors propagate as ``yaml.YAMLError`` (callers report the line); anything too big
    or a number Python refuses to convert is a ConfigError.
    """
    loader = BoundedLoader(text)
    try:
        return loader.get_single_data()
    except _TooBig as exc:
        raise ConfigError(f"{what} is too big: {exc}") from None
    except ValueError as exc:  # int() of a number with more than 4300 digits
        raise ConfigError(f"{what} holds {_unreadable(exc)}") from None
    finally:
        loader.dispose()


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)


# for the depth scan: every byte but the four brackets is deleted, and braces count as brackets
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_AS_BRACKETS = bytes.maketrans(b"{}", b"[]")


def json_depth(raw: bytes) -> int:
    """Deepest bracket nesting of JSON text (brackets inside strings do not count).

    Each pass deletes the innermost pairs (``[]`` after braces became brackets) at C speed, so the
    passes count the depth; the scan stops past ``MAX_DEPTH`` (the only depth that matters) and
    costs no NumPy import, which ``trainlab runs`` and ``show`` avoid. Brackets left unmatched
    (``]]][[[``: invalid JSON) count in full, an upper bound."""
    brackets = _JSON_STRING.sub(b"", raw).translate(_AS_BRACKETS, _NOT_BRACKETS)
    depth = 0
    while brackets and depth <= MAX_DEPTH:
        shorter = brackets.replace(b"[]", b"")
        if len(shorter) == len(brackets):  # only unmatched brackets are left
            return depth + brackets.count(b"[")
        brackets, depth = shorter, depth + 1
    return depth + brackets.count(b"[")


def loads_json(raw: bytes, what: str, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """Parse JSON bytes within the size and depth bounds; every failure is a one-line ConfigError."""
    if len(raw) > max_bytes:
        raise ConfigError(f"{what} is too big to read ({len(raw):,} bytes; at most {max_bytes:,})")
    depth = json_depth(raw)
    if depth > MAX_DEPTH:
        raise ConfigError(f"{what} is nested {depth} levels deep; at most {MAX_DEPTH} are read")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ConfigError(f"{what} is not valid JSON") from None
    except (ValueError, RecursionError) as exc:  # a number with more than 4300 digits
        raise ConfigError(f"{what} holds {_unreadable(exc)}") from None


def _unreadable(exc: BaseException) -> str:
    """What Python refused to read, in a few words."""
    if "integer string conversion" in str(exc):
        return f"a number with more than {sys.get_int_max_str_digits()} digits, which Python refuses to read"
    return f"a value Python cannot read ({clip(str(exc), 120)})"


def read_json(path: str | Path, what: str | None = None, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """Read and parse a JSON file within the bounds; a missing or unreadable file is a ConfigError."""
    path = Path(path)
    what = what or str(path)
    try:
        with path.open("rb") as fh:
            raw = fh.read(max_bytes + 1)  # never more than the bound, whatever the file's size
    except FileNotFoundError:
        raise ConfigError(f"{what} not found") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror or exc}") from None
    if len(raw) > max_bytes:
        raise ConfigError(f"{what} is too big to read (more than {max_bytes:,} bytes)")
    return loads_json(raw, what, max_bytes)


def describe_type(value: Any) -> str:
    """'a list', 'a string', 'null', ... for messages about a value of the wrong JSON type."""
    names = {list: "a list", str: "a string", int: "a number", float: "a number", bool: "a boolean", dict: "an object"}
    return "null" if value is None else names.get(type(value), f"a {type(value).__name__}") + f" ({brief(value, 60)})"


def memory_available() -> int | None:
    """Bytes of memory this process can still use (Linux ``MemAvailable``, capped by RLIMIT_AS), or None if unknown."""
    found: int | None = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    found = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        try:
            found = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, AttributeError):
            found = None
    try:
        import resource  # optional: POSIX only

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:  # an address-space limit counts what is mapped already
            left = soft - _mapped_bytes()
            found = left if found is None else min(found, left)
    except (ImportError, OSError, ValueError):
        pass
    return None if found is None else max(0, found)


def _mapped_bytes() -> int:
    """This process's virtual memory size (VmSize), 0 if unknown."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0
