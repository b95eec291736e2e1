"""Start-up: the printing commands, the data load and the whole `trainlab train` process against a bare script.

    python benchmarks/startup.py --rounds 5
    python benchmarks/startup.py --rounds 3 --only cli,load
    python benchmarks/startup.py --rounds 3 --only process --epochs 3 --threads 2
    python benchmarks/startup.py --rounds 3 --only small

Every timing is a fresh subprocess (compiled modules cached in a folder of the run, as an installed
package has them, whatever PYTHONDONTWRITEBYTECODE says); each round runs every variant once, in an order rotated from
round to round, so a burst of load on a shared machine spreads over all of them; medians are printed.

- cli: the wall time of `trainlab --help`, `--version`, `list models`, `runs DIR` and `show RUN`
  (target: under 0.5 s each; they import no torch, tests/test_startup.py checks the import set).
- load: Fashion-MNIST read, split into 54,000 train / 6,000 validation, made float32 and scaled to
  [0, 1], timed inside the process after its imports. `trainlab` is `data.sources.load_dataset` of the
  default config (through the decoded-IDX cache), `trainlab-gunzip` the same with
  TRAINLAB_DECODED_CACHE=0 (it decodes the gzip files like the bare script), `bare` a hand-written
  loader (gzip + NumPy, a seeded permutation split, `torch.from_numpy(x).float().div_(255)`).
  Target: trainlab within 0.1 s of bare.
- process: the whole process as a user waits for it: `trainlab train train.epochs=E output.report=false
  threads=T` against a bare script (imports only gzip, NumPy and torch: the loader above, the MLP
  784-256-10 with kaiming-normal weights, Adam, a randperm per epoch, one pass over the test set) and
  `bare-same`, the same script doing trainlab's default evaluation work too (validation after each
  epoch, an eval-mode pass over the training set at the end). Same threads and OMP_WAIT_POLICY for
  all (PASSIVE, trainlab's default, unless --omp-wait-policy). Target: trainlab within 1.10x of bare.
  Wall time and CPU time (user + system of the process) are both printed: on a machine shared with
  other work the CPU time varies much less from round to round.
- small: a small run as a learner types it, `trainlab train data.name=digits train.epochs=30`, report
  included: the whole process's wall time, the run's own fit seconds (summary.json) and what the
  command costs over its fit (issue 31; target: within 1.5 s of the fit on an idle machine).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# the bare script: what a person writes by hand (no trainlab import); prints its load time as JSON
BARE = r"""
import gzip, json, sys, time
import numpy as np
import torch

def read(path):
    raw = gzip.decompress(open(path, "rb").read())
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)

def load(files):
    x, y = read(files["train-images-idx3-ubyte"]), read(files["train-labels-idx1-ubyte"]).astype(np.int64)
    xt, yt = read(files["t10k-images-idx3-ubyte"]), read(files["t10k-labels-idx1-ubyte"]).astype(np.int64)
    perm = np.random.default_rng(0).permutation(len(y))
    tr, va = np.sort(perm[6000:]), np.sort(perm[:6000])
    f = lambda a: torch.from_numpy(np.ascontiguousarray(a)).float().div_(255.0).reshape(len(a), -1)
    return f(x[tr]), torch.from_numpy(y[tr]), f(x[va]), torch.from_numpy(y[va]), f(xt), torch.from_numpy(yt)

mode, files, epochs, threads = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
t0 = time.perf_counter()
x, y, xv, yv, xt, yt = load(files)
load_s = time.perf_counter() - t0
if mode == "load":
    print(json.dumps({"load": load_s}))
    sys.exit(0)
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
for m in model:
    if isinstance(m, torch.nn.Linear):
        torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        torch.nn.init.zeros_(m.bias)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
g = torch.Generator().manual_seed(0)

@torch.inference_mode()
def accuracy(a, b):
    model.eval()
    correct = sum((model(a[i : i + 1024]).argmax(1) == b[i : i + 1024]).sum() for i in range(0, len(b), 1024))
    model.train()
    return float(correct) / len(b)

for _ in range(epochs):
    perm = torch.randperm(len(y), generator=g)
    for i in range(0, len(y), 256):
        idx = perm[i : i + 256]
        loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if mode == "same":
        accuracy(xv, yv)
acc = accuracy(xt, yt)
if mode == "same":
    accuracy(x, y)
print(json.dumps({"load": load_s, "test_accuracy": acc}))
"""

# trainlab's data load, timed after its imports (as the bare loader is)
TRAINLAB_LOAD = r"""
import json, sys, time
import trainlab
import torch
from trainlab.config import load_config
from trainlab.data.sources import load_dataset
torch.set_num_threads(int(sys.argv[1]))
cfg = load_config(None, [f"data.dir={sys.argv[2]}"])
t0 = time.perf_counter()
load_dataset(cfg.data, cfg.seed, "cpu")
print(json.dumps({"load": time.perf_counter() - t0}))
"""


def machine() -> str:
    """CPU model and the cores this process may use."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {len(os.sched_getaffinity(0))} cores, {platform.system()} {platform.release()}"


def timed(cmd: list[str], env: dict[str, str], cwd: Path | str) -> tuple[float, dict]:
    """(wall seconds, the JSON its last line printed, or {}, with its CPU seconds as "cpu") of one
    subprocess; exits on failure."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # children run one at a time: the delta is this one's
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if out.returncode != 0:
        raise SystemExit(
            f"{' '.join(cmd[:6])} ... failed ({out.returncode}): {(out.stderr or out.stdout).strip()[-400:]}"
        )
    last = (out.stdout.strip().splitlines() or [""])[-1]
    try:
        record = json.loads(last)
    except json.JSONDecodeError:
        record = {}
    return wall, {**(record if isinstance(record, dict) else {}), "cpu": cpu}


def rounds(
    variants: dict[str, tuple[list[str], dict[str, str]]],
    n: int,
    cwd: Path | str,
    key: str | None,
    with_cpu: bool = False,
) -> dict[str, list[float]]:
    """Run every variant once per round, rotating the order; per variant its timings (``key`` of its
    JSON, or the wall time), and with ``with_cpu`` its CPU times under "NAME cpu"."""
    names = list(variants)
    got: dict[str, list[float]] = {name: [] for name in names}
    for r in range(n):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            cmd, env = variants[name]
            wall, rec = timed(cmd, env, cwd)
            got[name].append(rec[key] if key else wall)
            if with_cpu:
                got.setdefault(f"{name} cpu", []).append(rec["cpu"])
    return got


def show(title: str, got: dict[str, list[float]], base: str | None = None) -> None:
    """Print medians (and ratios to ``base``) with every round's figure."""
    print(f"\n{title} (load average {os.getloadavg()[0]:.2f})")
    med = {k: statistics.median(v) for k, v in got.items()}
    for name, ts in got.items():
        ratio = (
            f"  {med[name] / med[base]:.2f}x {base}  {med[name] - med[base]:+.3f} s" if base and name != base else ""
        )
        print(f"  {name:<18} median {med[name]:.3f} s{ratio}   ({' '.join(f'{t:.3f}' for t in ts)})")


def main(argv: list[str] | None = None) -> int:
    """Time the chosen sections and print medians of interleaved rounds."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds; medians are printed (default 5)")
    p.add_argument(
        "--only", default="cli,load,process,small", help="comma-separated sections: cli, load, process, small"
    )
    p.add_argument("--epochs", type=int, default=3, help="epochs of the whole-process section (default 3)")
    p.add_argument(
        "--threads",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="torch threads for both processes (default: the cores this process may use)",
    )
    p.add_argument(
        "--omp-wait-policy",
        default="PASSIVE",
        help="OMP_WAIT_POLICY for every process (default PASSIVE, trainlab's own default)",
    )
    p.add_argument(
        "--data-dir", default=None, help="directory of the Fashion-MNIST IDX files (default: trainlab's search)"
    )
    a = p.parse_args(argv)
    sections = set(a.only.split(","))
    src = str(ROOT / "src")
    py = sys.executable
    print(
        f"machine: {machine()}; Python {platform.python_version()}; rounds {a.rounds}; threads {a.threads}; "
        f"OMP_WAIT_POLICY={a.omp_wait_policy}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        # compiled modules kept (in a folder of this run), as an installed package has them: with
        # PYTHONDONTWRITEBYTECODE every process would compile trainlab's sources again
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(
            PYTHONPATH=src + os.pathsep + os.environ.get("PYTHONPATH", ""),
            OMP_WAIT_POLICY=a.omp_wait_policy,
            PYTHONWARNINGS="ignore",
            PYTHONPYCACHEPREFIX=str(work / "pycache"),
        )
        # the first run compiles the modules of every command timed below (untimed)
        subprocess.run(
            [
                py,
                "-m",
                "trainlab",
                "train",
                "data.name=xor",
                "train.epochs=1",
                "output.report=false",
                "threads=1",
                "--no-progress",
            ],
            cwd=work,
            env=env,
            check=True,
            capture_output=True,
        )
        if "cli" in sections:
            (run,) = (work / "runs").iterdir()
            for args in (["--help"], ["list", "models"], ["show", str(run)]):  # compile the rest of the CLI's modules
                subprocess.run([py, "-m", "trainlab", *args], cwd=work, env=env, check=True, capture_output=True)
            commands = {
                "--help": ["--help"],
                "--version": ["--version"],
                "list models": ["list", "models"],
                "runs": ["runs"],
                "show RUN": ["show", str(run)],
            }
            cli = {name: ([py, "-m", "trainlab", *args], env) for name, args in commands.items()}
            cli["python -c pass"] = ([py, "-c", "pass"], env)  # the interpreter's own start, for scale
            show("cli: whole process, target < 0.5 s", rounds(cli, a.rounds, work, None))
        if sections & {"load", "process"}:
            sys.path.insert(0, src)
            from trainlab.data.locate import find_idx_files  # the same files for every variant

            files = {k: str(v) for k, v in find_idx_files("fashion-mnist", a.data_dir).items()}
            data_dir = str(Path(files["train-images-idx3-ubyte"]).parent)
        if "load" in sections:
            timed(
                [py, "-c", TRAINLAB_LOAD, str(a.threads), data_dir], env, work
            )  # the decoded cache exists from here on
            load = {
                "bare": ([py, "-c", BARE, "load", json.dumps(files), "0", str(a.threads)], env),
                "trainlab": ([py, "-c", TRAINLAB_LOAD, str(a.threads), data_dir], env),
                "trainlab-gunzip": (
                    [py, "-c", TRAINLAB_LOAD, str(a.threads), data_dir],
                    {**env, "TRAINLAB_DECODED_CACHE": "0"},
                ),
            }
            show(
                "load: read, split, float32 / 255, inside the process; target trainlab <= bare + 0.1 s",
                rounds(load, a.rounds, work, "load"),
                "bare",
            )
        if "process" in sections:
            proc = {
                "bare": ([py, "-c", BARE, "bare", json.dumps(files), str(a.epochs), str(a.threads)], env),
                "bare-same": ([py, "-c", BARE, "same", json.dumps(files), str(a.epochs), str(a.threads)], env),
                "trainlab train": (
                    [
                        py,
                        "-m",
                        "trainlab",
                        "train",
                        f"train.epochs={a.epochs}",
                        "output.report=false",
                        f"threads={a.threads}",
                        f"data.dir={data_dir}",
                        f"output.dir={work / 'runs-process'}",
                        "--no-progress",
                    ],
                    env,
                ),
            }
            got = rounds(proc, a.rounds, work, None, with_cpu=True)
            title = f"process: whole process, {a.epochs} epochs of the reference recipe; target trainlab <= 1.10x bare"
            show(title + ", wall", {k: v for k, v in got.items() if not k.endswith(" cpu")}, "bare")
            show(
                title + ", CPU time (user + system; steadier than wall on a loaded machine)",
                {k[:-4]: v for k, v in got.items() if k.endswith(" cpu")},
                "bare",
            )
        if "small" in sections:
            show("small: trainlab train data.name=digits train.epochs=30 (report included)", small(py, env, work, a))
    return 0


def small(py: str, env: dict[str, str], work: Path, a: argparse.Namespace) -> dict[str, list[float]]:
    """Per round: the whole command's wall time, its run's fit seconds, and the difference."""
    got: dict[str, list[float]] = {"whole command": [], "fit": [], "over the fit": []}
    for r in range(a.rounds):
        out = work / f"runs-small-{r}"
        cmd = [py, "-m", "trainlab", "train", "data.name=digits", "train.epochs=30", f"threads={a.threads}"]
        wall, _ = timed([*cmd, f"output.dir={out}", "--no-progress"], env, work)
        (run,) = out.iterdir()
        fit = json.loads((run / "summary.json").read_text())["fit_seconds"]
        got["whole command"].append(wall)
        got["fit"].append(fit)
        got["over the fit"].append(wall - fit)
    return got


if __name__ == "__main__":
    sys.exit(main())
