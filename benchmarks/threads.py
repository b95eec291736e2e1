"""How many CPU threads should a small training run use when another process keeps a core busy?

    python benchmarks/threads.py --rounds 3 [--examples 20000] [--case mlp|tiny|cnn] [--spinners 1] [--spincounts 1000,30000]

Times one epoch of a case (bare loop; default the reference recipe, MLP 784-256-10, batch 256) in fresh subprocesses with 1 thread,
all cores, and all cores with OpenMP's passive waiting (``OMP_WAIT_POLICY=PASSIVE``), first with
the machine as it is, then with ``--spinners`` extra processes each keeping one core 100% busy (a
stand-in for the other work on a shared machine). Rounds are interleaved; medians are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

WORKER = r"""
import sys, time, json, torch
sys.path.insert(0, sys.argv[1])
from recipe import CASES, load_data, torch_model
torch.set_num_threads(int(sys.argv[2]))
d = load_data(None, limit=int(sys.argv[3]))
case = CASES[sys.argv[4]]
model = torch_model(case)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
n = len(d.y_train)
perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))
xs, ys = d.x_train[perm], d.y_train[perm]
t = time.perf_counter()
bs = case.batch
for i in range(0, n, bs):
    loss = torch.nn.functional.cross_entropy(model(xs[i:i + bs]), ys[i:i + bs])
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
print(json.dumps({"seconds": time.perf_counter() - t}))
"""


def spin() -> subprocess.Popen:
    """A process that keeps one core busy until killed."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def timed(threads: int, extra_env: dict[str, str], examples: int, case: str) -> float:
    """Seconds for one epoch in a fresh subprocess."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(extra_env)
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", WORKER, str(HERE), str(threads), str(examples), case], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def main() -> int:
    """Run the grid and print medians."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--examples", type=int, default=20000, help="training examples in the timed epoch")
    p.add_argument("--case", default="mlp", help="a case of recipe.py (mlp, tiny, cnn)")
    p.add_argument("--spincounts", default="", help="also try these GOMP_SPINCOUNT values, comma-separated (e.g. 1000,30000)")
    p.add_argument("--spinners", type=int, default=1, help="busy processes in the 'busy' condition")
    a = p.parse_args()
    cores = len(os.sched_getaffinity(0))
    variants = [("1 thread", 1, {}), (f"{cores} threads", cores, {}), (f"{cores} threads, OMP_WAIT_POLICY=PASSIVE", cores, {"OMP_WAIT_POLICY": "PASSIVE"})]
    variants += [(f"{cores} threads, GOMP_SPINCOUNT={n}", cores, {"GOMP_SPINCOUNT": n}) for n in a.spincounts.split(",") if n]
    times: dict[tuple[str, str], list[float]] = {}
    for cond in ("as is", f"{a.spinners} busy core(s)"):
        spinners = [spin() for _ in range(a.spinners)] if cond != "as is" else []
        try:
            time.sleep(0.5 if spinners else 0)
            for r in range(a.rounds):
                k = r % len(variants)
                for label, th, env in variants[k:] + variants[:k]:
                    times.setdefault((cond, label), []).append(timed(th, env, a.examples, a.case))
        finally:
            for s in spinners:
                s.kill()
                s.wait()
    print(f"one epoch of {a.examples} examples, case {a.case}; {cores} cores; load {os.getloadavg()[0]:.2f}")
    print(f"{'condition':<20} {'threads':<40} {'median s':>9}  all")
    for (cond, label), ts in times.items():
        print(f"{cond:<20} {label:<40} {statistics.median(ts):>9.3f}  {' '.join(f'{t:.2f}' for t in ts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
