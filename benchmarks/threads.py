"""Threads and OpenMP waiting: trainlab's adaptive default against every fixed setting, idle and beside a busy core.

    python benchmarks/threads.py --rounds 3 [--examples 20000] [--case mlp|tiny|cnn] [--spinners 1]
    python benchmarks/threads.py --mode trainlab --rounds 3 --examples 20000   # trainlab.train's fit time
    python benchmarks/threads.py --spincounts 1000,30000                     # also GOMP_SPINCOUNT values

Times one epoch of a case in a fresh subprocess per setting (``--mode bare``: a bare loop, fused
Adam, per-batch ``index_select``, as trainlab's loop does; ``--mode trainlab``: ``trainlab.train``'s
``fit_seconds`` with the case's config, checkpoint and report off) under: 1 thread; all cores with
OpenMP spinning (``OMP_WAIT_POLICY=ACTIVE``), with libgomp's own default (unset: spin a while, then
sleep), sleeping (``PASSIVE``); and **trainlab's default**, decided in the subprocess by
``trainlab.cpu.prepare()`` before torch loads (threads and policy from the cores free at that
moment). First with the machine as it is, then with ``--spinners`` extra processes each keeping
one core 100% busy. Rounds are interleaved; medians and ratios to the fastest are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from machine import header  # noqa: E402

WORKER = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
threads, examples, case_name, mode = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
choice = None
if threads == 0:  # trainlab's default, decided before torch loads (importing trainlab only here: it sets a policy)
    from trainlab import cpu
    choice = cpu.prepare()
policy = os.environ.get("OMP_WAIT_POLICY", "unset")
import torch
from recipe import CASES, load_data, torch_model, trainlab_config
case = CASES[case_name]
if mode == "trainlab":
    import trainlab
    cfg = trainlab_config(case, 1, None, sys.argv[6], threads, examples)
    cfg["train"]["checkpoint"] = False
    run = trainlab.train(cfg, progress=False, handle_signals=False)
    print(json.dumps({"seconds": run.summary["fit_seconds"], "threads": run.summary["threads"], "policy": policy}))
    raise SystemExit
torch.set_num_threads(choice.threads if choice else threads)
d = load_data(None, limit=examples)
model = torch_model(case)
opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
n = len(d.y_train)
perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))
x, y = d.x_train, d.y_train
t = time.perf_counter()
bs = case.batch
for i in range(0, n, bs):
    idx = perm[i:i + bs]
    loss = torch.nn.functional.cross_entropy(model(x.index_select(0, idx)), y.index_select(0, idx))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
print(json.dumps({"seconds": time.perf_counter() - t, "threads": torch.get_num_threads(), "policy": policy}))
"""


def spin() -> subprocess.Popen:
    """A process that keeps one core busy until killed."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def timed(threads: int, extra_env: dict[str, str], a: argparse.Namespace, out_dir: str) -> dict:
    """One epoch in a fresh subprocess: its seconds, the threads it used and its OpenMP policy."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(extra_env)
    cmd = [
        sys.executable,
        "-W",
        "ignore",
        "-c",
        WORKER,
        str(HERE),
        str(threads),
        str(a.examples),
        a.case,
        a.mode,
        out_dir,
    ]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(
            f"worker failed ({threads} threads, {extra_env}): {(out.stderr or out.stdout).strip().splitlines()[-1:]}"
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    """Run the grid and print medians, ratios to the fastest setting of each condition."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--examples", type=int, default=20000, help="training examples in the timed epoch")
    p.add_argument("--case", default="mlp", help="a case of recipe.py (mlp, tiny, cnn)")
    p.add_argument(
        "--mode", default="bare", choices=("bare", "trainlab"), help="time a bare loop's epoch, or trainlab.train's fit"
    )
    p.add_argument(
        "--spincounts", default="", help="also try these GOMP_SPINCOUNT values, comma-separated (e.g. 1000,30000)"
    )
    p.add_argument("--spinners", type=int, default=1, help="busy processes in the 'busy' condition")
    p.add_argument(
        "--only",
        default="",
        help="settings to time, comma-separated from default, 1, active, unset, passive, spincount (default: all)",
    )
    p.add_argument(
        "--conditions", default="idle,busy", help="idle (the machine as it is), busy (with --spinners), or both"
    )
    a = p.parse_args()
    print(header(), flush=True)
    cores = len(os.sched_getaffinity(0))
    unset = (
        [] if a.mode == "trainlab" else [(f"{cores} threads, policy unset (libgomp default)", cores, {})]
    )  # trainlab always sets one
    variants = [
        ("trainlab default (threads=0)", 0, {}),
        ("1 thread", 1, {"OMP_WAIT_POLICY": "PASSIVE"}),
        (f"{cores} threads, ACTIVE (spin)", cores, {"OMP_WAIT_POLICY": "ACTIVE"}),
        *unset,
        (f"{cores} threads, PASSIVE (sleep)", cores, {"OMP_WAIT_POLICY": "PASSIVE"}),
    ]
    variants += [
        (f"{cores} threads, GOMP_SPINCOUNT={n}", cores, {"GOMP_SPINCOUNT": n}) for n in a.spincounts.split(",") if n
    ]
    if a.only:  # e.g. --only default,1,passive: skip the slow spinning settings on a loaded machine
        keys = {
            "default": "trainlab default",
            "1": "1 thread",
            "active": "ACTIVE",
            "unset": "unset",
            "passive": "PASSIVE",
            "spincount": "GOMP_SPINCOUNT",
        }
        wanted = [keys.get(k.strip(), k.strip()) for k in a.only.split(",") if k.strip()]
        variants = [v for v in variants if any(w in v[0] for w in wanted)]
    runs: dict[tuple[str, str], list[dict]] = {}
    loads: dict[str, list[float]] = {}
    conditions = [c.strip() for c in a.conditions.split(",") if c.strip()]
    with tempfile.TemporaryDirectory() as out_dir:
        for cond in conditions:
            spinners = [spin() for _ in range(a.spinners)] if cond == "busy" else []
            try:
                time.sleep(1.0 if spinners else 0)  # the spinners are on their cores before anyone decides
                for r in range(a.rounds):
                    k = r % len(variants)
                    for label, th, env in variants[k:] + variants[:k]:
                        loads.setdefault(cond, []).append(os.getloadavg()[0])
                        runs.setdefault((cond, label), []).append(timed(th, env, a, out_dir))
            finally:
                for s in spinners:
                    s.kill()
                    s.wait()
    print(
        f"\none epoch of {a.examples} examples, case {a.case}, mode {a.mode}; {cores} cores; rounds {a.rounds}; busy "
        f"= {a.spinners} spinning process(es)"
    )
    print(f"command: python benchmarks/threads.py {' '.join(sys.argv[1:])}\n")
    print("| condition (load avg median) | setting | median s | vs fastest | threads, policy used | all rounds s |")
    print("|---|---|---|---|---|---|")
    for cond in conditions:
        meds = {label: statistics.median(r["seconds"] for r in rs) for (c, label), rs in runs.items() if c == cond}
        best = min(meds.values())
        for label, med in meds.items():
            rs = runs[(cond, label)]
            alls = " ".join(f"{r['seconds']:.2f}" for r in rs)
            used = ", ".join(sorted({f"{r['threads']} {r['policy']}" for r in rs}))
            print(
                f"| {cond} ({statistics.median(loads[cond]):.1f}) | {label} | {med:.3f} | {med / best:.2f} | {used} | "
                f"{alls} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
