"""``trainlab train``: train the configured model and print progress and final test metrics."""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
from pathlib import Path

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
        "  trainlab train data.name=digits train.epochs=30\n  trainlab train --config configs/seed-mlp.yaml seed=1\n"
        "  trainlab train --config configs/line.yaml      # regression: MSE, MAE, R2 and the fitted w, b\n"
        "  trainlab train model.act='maxout(2)' optim.schedule=cosine optim.warmup=1 data.preprocess='pca_whiten(eps=0.1,k=100)'\n"
        "  trainlab train --resume runs/20250101-120000-mlp-fashion-mnist\n\n"
        "Ctrl-C (or SIGTERM) stops safely: the current step finishes, a checkpoint is written and the\n"
        "command prints how to resume (exit 130, or 143 for SIGTERM); a second Ctrl-C aborts at once,\n"
        "keeping the previous checkpoint. A resumed run ends bit-identical to one never stopped (CPU).\n\n"
        "NaN/Inf guard (train.nan_guard=true): a non-finite loss or gradient stops the run, naming the step,\n"
        "the first bad layer and a fix; exit code 3. Per-layer statistics: diagnostics.every=K (docs/babysitting.md).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_args(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar; one line per epoch")
    p.add_argument(
        "--resume", metavar="RUN",
        help="continue a stopped run (its directory, checkpoint.pt or name under runs/) exactly from its last "
        "checkpoint, with its own config; only threads=, device=, data.dir=, train.checkpoint_every=, output.report=, logging.tensorboard= may be given",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train and report."""
    # lazy: the CLI imports only what this command needs, so `trainlab --help` stays fast
    from trainlab.api import train
    from trainlab.training.callbacks import Progress

    progress = Progress(sys.stdout, bar=False if args.no_progress else None)
    seen: dict = {}

    def show_header(setup, trainer) -> None:
        seen["run_dir"] = trainer.facts.run_dir
        print(trainer.facts.header, flush=True)
        if args.resume:
            at = f"epoch {trainer.epoch + 1}, batch {trainer.position + 1}/{trainer.batches_per_epoch}" if trainer.perm is not None else f"the start of epoch {trainer.epoch + 1}"
            print(f"resuming {trainer.facts.run_dir} at step {trainer.step} ({at})", flush=True)

    try:
        if args.resume:
            if args.config:
                # lazy: the CLI imports only what this command needs, so `trainlab --help` stays fast
                from trainlab.errors import ConfigError

                raise ConfigError("--resume uses the run's own config.yaml; drop --config")
            overrides = list(args.overrides) + ([f"data.dir={args.data_dir}"] if args.data_dir else [])
            result = train(callbacks=[progress], on_setup=show_header, resume=args.resume, overrides=overrides)
        else:
            result = train(config_from_args(args), callbacks=[progress], on_setup=show_header)
    except KeyboardInterrupt as exc:  # a second Ctrl-C: abort now; the last checkpoint on disk is intact
        signum = getattr(exc, "signum", signal.SIGINT)
        run_dir = seen.get("run_dir")
        if run_dir and (Path(run_dir) / "checkpoint.pt").is_file():
            print(f"\naborted; the last checkpoint is kept - resume with: trainlab train --resume {shlex.quote(run_dir)}", file=sys.stderr)
        else:
            print("\naborted before the first checkpoint; nothing to resume", file=sys.stderr)
        return 128 + int(signum)
    s = result.summary
    if s.get("status") == "interrupted":
        signum = getattr(signal, s.get("interrupted_by") or "SIGINT", signal.SIGINT)
        print(f"resume with: trainlab train --resume {shlex.quote(str(result.path))}", file=sys.stderr)
        return 128 + int(signum)
    if "representation" in s:  # pretraining: what the features are worth
        print(f"test loss {s['test_loss']:.4f}  (fit {s['fit_seconds']:.1f}s)")
        for name, r in s["representation"].items():
            if isinstance(r, dict):
                probes = "  ".join(f"{k} {v:.4f}" for k, v in r["linear_probe"].items())
                knn = f"  kNN {r['knn']:.4f}" if "knn" in r else ""
                print(f"{name:>15}: linear probe with {probes} of the labels{knn}")
    elif "test_accuracy" in s:
        print(f"test accuracy {s['test_accuracy']:.4f}  test loss {s['test_loss']:.4f}  (train accuracy {s['train_accuracy']:.4f}, fit {s['fit_seconds']:.1f}s)")
    elif "test_mse" in s:
        print(f"test MSE {s['test_mse']:.4f}  test MAE {s['test_mae']:.4f}  test R2 {s['test_r2']:.4f}  test loss {s['test_loss']:.4f}  (fit {s['fit_seconds']:.1f}s)")
        if "fitted" in s:  # a linear model: the line it found, in the data's own units
            w = ", ".join(f"{v:.4f}" for v in s["fitted"]["w"])
            print(f"fitted w = [{w}]  b = {s['fitted']['b']:.4f}")
    if (result.path / "report.html").is_file():
        print(f"report: {result.path / 'report.html'}")
    print(f"run saved in {result.path}")
    if s.get("status") == "diverged":  # the NaN/Inf guard stopped it (its message was printed above)
        return 3
    return 0
