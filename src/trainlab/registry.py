"""Name → constructor registries, and the inline spec syntax ``name(arg, key=value)``.

Every catalogue (activations, inits, losses, optimizers, datasets, models, ...) is one
``Registry``. Parameterized entries take their parameters inline, e.g. ``leaky_relu(0.1)`` or
``sgd(momentum=0.9,nesterov=true)``; the parameters are checked against the constructor's
signature so a typo fails at config time, not halfway through training.

An entry also carries its **facts**: what the rest of the code knows about it (an activation's
init gain, a loss's family and expected initial loss, whether a model stacks), given as keywords
to ``register`` and read with ``Registry.fact``. A registry names the facts every entry must
declare (``required``: registering without one is refused) and the documented value of the
optional ones (``defaults``), so nothing about an entry lives in a side table elsewhere.
"""

from __future__ import annotations

import inspect
import math
import re
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import yaml

from trainlab import formatting
from trainlab.bounded import MAX_DEPTH, load_yaml
from trainlab.errors import ConfigError, brief, clip, close_match, unknown

_SPEC = re.compile(r"^\s*([A-Za-z_][\w\-]*)\s*(?:\((.*)\))?\s*$", re.S)


@dataclass(frozen=True)
class Spec:
    """A parsed ``name(args, key=value)`` string."""

    name: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)

    def __str__(self) -> str:
        parts = [formatting.value(a) for a in self.args] + [
            f"{k}={formatting.value(v)}" for k, v in self.kwargs.items()
        ]
        return f"{self.name}({','.join(parts)})" if parts else self.name


def split_top(text: str) -> list[str]:
    """Split on commas that are not inside brackets or parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur))
    return parts


def parse_value(text: str, what: str | None = None, _depth: int = 0) -> Any:
    """Parse one scalar/list written on a command line or inside a spec (YAML rules, 1e-3 is a float).

    ``what`` names the value in messages (the config key it is for).
    """
    text = text.strip()
    if text.startswith("[") and text.endswith("]") and "(" in text:
        # a list of specs such as [conv(32,k=3),shift(2)]: YAML would split inside the parentheses
        if _depth >= MAX_DEPTH:
            raise ConfigError(f"{what or 'value ' + brief(text, 60)} is too big: nested deeper than {MAX_DEPTH} levels")
        return [parse_value(part, what, _depth + 1) for part in split_top(text[1:-1])]
    try:
        value = load_yaml(text, what or f"value {brief(text, 60)}") if text else None
    except yaml.YAMLError:
        return text
    if isinstance(value, str):
        try:  # YAML 1.1 reads "1e-3" as a string; users mean a number
            return float(value) if re.fullmatch(r"[-+]?\d*\.?\d+([eE][-+]?\d+)?", value) else value
        except ValueError:
            return value
    return value


def parse_spec(text: Any) -> Spec:
    """Parse ``name``, ``name(1, 2)`` or ``name(a=1,b=true)`` into a ``Spec``."""
    if isinstance(text, Spec):
        return text
    if isinstance(text, dict) and len(text) == 1:  # YAML form {name: {k: v}}
        ((name, kw),) = text.items()
        if isinstance(kw, dict) and all(isinstance(k, str) for k in kw):
            return Spec(str(name), (), dict(kw))
        if kw is None or isinstance(kw, (list, tuple)):  # {leaky_relu: [0.1]}: positional values
            return Spec(str(name), tuple(kw or ()), {})
        if isinstance(kw, (int, float, str, bool)):  # {leaky_relu: 0.1}: one positional value
            return Spec(str(name), (kw,), {})
        raise ConfigError(f"cannot read {brief(text)}: expected {{name: {{key: value}}}} or name(arg, key=value)")
    m = _SPEC.match(str(text))
    if not m:
        raise ConfigError(f"cannot read {brief(text)}: expected name or name(arg, key=value)")
    name, inner = m.group(1), m.group(2)
    args, kwargs = [], {}
    for part in split_top(inner or ""):
        if re.match(r"^\s*[A-Za-z_]\w*\s*=", part):
            key, _, val = part.partition("=")
            kwargs[key.strip()] = parse_value(val)
        elif kwargs:
            raise ConfigError(f"in {brief(text)}: positional value {brief(part.strip())} after keyword values")
        else:
            args.append(parse_value(part))
    return Spec(name, tuple(args), kwargs)


@dataclass
class Entry:
    """One registered constructor with its help line, and the rules its inline parameters obey."""

    name: str
    factory: Callable[..., Any]
    help: str
    params: tuple[str, ...]  # names the user may pass inline
    types: dict[str, Any] = field(default_factory=dict)  # the factory's annotations of those parameters
    limits: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)  # inclusive (low, high)
    facts: dict[str, Any] = field(default_factory=dict)  # what the code knows about it (as declared at register)

    def defaults(self) -> dict[str, Any]:
        """The factory's default value of each inline parameter (what an unset parameter becomes)."""
        try:
            sig = inspect.signature(self.factory)
        except (TypeError, ValueError):
            return {}
        return {
            p: sig.parameters[p].default
            for p in self.params
            if p in sig.parameters and sig.parameters[p].default is not inspect.Parameter.empty
        }


_MISSING: Any = object()


# every registry made so far in this process, by kind ("activation", "data set", ...): the light name
# table (trainlab/names.py) lists the shipped entries; an entry registered at run time is found here
LIVE: dict[str, Registry] = {}


class Registry:
    """A named catalogue: ``register`` adds constructors with their facts, ``create`` builds one from a spec.

    ``required`` names the facts every entry must declare; ``defaults`` gives the documented value
    of an optional fact an entry leaves out; ``listed`` names the facts ``trainlab list KIND`` shows.
    """

    def __init__(
        self,
        kind: str,
        required: tuple[str, ...] = (),
        defaults: Mapping[str, Any] | None = None,
        listed: tuple[str, ...] = (),
    ):
        self.kind = kind
        LIVE[kind] = self  # config validation looks here for entries the light name table cannot know
        self.required = tuple(required)
        self.defaults = dict(defaults or {})
        self.listed = tuple(listed)
        self._entries: dict[str, Entry] = {}

    def register(
        self,
        name: str,
        help: str = "",
        params: tuple[str, ...] | None = None,
        limits: dict[str, tuple[float | None, float | None]] | None = None,
        **facts: Any,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator registering ``factory`` under ``name``; ``params`` are the inline parameters.

        Each inline parameter must match the factory's annotation (``float``, ``int``, ``bool``,
        ``str``, optionally ``| None``) and lie within ``limits[name] = (low, high)`` (inclusive,
        None for no bound); both are checked by ``bind``, before anything is built. ``facts`` are
        the entry's facts (``gain=...``, ``family=...``); those in ``required`` must be given.
        """
        self._check_facts(name, facts)

        def deco(factory: Callable[..., Any]) -> Callable[..., Any]:
            doc = (inspect.getdoc(factory) or "").splitlines()
            p = params if params is not None else _user_params(factory)
            self._entries[name] = Entry(
                name,
                factory,
                help or (doc[0] if doc else ""),
                p,
                _param_types(factory, p),
                dict(limits or {}),
                dict(facts),
            )
            return factory

        return deco

    def add(
        self,
        name: str,
        factory: Callable[..., Any],
        help: str,
        params: tuple[str, ...] = (),
        limits: dict[str, tuple[float | None, float | None]] | None = None,
        **facts: Any,
    ) -> None:
        """Register ``factory`` directly (for torch classes), with its facts."""
        self._check_facts(name, facts)
        self._entries[name] = Entry(name, factory, help, params, {}, dict(limits or {}), dict(facts))

    def _check_facts(self, name: str, facts: Mapping[str, Any]) -> None:
        """Refuse an entry that leaves out a required fact: a programming error, raised at import."""
        missing = [key for key in self.required if key not in facts]
        if missing:
            raise TypeError(
                f"{self.kind} {name!r} must declare the fact(s) {', '.join(missing)} when registered"
                f" (every {self.kind} declares: {', '.join(self.required)})"
            )

    def entry(self, spec: Any) -> Entry:
        """The entry a name or spec (``leaky_relu(0.1)``) names, or a ConfigError listing the valid names."""
        return self.get(parse_spec(spec).name)

    def fact(self, spec: Any, key: str, default: Any = _MISSING) -> Any:
        """The fact ``key`` of the entry ``spec`` names: as declared, else the registry's default, else ``default``."""
        facts = self.entry(spec).facts
        if key in facts:
            return facts[key]
        if key in self.defaults:
            return self.defaults[key]
        if default is not _MISSING:
            return default
        raise KeyError(f"{self.kind} {parse_spec(spec).name!r} has no fact {key!r} and the registry no default for it")

    def listed_facts(self, entry: Entry) -> tuple[tuple[str, str], ...]:
        """(key, text) of the ``listed`` facts of ``entry`` for ``trainlab list`` (a false flag shows nothing)."""
        out = []
        for key in self.listed:
            value = entry.facts.get(key, self.defaults.get(key))
            if value is None or value is False:
                continue
            out.append((key, "" if value is True else str(value)))
        return tuple(out)

    @contextmanager
    def temporary(self) -> Iterator[Registry]:
        """A block whose registrations are undone on exit (tests adding a toy entry the documented way)."""
        saved = dict(self._entries)
        try:
            yield self
        finally:
            self._entries.clear()
            self._entries.update(saved)

    def __contains__(self, name: str) -> bool:
        return parse_spec(name).name in self._entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted(self._entries)

    def get(self, name: str) -> Entry:
        """The entry for ``name``, or a ConfigError listing the valid names."""
        try:
            return self._entries[name]
        except KeyError:
            raise unknown(self.kind, name, self._entries) from None

    def bind(self, spec: Any) -> tuple[Entry, dict[str, Any]]:
        """Resolve a spec to its entry and keyword parameters, checking names and arity."""
        s = parse_spec(spec)
        entry = self.get(s.name)
        if len(s.args) > len(entry.params):
            raise ConfigError(
                f"{self.kind} {brief(s.name)} takes at most {len(entry.params)} inline parameter(s)"
                f" ({', '.join(entry.params) or 'none'}), got {len(s.args)} in {brief(str(spec))}"
            )
        kwargs = dict(zip(entry.params, s.args))
        for key, value in s.kwargs.items():
            if key not in entry.params:
                raise ConfigError(
                    f"{self.kind} {brief(s.name)} has no parameter {brief(key)}{close_match(key, entry.params)};"
                    f" its parameters: {', '.join(entry.params) or 'none'}"
                )
            kwargs[key] = value
        for key, value in kwargs.items():
            kwargs[key] = _check_param(
                f"{self.kind} {brief(str(spec))}", key, value, entry.types.get(key), entry.limits.get(key)
            )
        return entry, kwargs

    def create(self, spec: Any, /, **context: Any) -> Any:
        """Build the object named by ``spec``; ``context`` passes non-user arguments (shapes, params)."""
        entry, kwargs = self.bind(spec)
        try:
            return entry.factory(**context, **kwargs)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{self.kind} {brief(str(spec))}: {clip(str(exc))}") from None

    def help_lines(self) -> list[str]:
        """One line per entry: name, its parameters, its help, and its listed facts."""
        return [help_line(e.name, e.params, e.help, self.listed_facts(e)) for e in self]


def help_line(name: str, params: tuple[str, ...], help: str, facts: tuple[tuple[str, str], ...] = ()) -> str:
    """``name(params)   help  [key value; flag]``: one catalogue entry as ``trainlab list`` prints it."""
    sig = f"{name}({', '.join(params)})" if params else name
    shown = "; ".join(f"{k} {v}" if v else k for k, v in facts)
    return f"{sig:<34} {help}" + (f"  [{shown}]" if shown else "")


def _param_types(factory: Callable[..., Any], params: tuple[str, ...]) -> dict[str, Any]:
    """The annotations of ``params`` that ``_check_param`` understands (others are not checked)."""
    try:
        hints = typing.get_type_hints(factory)
    except Exception:  # annotations naming what is not importable here: no type checks
        return {}
    return {p: hints[p] for p in params if p in hints and _options(hints[p]) is not None}


def _options(hint: Any) -> tuple[type, ...] | None:
    """The plain types a hint allows (``float | None`` -> (float, NoneType)); None if it is not plain."""
    args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    ok = (float, int, bool, str, type(None))
    return tuple(args) if all(a in ok for a in args) else None


def _check_param(where: str, key: str, value: Any, hint: Any, limit: tuple[float | None, float | None] | None) -> Any:
    """``value`` coerced to the parameter's annotated type and checked against its limits, or a ConfigError."""
    orig = value
    options = _options(hint) if hint is not None else None
    if options is not None:
        for opt in options:
            if opt is type(None) and value is None:
                return value
            if opt is bool and isinstance(value, bool):
                return value
            if opt is str and isinstance(value, str):
                return value
            if opt is int and not isinstance(value, bool):
                if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) < 2**53):
                    value = int(value)
                    break
            if opt is float and isinstance(value, (int, float)) and not isinstance(value, bool):
                if not math.isfinite(value):
                    raise ConfigError(f"{where}: {key}={brief(value)} must be a finite number{_range_text(limit)}")
                break  # an int stays an int: the factory's float() or arithmetic takes it as it is
        else:
            names = " or ".join(
                "null"
                if o is type(None)
                else "a number"
                if o is float
                else "an integer"
                if o is int
                else "true/false"
                if o is bool
                else "a string"
                for o in options
            )
            raise ConfigError(f"{where}: {key}={brief(value)} must be {names}")
    if limit is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
        low, high = limit
        if low is not None and value < low:
            raise ConfigError(f"{where}: {key}={brief(orig)} is out of range; must be >= {low}")
        if high is not None and value > high:
            raise ConfigError(f"{where}: {key}={brief(orig)} is out of range; must be <= {high}")
    return value


def _range_text(limit: tuple[float | None, float | None] | None) -> str:
    """' >= 0', ' in [0, 1]', ... for a limit, '' for none."""
    if limit is None:
        return ""
    low, high = limit
    if low is not None and high is not None:
        return f" in [{low}, {high}]"
    return f" >= {low}" if low is not None else f" <= {high}" if high is not None else ""


def _user_params(factory: Callable[..., Any]) -> tuple[str, ...]:
    """Keyword parameters with defaults are the user's; the others come from context."""
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return ()
    return tuple(
        p.name
        for p in sig.parameters.values()
        if p.default is not inspect.Parameter.empty and p.kind is not p.VAR_KEYWORD
    )
