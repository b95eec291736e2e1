"""``trainlab list KIND``: every name a config accepts, with one line of help each."""

from __future__ import annotations

import argparse


def catalogs() -> dict:
    """KIND -> registry, for every catalogue."""
    # lazy: the CLI imports only what this command needs, so `trainlab --help` stays fast
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
        "datasets": DATASETS, "models": MODELS, "activations": ACTIVATIONS, "inits": INITS,
        "bias-inits": BIAS_INITS, "norms": NORMS, "losses": LOSSES, "optimizers": OPTIMIZERS,
        "schedules": SCHEDULES, "preprocess": PREPROCESS, "augmentations": AUGMENTATIONS,
        "imbalance": IMBALANCE, "data-samplers": DATA_SAMPLERS,
        "pretraining": PRETRAIN,
        "samplers": SAMPLERS, "pruners": PRUNERS, "distributions": DISTRIBUTIONS,
        "lessons": all_lessons(), "baselines": BASELINES,
        "lr-suggestions": LR_SUGGESTIONS,
    }


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``list`` subcommand."""
    kinds = [*catalogs(), "keys"]
    p = sub.add_parser("list", help="list the names of a catalogue (models, activations, losses, ...) or config keys", description="List every name of a catalogue with its inline parameters and one line of help.")
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
    for line in catalogs()[args.kind].help_lines():
        print(line)
    return 0
