"""``trainlab list KIND``: every name a config accepts, with one line of help each.

The names (and the facts a registry lists, e.g. a loss's family) come from ``trainlab/names.py``, a
light table written from the live registries, so that
listing them (and building ``--help``) imports no torch, scikit-learn or Optuna;
``tests/test_startup.py`` checks that the table equals the registries.
``python -m trainlab.cli.catalog`` rewrites the table after a registry changes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from trainlab import names

# entries of the table: (name, inline parameters, help, listed facts as (key, text); text "" for a true flag)
Row = tuple[str, tuple[str, ...], str, tuple[tuple[str, str], ...]]


def catalogs() -> dict[str, Any]:
    """KIND -> live registry, for every catalogue (imports torch, scikit-learn, every lesson)."""
    # lazy: only the table's writer and its test need the live registries; `list` reads names.py
    from trainlab.classical import BASELINES
    from trainlab.data.augment import AUGMENTATIONS
    from trainlab.data.imbalance import IMBALANCE
    from trainlab.data.preprocess import PREPROCESS
    from trainlab.data.sources import DATASETS
    from trainlab.diagnose.lr_find import LR_SUGGESTIONS
    from trainlab.lessons import all_lessons
    from trainlab.nn import ACTIVATIONS, BIAS_INITS, INITS, LOSSES, MODELS
    from trainlab.nn.norms import NORMS
    from trainlab.nn.ssl import PRETRAIN
    from trainlab.sweeps.strategies import DISTRIBUTIONS, PRUNERS, SAMPLERS
    from trainlab.training.optim import OPTIMIZERS, SCHEDULES
    from trainlab.training.samplers import DATA_SAMPLERS

    return {
        "datasets": DATASETS,
        "models": MODELS,
        "activations": ACTIVATIONS,
        "inits": INITS,
        "bias-inits": BIAS_INITS,
        "norms": NORMS,
        "losses": LOSSES,
        "optimizers": OPTIMIZERS,
        "schedules": SCHEDULES,
        "preprocess": PREPROCESS,
        "augmentations": AUGMENTATIONS,
        "imbalance": IMBALANCE,
        "data-samplers": DATA_SAMPLERS,
        "pretraining": PRETRAIN,
        "samplers": SAMPLERS,
        "pruners": PRUNERS,
        "distributions": DISTRIBUTIONS,
        "lessons": all_lessons(),
        "baselines": BASELINES,
        "lr-suggestions": LR_SUGGESTIONS,
    }


def live_table() -> dict[str, tuple[Row, ...]]:
    """KIND -> (name, inline parameters, help, listed facts) of every entry, read from the live registries."""
    return {
        kind: tuple((e.name, tuple(e.params), e.help, registry.listed_facts(e)) for e in registry)
        for kind, registry in catalogs().items()
    }


def live_lesson_order() -> tuple[str, ...]:
    """The lessons in course order, as ``trainlab lesson list`` shows them."""
    # lazy: imports every lesson (torch); only the table's writer and its test need it
    from trainlab.lessons import lesson_names

    return tuple(lesson_names())


def help_lines(rows: tuple[Row, ...]) -> list[str]:
    """One line per entry: name, parameters, help and listed facts (as ``registry.help_line``, which imports YAML)."""
    lines = []
    for name, params, help_, facts in rows:
        sig = f"{name}({', '.join(params)})" if params else name
        shown = "; ".join(f"{k} {v}" if v else k for k, v in facts)
        lines.append(f"{sig:<34} {help_}" + (f"  [{shown}]" if shown else ""))
    return lines


def table_source() -> str:
    """The text of ``trainlab/names.py`` for the live registries: one line per entry."""
    lines = [
        '"""The catalogue\'s names, inline parameters, help lines and listed facts, written from the live',
        "registries by `python -m trainlab.cli.catalog` so that `trainlab list`, `--help` and config validation "
        "import no torch.",
        'tests/test_startup.py checks that it equals the registries: rewrite it after adding an entry."""',
        "",
        "CATALOGUES: dict[str, tuple[tuple[str, tuple[str, ...], str, tuple[tuple[str, str], ...]], ...]] = {",
    ]
    for kind, rows in live_table().items():
        lines.append(f"    {kind!r}: (")
        lines += [f"        {row!r}," for row in rows]
        lines.append("    ),")
    lines += ["}", "", f"LESSON_ORDER: tuple[str, ...] = {live_lesson_order()!r}", ""]
    return "\n".join(lines)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``list`` subcommand."""
    kinds = [*names.CATALOGUES, "keys", "presets"]
    p = sub.add_parser(
        "list",
        help="list the names of a catalogue (models, activations, losses, ...), config keys or presets",
        description="List every name of a catalogue with its inline parameters and one line of help; "
        "`list presets`: the YAML configs shipped with trainlab, for --config NAME from any folder.",
    )
    p.add_argument("kind", choices=kinds, metavar="KIND", help=f"one of: {', '.join(kinds)}")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the catalogue."""
    if args.kind == "keys":
        # lazy: the CLI imports only what this command needs, so `trainlab --help` stays fast
        from trainlab.config import describe_keys

        for key, help_, default in describe_keys():
            print(f"{key:<24} {help_} [default: {default}]")
        return 0
    if args.kind == "presets":
        # lazy: the presets live beside the config schema (reading them needs no YAML, listing no torch)
        from trainlab.config import PRESETS, presets

        for name, help_ in presets().items():
            print(f"{name:<16} {help_}")
        print(f"(in {PRESETS}; use: trainlab train --config NAME)")
        return 0
    for line in help_lines(names.CATALOGUES[args.kind]):
        print(line)
    return 0


if __name__ == "__main__":  # python -m trainlab.cli.catalog: rewrite trainlab/names.py from the registries
    target = Path(__file__).parents[1] / "names.py"
    target.write_text(table_source())
    print(f"wrote {target}", file=sys.stderr)
