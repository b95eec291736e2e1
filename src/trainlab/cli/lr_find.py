"""``trainlab lr-find``: the learning-rate range test; prints the suggestion and where the plot is."""

from __future__ import annotations

import argparse
from pathlib import Path

from trainlab.cli.common import add_config_args, config_from_args


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``lr-find`` subcommand."""
    p = sub.add_parser(
        "lr-find",
        help="learning-rate range test: sweep the LR exponentially, plot the loss, suggest a learning rate",
        description="Train the configured model for --steps mini-batches while the learning rate grows "
        "exponentially from --start to --end (Smith 2015; fastai's lr_find). The smoothed loss is plotted against "
        "the learning rate; the test stops once the loss exceeds 4x its best. The suggestion is read off the curve "
        "(--method steepest, valley or minimum). The steps are those of `trainlab train`: every train.*, loss.*, "
        "optim.* and data.* key applies (optim.schedule aside: the test is the schedule). "
        "Nothing is trained for real: weights and optimizer state are restored.",
        epilog="examples:\n  trainlab lr-find\n  trainlab lr-find optim.name=sgd --start 1e-5 --end 1 --steps 200\n"
        "  trainlab lr-find data.name=digits --method valley --plot lr.png\n\n"
        "The plot (PNG) and the curve (CSV) go to <output.dir>/lr-find/ unless --plot is given.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_args(p)
    p.add_argument("--start", type=float, default=1e-7, help="first learning rate (default 1e-7)")
    p.add_argument("--end", type=float, default=10.0, help="last learning rate (default 10)")
    p.add_argument("--steps", type=int, default=100, help="mini-batches, one learning rate each (default 100)")
    p.add_argument(
        "--method", default="steepest", help="how to read the suggestion: steepest (default), valley, minimum"
    )
    p.add_argument("--plot", metavar="FILE", help="PNG path for the plot (the CSV goes beside it)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the range test and report."""
    # lazy: the CLI imports only what this command needs, so `trainlab --help` stays fast
    from trainlab.build import make_trainer, setup
    from trainlab.cli.doctor import plot_path
    from trainlab.diagnose.lr_find import LRFindOptions, lr_range_test
    from trainlab.runs.rundir import run_name

    # bad values are refused before any data loads
    options = LRFindOptions(start=args.start, end=args.end, steps=args.steps, method=args.method)
    s = setup(config_from_args(args))
    name = run_name(s.config)
    res = lr_range_test(s, options, make_trainer=make_trainer)
    plot = Path(args.plot) if args.plot else plot_path(s.config.output.dir, "lr-find", name, ".png")
    res.save_plot(plot, current_lr=s.config.optim.lr)
    res.write_csv(plot.with_suffix(".csv"))
    stop = f"stopped at divergence after {len(res.losses)} steps" if res.diverged else f"{len(res.losses)} steps"
    print(
        f"lr range test: {s.config.optim.name}, lr {args.start:g} -> {res.lrs[-1] if res.lrs else args.end:.3g}, "
        f"{stop}, batch {s.batch_size}"
    )
    if res.suggestion is None:
        print("no suggestion: the smoothed loss never fell 2% below its start (check the model, loss and data)")
    else:
        others = ", ".join(f"{m} {res.suggest(m):.2g}" for m in ("steepest", "valley", "minimum") if m != res.method)
        print(f"suggested lr {res.suggestion:.3g} ({res.method}; {others}); configured optim.lr={s.config.optim.lr:g}")
    print(f"plot: {plot}")
    print(f"curve: {plot.with_suffix('.csv')}")
    return 0 if res.suggestion is not None else 1
