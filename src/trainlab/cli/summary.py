"""``trainlab summary``: the model a config builds, layer by layer."""

from __future__ import annotations

import argparse

from trainlab.cli.common import add_config_args, config_from_args


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``summary`` subcommand."""
    p = sub.add_parser(
        "summary",
        help="print the model's layers, output shapes, parameter counts and receptive fields",
        description="Build the model a config describes (on its data set's input shape) and print each layer "
        "with its output shape and parameters; for a cnn also the receptive field of each layer's units "
        "(how many input pixels or steps one unit can see). Nothing is trained.",
        epilog="examples:\n  trainlab summary\n  trainlab summary model.hidden=[512,256]\n"
        "  trainlab summary --config configs/cnn-fashion.yaml\n  trainlab summary --config configs/cnn-mnist1d.yaml\n"
        "  trainlab summary model.name=cnn "
        "'model.blocks=[conv(32,k=3,p=1,pool=max(2)),conv(64,k=3,p=1,pool=max(2))]'\n\n"
        "Block syntax, shape rules and the receptive-field formula: docs/models.md.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build and summarize."""
    # lazy: the CLI imports only what this command needs, so `trainlab --help` stays fast
    from trainlab.build import setup
    from trainlab.nn.summary import summarize

    s = setup(config_from_args(args))
    print(summarize(s.model, s.data.input_shape))
    if s.augment is not None:
        print(f"training batches augmented with: {', '.join(s.augment.specs)}")
    return 0
