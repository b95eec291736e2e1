"""``trainlab train``: train the configured model and print progress and final test metrics."""

from __future__ import annotations

import argparse
import sys

from trainlab.cli.common import add_config_args, config_from_args


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``train`` subcommand."""
    p = sub.add_parser(
        "train",
        help="train a model (default: the reference recipe on Fashion-MNIST)",
        description="Train the model a config describes. With no arguments: MLP 784-256-10, ReLU, "
        "kaiming-normal, Adam 1e-3, batch 256, 10 epochs on Fashion-MNIST. Each run gets a directory "
        "runs/<date>-<time>-<name>/ with config.yaml, metrics.csv, summary.json, checkpoint.pt, model.safetensors.",
        epilog="examples:\n  trainlab train\n  trainlab train model.hidden=[512,256] optim.lr=3e-4\n"
        "  trainlab train data.name=digits train.epochs=30\n  trainlab train --config configs/seed-mlp.yaml seed=1",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_args(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar; one line per epoch")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train and report."""
    from trainlab.api import train
    from trainlab.train.callbacks import Progress

    cfg = config_from_args(args)
    progress = Progress(sys.stdout, bar=False if args.no_progress else None)

    def show_header(setup, trainer) -> None:
        print(trainer.info["header"], flush=True)

    result = train(cfg, callbacks=[progress], on_setup=show_header)
    s = result.summary
    if "test_accuracy" in s:
        print(f"test accuracy {s['test_accuracy']:.4f}  test loss {s['test_loss']:.4f}  (train accuracy {s['train_accuracy']:.4f}, fit {s['fit_seconds']:.1f}s)")
    else:
        print(f"test loss {s['test_loss']:.4f}  test MAE {s['test_mae']:.4f}  test R2 {s['test_r2']:.4f}  (fit {s['fit_seconds']:.1f}s)")
    print(f"run saved in {result.path}")
    return 0
