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
        "  trainlab train model.act='maxout(2)' optim.schedule=cosine optim.warmup=1 "
        "data.preprocess='pca_whiten(eps=0.1,k=100)'\n"
        "  trainlab train --resume runs/20250101-120000-mlp-fashion-mnist\n"
        "  trainlab train --nproc 2 threads=1                # data-parallel (DDP) on 2 processes of this machine\n"
        "  torchrun --nnodes 2 --nproc-per-node 4 --rdzv-backend c10d --rdzv-endpoint HOST:29400 -m trainlab train\n\n"
        "Data-parallel: optim.batch_size stays the global batch; each process trains on its shard and rank 0\n"
        "alone writes the run directory and prints; validation and test are computed in parts across the\n"
        "processes; train.sync_bn=true: BatchNorm over the global batch (CUDA only) (docs/distributed.md).\n\n"
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
        "--resume",
        metavar="RUN",
        help="continue a stopped run (its directory, checkpoint.pt or name under runs/) exactly from its last "
        "checkpoint, with its own config; only threads=, device=, data.dir=, train.checkpoint_every=, output.report=, "
        "logging.tensorboard= may be given",
    )
    p.add_argument(
        "--nproc",
        type=int,
        metavar="N",
        help="train one model on N data-parallel processes of this machine (DistributedDataParallel: gloo on CPU, "
        "NCCL on CUDA) by starting torchrun's launcher; optim.batch_size stays the global batch",
    )
    p.add_argument(
        "--force-unlock",
        action="store_true",
        help="with --resume: remove the run's run.pid first, when it names a process on another host "
        "(or one that is gone) that you know no longer trains it; a live process on this host keeps its lock",
    )
    p.set_defaults(func=run)


def launch(nproc: int, argv: list[str]) -> int:
    """``--nproc N``: run this same command under torchrun's launcher with N processes on this machine.

    torchrun runs in its own session, so a Ctrl-C reaches each worker once (through torchrun) and they
    stop together at the same step; a second Ctrl-C aborts them."""
    # lazy: only --nproc needs these
    import os
    import subprocess
    import tempfile

    if nproc < 1:
        # lazy: the CLI imports only what this command needs
        from trainlab.errors import ConfigError

        raise ConfigError(f"--nproc {nproc} must be at least 1")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        "-m",
        "trainlab",
        "train",
        *argv,
    ]
    told = Path(tempfile.mkdtemp(prefix="trainlab-nproc-")) / "exit"  # where rank 0 leaves its exit code
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), EXIT_FILE: str(told)}
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    signals = 0

    def forward(signum: int, frame: object) -> None:
        nonlocal signals
        signals += 1  # first: safe stop; second: abort (torchrun passes both on); third: kill
        if signals <= 2:
            proc.send_signal(signum)
        else:
            os.killpg(proc.pid, signal.SIGKILL)

    old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = proc.wait()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        run_dir = _read_run(told)
        rank0 = _read_exit(told)
    if signals:  # torchrun exits 1 when signalled; the ranks stopped safely and said how to resume
        return 128 + int(signal.SIGINT)
    if code == 0 and rank0 is not None:  # the ranks ended as planned: the code a single process would give
        return rank0
    if code not in (0, 2, 3) and code < 128:
        # torchrun may stop rank 0 before it reports a dead peer itself: say how to go on here too
        resume = (
            f"; the last checkpoint is intact: trainlab train --resume {run_dir} --nproc {nproc}" if run_dir else ""
        )
        print(
            f"trainlab train --nproc {nproc}: a process of this {nproc}-process run died or failed (torchrun exit "
            f"{code}); "
            f"see the messages above{resume}",
            file=sys.stderr,
        )
    return code


EXIT_FILE = "TRAINLAB_NPROC_EXIT"  # set by launch(): the file where rank 0 leaves the command's exit code
DIVERGED = 3  # the NaN/Inf guard stopped the run


def _read_run(path: Path) -> str:
    """The run directory rank 0 named beside ``path`` (``training/distributed.tell_launcher``), or ''."""
    try:
        with open(path.parent / "run", "rb") as f:
            text = f.read(4096).decode("utf-8", "replace").strip()
    except OSError:
        return ""
    return text if text and "\n" not in text and Path(text).is_dir() else ""


def _read_exit(path: Path) -> int | None:
    """Rank 0's exit code from ``path`` (a few bytes it wrote; anything else is ignored); removes its folder."""
    # lazy: only --nproc needs it
    import shutil

    try:
        with open(path, "rb") as f:
            text = f.read(8).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    shutil.rmtree(path.parent, ignore_errors=True)
    return DIVERGED if text == str(DIVERGED) else None


def _diverged_exit(main: bool) -> int:
    """Exit code of a run the NaN guard stopped: 3. Under ``--nproc`` each rank exits 0 instead (torchrun
    calls any other code a failure and prints its own traceback) and rank 0 writes the 3 for ``launch``."""
    # lazy: only a diverged run needs these
    import os

    where = os.environ.get(EXIT_FILE)
    if not where:
        return DIVERGED
    if main:
        Path(where).write_text(str(DIVERGED))
    return 0


def run(args: argparse.Namespace) -> int:
    """Train and report."""
    # lazy: the CLI imports only what this command needs, so `trainlab --help` stays fast
    from trainlab.errors import ConfigError

    if (
        args.resume is not None and not args.resume.strip()
    ):  # `--resume ''` (an unset shell variable) is not "no resume"
        raise ConfigError("--resume needs a run: its directory, its checkpoint.pt or its name under runs/")
    if args.force_unlock and args.resume is None:
        raise ConfigError("--force-unlock goes with --resume RUN (it removes that run's stale run.pid)")
    if args.nproc is not None:
        check_before_launch(args)  # everything a single process checks, once, with exit 2, before any process starts
        given = args.argv
        return launch(args.nproc, _without_nproc(given[given.index("train") + 1 :]))
    # a new run's config is read and checked (keys, values, catalogue names) before torch loads:
    # a typo costs a fraction of a second (benchmarks/startup.py)
    cfg = config_from_args(args) if args.resume is None else None
    # lazy: the CLI imports only what this command needs, so `trainlab --help` stays fast; runner,
    # not trainlab.api: a run needs none of compare, sweep, lessons or scikit-learn
    from trainlab.runner import train
    from trainlab.runs.lock import force_unlock
    from trainlab.runs.resume import find_run
    from trainlab.training.callbacks import Progress
    from trainlab.training.distributed import world_from_env

    world = world_from_env()
    if not world.main:  # a data-parallel rank other than 0: rank 0 prints and writes
        return _quiet_rank(args, train, cfg)
    progress = Progress(sys.stdout, bar=False if args.no_progress else None)
    seen: dict = {}

    def show_header(setup, trainer) -> None:
        seen["run_dir"] = trainer.facts.run_dir
        print(trainer.facts.header, flush=True)
        if args.resume is not None:
            at = (
                f"epoch {trainer.epoch + 1}, batch {trainer.position + 1}/{trainer.batches_per_epoch}"
                if trainer.perm is not None
                else f"the start of epoch {trainer.epoch + 1}"
            )
            print(f"resuming {trainer.facts.run_dir} at step {trainer.step} ({at})", flush=True)

    if args.force_unlock:
        previous = force_unlock(find_run(args.resume)[0])
        if previous is not None:
            print(f"removed the lock of process {previous.pid} on host {previous.host}", file=sys.stderr)
    try:
        if args.resume is not None:
            if args.config:
                raise ConfigError("--resume uses the run's own config.yaml; drop --config")
            overrides = list(args.overrides) + ([f"data.dir={args.data_dir}"] if args.data_dir else [])
            result = train(callbacks=[progress], on_setup=show_header, resume=args.resume, overrides=overrides)
        else:
            result = train(cfg, callbacks=[progress], on_setup=show_header)
    except KeyboardInterrupt as exc:  # a second Ctrl-C: abort now; the last checkpoint on disk is intact
        signum = getattr(exc, "signum", signal.SIGINT)
        run_dir = seen.get("run_dir")
        if run_dir and (Path(run_dir) / "checkpoint.pt").is_file():
            # during training, or during the final evaluation (resuming then repeats only that)
            print(
                f"\naborted; the last checkpoint is kept - resume with: trainlab train --resume {shlex.quote(run_dir)}",
                file=sys.stderr,
            )
        else:
            print("\naborted before the first checkpoint; nothing to resume", file=sys.stderr)
        return 128 + int(signum)
    s = result.summary
    if s.get("status") == "interrupted":
        signum = getattr(signal, s.get("interrupted_by") or "SIGINT", signal.SIGINT)
        nproc = f" --nproc {s['world_size']}" if s.get("world_size") else ""
        print(f"resume with: trainlab train --resume {shlex.quote(str(result.path))}{nproc}", file=sys.stderr)
        return 128 + int(signum)
    if "representation" in s:  # pretraining: what the features are worth
        print(f"test loss {s['test_loss']:.4f}  (fit {s['fit_seconds']:.1f}s)")
        for name, r in s["representation"].items():
            if isinstance(r, dict):
                probes = "  ".join(f"{k} {v:.4f}" for k, v in r["linear_probe"].items())
                knn = f"  kNN {r['knn']:.4f}" if "knn" in r else ""
                print(f"{name:>15}: linear probe with {probes} of the labels{knn}")
    elif "test_accuracy" in s:
        print(
            f"test accuracy {s['test_accuracy']:.4f}  test loss {s['test_loss']:.4f}  (train accuracy "
            f"{s['train_accuracy']:.4f}, fit {s['fit_seconds']:.1f}s)"
        )
    elif "test_mse" in s:
        print(
            f"test MSE {s['test_mse']:.4f}  test MAE {s['test_mae']:.4f}  test R2 {s['test_r2']:.4f}  test loss "
            f"{s['test_loss']:.4f}  (fit {s['fit_seconds']:.1f}s)"
        )
        if "fitted" in s:  # a linear model: the line it found, in the data's own units
            w = ", ".join(f"{v:.4f}" for v in s["fitted"]["w"])
            print(f"fitted w = [{w}]  b = {s['fitted']['b']:.4f}")
    if (result.path / "report.html").is_file():
        print(f"report: {result.path / 'report.html'}")
    print(f"run saved in {result.path}")
    if s.get("report_interrupted_by"):  # the run is complete: say so, and that only the page is missing
        print(
            f"{s['report_interrupted_by']} while drawing the report; the run is complete - draw its page with:"
            f" trainlab report {shlex.quote(str(result.path))}",
            file=sys.stderr,
        )
        return 128 + int(getattr(signal, s["report_interrupted_by"], signal.SIGINT))
    if s.get("status") == "diverged":  # the NaN/Inf guard stopped it (its message was printed above)
        return _diverged_exit(main=True)
    return 0


# the memory one rank takes while it imports torch and builds (measured: 64 ranks touched about 3 GB)
RANK_BYTES = 200 * 2**20


def nproc_limit() -> int:
    """The most ranks ``--nproc`` starts on this machine: a rank per usable core (memory allowing);
    ``TRAINLAB_NPROC_MAX`` raises or lowers it."""
    # lazy: the CLI imports only what this command needs
    import os

    # lazy: stdlib-only modules, loaded only for --nproc
    from trainlab.bounded import memory_available
    from trainlab.cpu import affinity, cgroup_quota, usable_cores

    given = os.environ.get("TRAINLAB_NPROC_MAX", "")
    if given.isdigit() and int(given) > 0:
        return int(given)
    cores = usable_cores(affinity(), cgroup_quota())
    memory = memory_available()
    return max(1, min(cores, memory // RANK_BYTES if memory else cores))


def check_before_launch(args: argparse.Namespace) -> None:
    """``--nproc N``: the rank count, the config (every name bound, as ``build.check_names`` does before
    data loads) or the run to resume, checked in this process so a mistake is one line, not N tracebacks."""
    # lazy: the CLI imports only what this command needs
    from trainlab.errors import ConfigError

    if args.nproc < 1:
        raise ConfigError(f"--nproc {args.nproc} must be at least 1")
    limit = nproc_limit()
    if args.nproc > limit:
        raise ConfigError(
            f"--nproc {args.nproc}: this machine runs at most {limit} data-parallel processes (a rank per "
            f"usable core, memory allowing); use --nproc {limit} or fewer, or set TRAINLAB_NPROC_MAX"
        )
    if args.resume:
        # lazy: only --nproc --resume needs these
        from trainlab.runs.resume import prepare_resume

        if args.config:
            raise ConfigError("--resume uses the run's own config.yaml; drop --config")
        prepare_resume(args.resume, list(args.overrides), check_holder=not args.force_unlock)
        return
    cfg = config_from_args(args)
    # lazy: binding the names needs the registries (torch): torchrun loads it in every rank anyway
    from trainlab.build import check_names, resolve_device
    from trainlab.data.sources import DATASETS
    from trainlab.training.distributed import World, check_sync_bn

    DATASETS.bind(cfg.data.name)
    check_names(cfg)
    if cfg.train.sync_bn:
        check_sync_bn(True, resolve_device(cfg.device), World(0, max(args.nproc, 1)))


def _without_nproc(argv: list[str]) -> list[str]:
    """The train command's arguments without ``--nproc N`` / ``--nproc=N``."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            out.append(a)
    return out


def _quiet_rank(args: argparse.Namespace, train: object, cfg: object) -> int:
    """Train as a rank other than 0: the same run (``cfg``, already read; None to resume), no output;
    the exit code matches rank 0's."""
    if args.resume:
        overrides = list(args.overrides) + ([f"data.dir={args.data_dir}"] if args.data_dir else [])
        result = train(resume=args.resume, overrides=overrides)  # type: ignore[operator]
    else:
        result = train(cfg)  # type: ignore[operator]
    status = result.summary.get("status")
    return _diverged_exit(main=False) if status == "diverged" else 130 if status == "interrupted" else 0
