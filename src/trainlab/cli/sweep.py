"""``trainlab sweep``: hyperparameter search on Optuna, one line per trial, then the best trials."""

from __future__ import annotations

import argparse
import sys
from typing import Any

EPILOG = """examples:
  trainlab sweep sweep-mlp --trials 20 --sampler tpe --workers 2   # a preset, from any folder
  trainlab sweep data.name=digits 'optim.lr=loguniform(1e-4,1e-1)' 'model.hidden=choice([64],[128,64])' --trials 12
  trainlab sweep data.name=digits 'optim.lr=choice(0.001,0.01)' 'model.act=choice(relu,tanh,gelu)' --sampler grid
  trainlab sweep configs/sweep-mlp.yaml --cv 3 --trials 10 --pruner median
  trainlab sweep --resume mlp-20261124-061500            # continue an interrupted sweep
  trainlab sweep --refine mlp-20261124-061500 --trials 10  # coarse to fine around the top trials
  trainlab sweep configs/sweep-mlp.yaml --name big --storage postgresql://user:pw@db/trainlab
  trainlab sweep --join big --storage postgresql://user:pw@db/trainlab   # on every other machine
  trainlab sweep configs/sweep-mlp.yaml --name nfs --storage journal:/shared/nfs.log  # no server: a shared file
  trainlab sweep --join nfs --storage journal:/shared/nfs.log

distributions: uniform(a,b)  loguniform(a,b)  int(a,b)  int(a,b,log)  choice(v1,v2,...)
Quote them in the shell. A key=value that is not a distribution overrides the base config.
Results: sweeps/NAME/sweep.html (history, importances, slices, trials), sweeps/NAME/best.yaml."""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``sweep`` subcommand."""
    p = sub.add_parser(
        "sweep",
        help="hyperparameter search on Optuna: grid, random, TPE, pruning, cross-validation, many workers",
        description="Search hyperparameters: each trial is an ordinary run (sweeps/NAME/runs/trial-NNNN). "
        "The search space is written like config overrides; a preset YAML holds the base config, space, "
        "objective, sampler, trials and pruner (see docs/sweep.md). The study lives in sweeps/NAME/study.db "
        "(or --storage), so a sweep can be resumed, joined by other processes or machines, and refined.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "items",
        nargs="*",
        metavar="PRESET | KEY=VALUE",
        help="an optional sweep preset (a YAML file, or a name: sweep-mlp; `trainlab list presets`), "
        "then search-space entries (key=distribution) and config overrides (key=value)",
    )
    p.add_argument(
        "--trials", type=int, metavar="N", help="number of trials (default: the preset's, the grid size, or 20)"
    )
    p.add_argument(
        "--sampler",
        metavar="NAME",
        help="grid, random or tpe, with inline parameters, e.g. tpe(n_startup_trials=5) "
        "(default: the preset's, else tpe; trainlab list samplers)",
    )
    p.add_argument(
        "--pruner",
        metavar="NAME",
        help="none, median or asha: stop poor trials early "
        "from their per-epoch validation metric (trainlab list pruners)",
    )
    p.add_argument(
        "--objective",
        choices=("val_accuracy", "val_loss"),
        help="what to optimize (accuracy is maximized, loss minimized)",
    )
    p.add_argument(
        "--cv",
        type=int,
        metavar="K",
        help="K-fold stratified cross-validation on the training set; the objective is the mean over folds",
    )
    p.add_argument(
        "--workers", type=int, default=1, metavar="N", help="local worker processes, one thread each (default 1)"
    )
    p.add_argument(
        "--storage",
        metavar="URL",
        help="Optuna storage: postgresql://user:pw@host/db, sqlite:///PATH, or journal:PATH "
        "(a journal file on a filesystem the machines share; no server) "
        "(default sqlite in sweeps/NAME/study.db)",
    )
    p.add_argument("--name", metavar="NAME", help="sweep name (default: preset name + date-time)")
    p.add_argument(
        "--join", metavar="NAME", help="join a running sweep as another worker (with --storage for a shared database)"
    )
    p.add_argument(
        "--resume", metavar="NAME", help="continue an interrupted sweep (with --trials N to grow it to N trials)"
    )
    p.add_argument("--refine", metavar="SWEEP", help="new sweep with ranges narrowed around SWEEP's top trials")
    p.add_argument(
        "--seed", type=int, metavar="S", help="sampler seed (default 0); the training seed is the config's seed"
    )
    p.add_argument(
        "--dir", default="sweeps", metavar="DIR", help="parent directory of sweep directories (default sweeps)"
    )
    p.add_argument(
        "--heartbeat",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds between a running trial's heartbeats in the storage (default 5)",
    )
    p.add_argument(
        "--grace",
        type=float,
        metavar="S",
        help="seconds without a heartbeat after which a trial's worker counts as dead "
        "and the trial as failed (default max(30, 4 x heartbeat))",
    )
    p.add_argument(
        "--no-stack",
        action="store_true",
        help="train every trial on its own (by default, with --sampler grid or random, no --cv "
        "and a space of per-run values such as optim.lr or seed, "
        "each worker takes its fair share of the waiting trials, at most 8, "
        "and trains them as one stacked model; the first line printed says which; docs/sweep.md)",
    )
    p.add_argument("--top", type=int, default=5, metavar="N", help="best trials shown at the end (default 5)")
    p.set_defaults(func=run)


def _split_items(items: list[str]) -> tuple[str | None, list[str]]:
    # lazy: the CLI imports only what this command needs, so `trainlab --help` stays fast
    from trainlab.errors import ConfigError

    preset = None
    rest = []
    for item in items:
        if "=" not in item:  # a preset: a YAML file, or a preset's name from any folder (sweep-mlp)
            if preset is not None:
                raise ConfigError(f"two sweep presets given ({preset}, {item}); give one")
            # lazy: the config module loads YAML, only a sweep with a preset needs it here
            from trainlab.config import config_path

            preset = str(config_path(item, "trainlab sweep"))
        else:
            rest.append(item)
    return preset, rest


def fmt_params(values: dict[str, Any]) -> str:
    """``optim.lr=0.00123 model.hidden=[256]`` with short floats."""
    # lazy: the CLI imports only what this command needs, so `trainlab --help` stays fast
    from trainlab.formatting import value

    return " ".join(f"{k}={value(v, '.3g')}" for k, v in values.items())


def run(args: argparse.Namespace) -> int:
    """Run the sweep and print one line per trial, then the table of the best trials."""
    # lazy: the CLI imports only what this command needs, so `trainlab --help` stays fast
    from trainlab.sweeps.plan import sweep_plan
    from trainlab.sweeps.pool import local_workers
    from trainlab.sweeps.records import trial_reason

    preset, items = _split_items(args.items)
    state: dict[str, Any] = {"best": None}

    def ready(name: str, sweep_dir: Any, storage: str, spec: Any, trials: list) -> None:
        state["spec"], state["name"] = spec, name
        done = [t.value for t in trials if t.state.name == "COMPLETE"]  # a resumed sweep's best so far
        if done:
            state["best"] = max(done) if spec.direction == "maximize" else min(done)
        extra = f", {spec.cv}-fold cv" if spec.cv else ""
        workers = local_workers(args.workers, trials)[0]  # what the sweep starts (it says so when fewer)
        print(
            f"sweep {name}: {spec.trials} trials, {spec.sampler} sampler, pruner {spec.pruner}{extra}, "
            f"{spec.objective} ({spec.direction}), {workers} worker(s) | storage {storage}",
            flush=True,
        )
        for key, text in spec.space.items():
            print(f"  {key} = {text}")
        print(
            sweep_plan(spec, spec.stack and not args.no_stack, workers, shared=bool(args.storage or args.join)),
            flush=True,
        )  # stacked or one by one, and why

    def finished(t: Any) -> None:
        spec = state["spec"]
        line = f"trial {t.number:>3}  {t.state.name.lower():<8}"
        if t.value is not None:
            better = state["best"] is None or (
                t.value > state["best"] if spec.direction == "maximize" else t.value < state["best"]
            )
            if better:
                state["best"] = t.value
            sd = f" ± {t.user_attrs['fold_std']:.4f}" if "fold_std" in t.user_attrs else ""
            line += f"  {spec.objective} {t.value:.4f}{sd}{' *' if better else '  '}"
        line += f"  {fmt_params(t.user_attrs.get('config', t.params))}"
        if "seconds" in t.user_attrs:
            line += f"  {t.user_attrs['seconds']:.1f}s"
        reason = trial_reason(t)
        if reason:
            line += f"  ({str(reason).splitlines()[0][:120]})"
        print(line, flush=True)

    try:
        result = _run(args, preset, items, ready, finished)
    except KeyboardInterrupt:
        if "name" in state:
            print(
                f"interrupted; continue with: trainlab sweep --resume {state['name']}"
                + (f" --dir {args.dir}" if args.dir != "sweeps" else "")
                + (" --storage URL" if args.storage else ""),
                file=sys.stderr,
            )
        return 130
    print_table(result, args.top)
    return 0


def _run(args: argparse.Namespace, preset: str | None, items: list[str], ready: Any, finished: Any) -> Any:
    # lazy: the CLI imports only what this command needs, so `trainlab --help` stays fast
    from trainlab.sweeps import SweepOptions, sweep

    options = SweepOptions(
        trials=args.trials,
        sampler=args.sampler,
        pruner=args.pruner,
        objective=args.objective,
        cv=args.cv,
        seed=args.seed,
        workers=args.workers,
        storage=args.storage,
        name=args.name,
        join=args.join,
        resume=args.resume,
        refine=args.refine,
        root=args.dir,
        on_trial=finished,
        on_ready=ready,
        heartbeat=args.heartbeat,
        grace=args.grace,
        stack=not args.no_stack,
    )
    return sweep(preset, items, options=options)


def print_table(result: Any, top: int = 5) -> None:
    """The best trials, their values (and fold spread), test accuracy and parameters."""
    spec = result.spec
    counts = ", ".join(f"{n} {k}" for k, n in result.counts().items())
    print(f"\n{len(result.trials)} trials ({counts}); {result.trained}")
    ranked = result.ranked()[:top]
    if not ranked:
        print("no trial completed", file=sys.stderr)
    else:
        print(f"best {len(ranked)} by {spec.objective}:")
        cv = bool(spec.cv)
        folds_head = f"   {'folds (sd)':<{6 * spec.cv + 8}}" if cv else ""
        print(f"  {'trial':>5}  {spec.objective:>12}{folds_head}  {'test acc':>8}  params")
        for t in ranked:
            folds = ""
            if cv:
                folds = (
                    "   "
                    + " ".join(f"{v:.3f}" for v in t.user_attrs.get("fold_values", []))
                    + f" ({t.user_attrs.get('fold_std', 0):.3f})"
                )
            test = t.user_attrs.get("test_accuracy")
            print(
                f"  {t.number:>5}  {t.value:>12.4f}{folds}  {'' if test is None else f'{test:.4f}':>8}  "
                f"{fmt_params(t.user_attrs.get('config', t.params))}"
            )
    if result.report:
        print(f"report: {result.report}")
    if result.best_config:
        print(f"best config: {result.best_config}  (trainlab train --config {result.best_config})")
