"""One grammar for every command: ``--options`` and ``key=value`` overrides in any order, and a
command line argparse cannot read reported as one line that names the close matches and the valid
choices (exit 2), never two lines of top-level usage."""

from __future__ import annotations

import argparse
import difflib
import re
from collections.abc import Sequence
from typing import NoReturn

from trainlab.errors import TrainlabError

GRAMMAR = """grammar (every command):
  trainlab COMMAND [ARGUMENTS] [--option VALUE ...] [key=value ...]
  options and key=value config overrides may come in any order; keys are dotted config keys
  (optim.lr=3e-4 model.hidden=[512,256]; `trainlab list keys`). threads=N, seed=S, device=D and
  output.dir=DIR are config keys wherever they apply (train, eval, compare, sweep, lesson,
  reproduce, baselines, doctor, lr-find, ...). --config NAME takes a preset by name from any
  folder (`trainlab list presets`) or a YAML file."""


class UsageError(TrainlabError):
    """A command line that argparse cannot read: an unknown option, a missing or malformed argument."""


def _flat(text: str) -> str:
    return " ".join(text.split())


def _choices_hint(word: str, choices: Sequence[str], what: str) -> str:
    """' (did you mean X?); WHAT: a, b, c' for a word outside ``choices``."""
    # difflib is quadratic in the word's length: capped as errors.close_match caps it
    close = difflib.get_close_matches(word[:100], list(choices), n=3, cutoff=0.6)
    meant = f" (did you mean {' or '.join(close)}?)" if close else ""
    return f"{meant}; {what}: {', '.join(choices)}"


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: the parse fails with a UsageError that the CLI prints and exits 2 on."""

    def options(self) -> list[str]:
        """The options this command takes, long spellings first, in the order its help lists them."""
        out = []
        for action in self._actions:
            longs = [s for s in action.option_strings if s.startswith("--")]
            out += longs or action.option_strings[:1]
        return out

    def error(self, message: str) -> NoReturn:
        """Raise the one-line UsageError for ``message`` (argparse calls this on any parse error)."""
        raise UsageError(f"{self.prog}: {explain(self, message)}")


def explain(parser: Parser, message: str) -> str:
    """argparse's ``message`` said as one line that names close matches and what is valid."""
    help_ = f" (`{parser.prog} --help`)"
    if message.startswith("unrecognized arguments: "):
        words = message.split(": ", 1)[1].split()
        option = next((w for w in words if w.startswith("-")), None)
        if option is not None:
            name = option.split("=", 1)[0]
            return f"unknown option {name}" + _choices_hint(name, parser.options(), "its options")
        keys = [w for w in words if "=" in w]
        if keys:
            return f"takes no key=value overrides, got {keys[0]}{help_}"
        return f"unexpected argument {words[0]!r}{help_}"
    found = re.match(r"argument (\S+): invalid choice: '(.*)' \(choose from (.*)\)$", message)
    if found:
        where, word, listed = found.groups()
        choices = [c.strip().strip("'") for c in listed.split(",")]
        if where == "COMMAND":
            return f"unknown command {word!r}" + _choices_hint(word, choices, "commands")
        return f"{where}: unknown value {word!r}" + _choices_hint(word, choices, "choose one of")
    if "the following arguments are required" in message:
        return f"{message}; usage: {_flat(parser.format_usage()).removeprefix('usage: ')}"
    return _flat(message) + help_


def subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction | None:
    """The parser's subcommand action, if it has one."""
    return next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """The namespace of ``argv``: the command's options and positionals (key=value overrides among them)
    in any order, through ``parse_intermixed_args`` of the command's own parser."""
    sub = subparsers(parser)
    at = next((i for i, a in enumerate(argv) if not a.startswith("-")), None)
    if sub is None or at is None or at > 0 or argv[at] not in sub.choices:
        return parser.parse_args(argv)  # --help, --version, no command, an unknown command: argparse says it
    command = sub.choices[argv[at]]
    try:
        args = command.parse_intermixed_args(argv[at + 1 :])
    except TypeError:  # a command with its own subcommands (data get/where): argparse's order rules
        return parser.parse_args(argv)
    setattr(args, sub.dest, argv[at])
    return args


__all__ = ["GRAMMAR", "Parser", "UsageError", "explain", "parse"]
