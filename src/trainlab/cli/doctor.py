"""``trainlab doctor``: the pre-flight checklist, measured, with a pass/fail line per check."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from trainlab.cli.common import add_config_args, config_from_args

EPILOG = """checks (thresholds in docs/babysitting.md):
  initial loss            loss before training vs its expected value (ln C for cross-entropy)
  overfit a tiny subset   20 examples must reach loss near 0 and train accuracy 1.00
  input statistics        mean/std, NaN/Inf, constant features of the training inputs
  gradient flow at init   |grad W|/|W| per layer; vanishing and exploding layers named
  activations at init     scale per layer vs the input, dead ReLUs, saturated tanh/sigmoid
  update/weight ratio     |dW|/|W| over the first 10 steps (about 1e-3 is healthy)
  LR range test           a short exponential LR sweep and the suggested learning rate

exit codes: 0 every check passed, 1 a check failed, 2 bad config or data

examples:
  trainlab doctor
  trainlab doctor model.hidden=[256,256,256,256,256,256,256,256,256,256] model.act=tanh model.init='normal(std=0.01)'
  trainlab doctor data.name=digits optim.lr=10 -v
  trainlab doctor --config configs/seed-mlp.yaml data.preprocess=none
"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``doctor`` subcommand."""
    p = sub.add_parser(
        "doctor",
        help="check a config before training: initial loss, overfit 20 examples, "
        "inputs, gradients, activations, updates, LR",
        description="Build the model a config describes and run the checks every course teaches before training, "
        "on copies of the model (nothing is trained or saved except the LR plot). One line per check with the "
        "measured numbers and a tick or a cross; failed checks say what to change.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_args(p)
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print the per-layer numbers of every check, not only of failed ones",
    )
    p.add_argument(
        "--plot",
        metavar="FILE",
        help="where to save the LR range test plot (default: <output.dir>/doctor/<time>-<name>-lr.png)",
    )
    p.add_argument(
        "--lr-steps", type=int, default=60, metavar="N", help="steps of the short LR range test (default 60)"
    )
    p.add_argument(
        "--overfit-steps", type=int, default=500, metavar="N", help="step budget to overfit 20 examples (default 500)"
    )
    p.set_defaults(func=run)


def plot_path(output_dir: str, folder: str, name: str, suffix: str) -> Path:
    """``<output_dir>/<folder>/<date>-<time>-<name><suffix>``, the folder created."""
    path = Path(output_dir) / folder
    path.mkdir(parents=True, exist_ok=True)
    return path / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}{suffix}"


def run(args: argparse.Namespace) -> int:
    """Run the checklist; exit 1 when a check fails."""
    # lazy: the CLI imports only what this command needs, so `trainlab --help` stays fast
    from trainlab.build import header, make_trainer, setup
    from trainlab.diagnose.checks import run_checks, subject_from_setup
    from trainlab.errors import ConfigError
    from trainlab.runs.rundir import run_name

    if args.lr_steps < 2 or args.overfit_steps < 1:
        raise ConfigError(f"--lr-steps={args.lr_steps} must be >= 2 and --overfit-steps={args.overfit_steps} >= 1")
    s = setup(config_from_args(args))
    print(header(s), flush=True)
    name = run_name(s.config)
    plot = Path(args.plot) if args.plot else plot_path(s.config.output.dir, "doctor", name, "-lr.png")
    results = run_checks(
        subject_from_setup(s, make_trainer), plot=plot, lr_steps=args.lr_steps, overfit_steps=args.overfit_steps
    )
    width = max(len(r.name) for r in results)
    for r in results:
        print(f"{'✓' if r.passed else '✗'} {r.name:<{width}}  {r.summary}")
        if not r.passed and r.explanation:
            print(f"  {'':<{width}}  -> {r.explanation}")
        if args.verbose or not r.passed:
            for line in r.details:
                print(f"      {line}")
    failed = [r.name for r in results if not r.passed]
    print(
        f"{len(results) - len(failed)}/{len(results)} checks passed"
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0
