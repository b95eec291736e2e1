"""How long trainlab takes to load Fashion-MNIST, with and without the decoded-IDX cache.

    python benchmarks/load.py --rounds 5

Each timing is ``trainlab.data.sources.load_dataset`` (read, split, preprocess) in a fresh
subprocess, alternating ``TRAINLAB_DECODED_CACHE=0`` (gunzip every time) and the cache (a .npy in
the user cache, written by the first cached run). Medians are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from machine import header  # benchmarks/ is sys.path[0] when run as a script

WORKER = r"""
import json, time
import trainlab
from trainlab.config import load_config
from trainlab.data.sources import load_dataset
cfg = load_config(None, ["threads=1"])
t = time.perf_counter()
load_dataset(cfg.data, 0, "cpu")
print(json.dumps({"seconds": time.perf_counter() - t}))
"""


def timed(cache: bool) -> float:
    """Seconds for one load in a fresh subprocess."""
    env = {**os.environ, "TRAINLAB_DECODED_CACHE": "1" if cache else "0", "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", WORKER], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def main() -> int:
    """Alternate the two conditions and print medians."""
    print(header(), flush=True)  # CPU model, flags, load (benchmarks/machine.py)
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5)
    a = p.parse_args()
    timed(True)  # make sure the cache entry exists
    runs: dict[str, list[float]] = {"gunzip each run": [], "decoded cache": []}
    for _ in range(a.rounds):
        runs["gunzip each run"].append(timed(False))
        runs["decoded cache"].append(timed(True))
    print(f"load_dataset(fashion-mnist): read + split + scale, 1 thread; load average {os.getloadavg()[0]:.2f}")
    for k, ts in runs.items():
        print(f"{k:<16} median {statistics.median(ts):.3f} s  ({' '.join(f'{t:.3f}' for t in ts)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
