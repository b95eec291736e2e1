"""trainlab against its peers on the same recipe: medians of interleaved rounds, ratios to a bare loop.

    python benchmarks/peers.py --epochs 3 --rounds 3                  # both settings, a table each
    python benchmarks/peers.py --settings as-used --cases mlp --rounds 3
    python benchmarks/peers.py --cases mlp --peers bare,trainlab,lightning --rounds 5
    python benchmarks/peers.py --cases tiny,cnn,mlp10 --json results.json

Two settings, a table each: ``as-used`` runs every peer as its users run it, with its own defaults
(the script sets no thread count and no OpenMP variable, and removes the caller's: torch's own
default threads and libgomp's default waiting for the others, trainlab's threads (the usable cores) and adaptive wait
policy decided before torch loads, as ``trainlab train`` does); ``fixed`` gives every peer the same
``--threads`` and ``--omp-wait-policy``. The first lines print the CPU model, its flags
(``machine.py``) and the load.

Every (peer, case) timing runs in a fresh subprocess (``peer_runs.py``), so imports, thread pools
and allocator state never leak from one peer into the next; each round runs every peer once, in an
order rotated from round to round, so a burst of load on a shared machine spreads over all peers.
Reported per peer (medians): ``total`` = loading the data + training + one pass over the test set
(its ratio to the bare loop's), its two parts, ``process`` = the whole subprocess as a user waits
for it (interpreter start and imports included; its ratio too), and the test accuracy (every peer
trains the same model on the same examples: the accuracies should roughly agree).
``floor`` is the case's floating-point operations divided by the float32 matmul throughput
measured in the same run: no loop at all could train faster.

Peers (``recipe.py`` has the shared data and models, ``peer_runs.py`` one function per peer):
  bare           plain PyTorch: tensors in memory, a randperm per epoch, each batch x[idx], Adam
  bare-val       the same plus a validation pass after every epoch
  bare-same      the same plus trainlab's evaluation work: validation each epoch, a final pass over
                 the training set (trainlab's summary has eval-mode train accuracy)
  trainlab       trainlab.train(config): default callbacks (initial loss, NaN guard, history,
                 checkpoint each epoch, per-epoch validation) and Progress writing to a non-tty
                 stream; output.report=false
  trainlab-report  the same with output.report=true (trainlab's default: report.html at the end)
  original       the original recipe: DataLoader(TensorDataset, shuffle=True, num_workers=1)
  original-eval  the same with its train + test evaluation through DataLoaders after every epoch
  original-pil, original-pil-eval  the same two over a torchvision-style data set: uint8 images,
                 a PIL image + ToTensor per example drawn (torchvision.datasets.FashionMNIST's path)
  lightning      lightning.Trainer (progress bar, logger, checkpointing off), trainer.test
  skorch         skorch.NeuralNetClassifier(train_split=None), predict
  keras          Keras 3 with KERAS_BACKEND=torch: fit(shuffle=True), evaluate
Lightning, skorch and Keras come with ``pip install -e .[bench]``; a peer not installed is skipped.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from machine import header  # noqa: E402
from recipe import ALL_PEERS, CASES, KNOWN_PEERS  # noqa: E402

NEEDS = {"lightning": "lightning", "skorch": "skorch", "keras": "keras"}


def installed(peer: str) -> bool:
    """True when the peer's package can be imported."""
    return peer not in NEEDS or importlib.util.find_spec(NEEDS[peer]) is not None


def run_one(peer: str, case: str, args: argparse.Namespace, setting: str = "fixed") -> dict:
    """Time one peer on one case in a fresh subprocess; returns its JSON record.

    ``as-used``: no thread count and no OpenMP variable given (the caller's are removed), so each
    peer runs with its own defaults, trainlab with its adaptive one; ``fixed``: every peer gets
    ``--threads`` and ``--omp-wait-policy``."""
    threads = args.threads if setting == "fixed" else 0
    cmd = [
        sys.executable,
        "-W",
        "ignore",
        str(HERE / "peer_runs.py"),
        peer,
        case,
        "--epochs",
        str(args.epochs),
        "--threads",
        str(threads),
    ]
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    if args.limit:
        cmd += ["--limit", str(args.limit)]
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "GOMP_SPINCOUNT")}
    env.update(KERAS_BACKEND="torch", PYTHONWARNINGS="ignore")
    if setting == "fixed" and args.omp_wait_policy:  # the same OpenMP waiting for every peer
        env["OMP_WAIT_POLICY"] = args.omp_wait_policy
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=args.workdir)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        tail = (out.stderr or out.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise SystemExit(f"peer {peer} on case {case} failed: {tail[0]}")
    rec = json.loads(out.stdout.strip().splitlines()[-1])
    rec["wall"] = wall  # the whole process: interpreter start, imports, work, exit
    return rec


def versions() -> dict[str, str]:
    """Versions of Python, torch and every installed peer."""
    from importlib.metadata import PackageNotFoundError, version

    v = {"python": platform.python_version()}
    for pkg in ("trainlab", "torch", "numpy", "lightning", "skorch", "keras"):
        try:
            v[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return v


def table(case: str, records: dict[str, list[dict]], setting: str = "fixed") -> list[str]:
    """Markdown rows for one case: medians and ratios to the bare loop."""
    med = {
        p: {k: statistics.median(r[k] for r in rs) for k in ("total", "load", "train", "imports", "wall")}
        for p, rs in records.items()
    }
    base_key = "bare" if "bare" in med else next((p for p in med if p.startswith("bare")), None)
    base = med[base_key] if base_key else None
    c = CASES[case]
    lines = [
        f"### {case} ({setting}): {c.help}",
        "",
        f"| peer | total s | vs {base_key or 'bare'} | load s | train+test s | process s | vs {base_key or 'bare'} | "
        "test acc | threads, OpenMP wait | rounds (total s) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p, m in sorted(med.items(), key=lambda kv: kv[1]["total"]):
        rs = records[p]
        acc = rs[0].get("test_accuracy")
        ratio = f"{m['total'] / base['total']:.2f}" if base else "-"
        wall_ratio = f"{m['wall'] / base['wall']:.2f}" if base and p != "floor" else "-"
        wall = f"{m['wall']:.2f}" if p != "floor" else "-"
        extra = ""
        if p == "floor":
            f = rs[0]
            extra = (
                f" ({f['flops'] / 1e9:.1f} GFLOP at {statistics.median(r['flop_per_s'] for r in rs) / 1e9:.1f} GFLOP/s)"
            )
        acc_text = "-" if acc is None else f"{acc:.4f}"
        rounds = " ".join(f"{r['total']:.2f}" for r in rs)
        used = ", ".join(sorted({f"{r.get('threads', '?')} {r.get('omp_wait_policy', '?')}" for r in rs}))
        lines.append(
            f"| {p}{extra} | {m['total']:.2f} | {ratio} | {m['load']:.2f} | {m['train']:.2f} | {wall} | {wall_ratio} "
            f"| {acc_text} | {used} | {rounds} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run the interleaved rounds and print one Markdown table per case."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=3, help="epochs of each case that does not fix its own (default 3)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported (default 3)")
    p.add_argument("--cases", default="mlp,tiny,cnn,mlp10", help=f"comma-separated, from {', '.join(CASES)}")
    p.add_argument(
        "--peers",
        default="",
        help=f"comma-separated subset of {', '.join(ALL_PEERS)}, bare-val (default: each case's own list)",
    )
    p.add_argument(
        "--settings",
        default="as-used,fixed",
        help="as-used: every peer with its own defaults (trainlab with its usable-core threads and adaptive waiting); "
        "fixed: --threads and --omp-wait-policy for all (default: both, a table each)",
    )
    p.add_argument(
        "--threads", type=int, default=0, help="torch threads for every peer in the fixed setting (0: the usable cores)"
    )
    p.add_argument(
        "--omp-wait-policy",
        default="PASSIVE",
        help="OMP_WAIT_POLICY for every peer in the fixed setting "
        "(default PASSIVE; '' leaves it unset: libgomp's default)",
    )
    p.add_argument(
        "--data-dir", default=None, help="directory of the Fashion-MNIST IDX files (default: trainlab's search)"
    )
    p.add_argument("--limit", type=int, default=None, help="train on a seeded subset of N examples (smoke tests)")
    p.add_argument("--no-floor", action="store_true", help="skip the compute-floor measurement")
    p.add_argument("--json", default=None, help="also write every record to this file")
    args = p.parse_args(argv)
    args.workdir = os.getcwd()
    args.threads = args.threads or len(os.sched_getaffinity(0))
    settings = [x.strip() for x in args.settings.split(",") if x.strip()]
    for x in settings:
        if x not in ("as-used", "fixed"):
            p.error(f"unknown setting {x!r}; choose from as-used, fixed")
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    for c in cases:
        if c not in CASES:
            p.error(f"unknown case {c!r}; choose from {', '.join(CASES)}")
    wanted = [x.strip() for x in args.peers.split(",") if x.strip()]
    for x in wanted:
        if x not in KNOWN_PEERS:
            p.error(f"unknown peer {x!r}; choose from {', '.join(KNOWN_PEERS)}")
    plan = {}
    for c in cases:
        peers = wanted or list(CASES[c].peers)
        skipped = [x for x in peers if not installed(x)]
        if skipped:
            print(f"{c}: skipping {', '.join(skipped)} (not installed: pip install -e .[bench])", file=sys.stderr)
        plan[c] = [x for x in peers if installed(x)] + ([] if args.no_floor else ["floor"])
    print(header(), file=sys.stderr, flush=True)
    records: dict[str, dict[str, dict[str, list[dict]]]] = {x: {c: {} for c in cases} for x in settings}
    loads = []
    start = time.time()
    for r in range(args.rounds):
        for setting in settings:
            for c in cases:
                peers = plan[c]
                k = r % len(peers)
                for peer in peers[k:] + peers[:k]:  # rotate the order each round
                    loads.append(os.getloadavg()[0])
                    rec = run_one(peer, c, args, setting)
                    records[setting][c].setdefault(peer, []).append(rec)
                    print(
                        f"round {r + 1} {setting:<7} {c:<6} {peer:<14} {rec['total']:7.2f} s",
                        file=sys.stderr,
                        flush=True,
                    )
    head = [
        header(),
        f"versions: {', '.join(f'{k} {v}' for k, v in versions().items())}",
        f"command: python benchmarks/peers.py {' '.join(sys.argv[1:] if argv is None else argv)}",
        f"rounds {args.rounds}, epochs {args.epochs}; fixed setting: {args.threads} threads, "
        f"OMP_WAIT_POLICY={args.omp_wait_policy or '(unset)'};"
        f" load average while running: median {statistics.median(loads):.2f}, max {max(loads):.2f}; "
        f"{time.time() - start:.0f} s in all",
        "",
    ]
    out = head
    for setting in settings:
        out.append(
            f"## {setting}: "
            + (
                "every peer with its own defaults (no thread count or OpenMP variable given; trainlab decides its own)"
                if setting == "as-used"
                else f"every peer with {args.threads} threads and OMP_WAIT_POLICY={args.omp_wait_policy or '(unset)'}"
            )
        )
        out.append("")
        for c in cases:
            out += table(c, records[setting][c], setting) + [""]
    print("\n".join(out))
    if args.json:
        Path(args.json).write_text(json.dumps({"head": head, "records": records}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
