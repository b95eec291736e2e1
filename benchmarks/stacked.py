"""Many runs at the price of one: 8 runs trained stacked vs one after another, on Fashion-MNIST (CPU).

    PYTHONPATH=src .venv/bin/python benchmarks/stacked.py [rounds] [threads] [recipe ...]

Two recipes, each 8 runs of one epoch that differ in the learning rate (the same seed, so they share
one loaded data set, as compare's runs do):
  - tiny: mlp 784-32-10, batch 64, Adam;
  - reference: mlp 784-256-10, batch 256, Adam.
"one by one" is ``runner.train`` per config with a shared DataCache (what compare did);
"stacked" is ``stacking.train_stacked`` on the same configs, in stacks of ``stack_size`` members (the
default), and "stacked x8" all 8 in one stack (``max_stack=8``) where that differs. Rounds interleave
the variants; the figures
are medians over rounds of the training time (fit) and of the whole call (setup, training, final
evaluation, files), and their ratios. Also times one forward+backward of the stacked tiny and
reference MLPs written as ``torch.baddbmm`` and as ``torch.func.vmap`` over ``functional_call``.
Targets (issue 19): >= 2.5x for the tiny recipe, >= 1.5x for the reference recipe.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault(
    "OMP_WAIT_POLICY", "PASSIVE"
)  # as `import trainlab` does, before torch loads: idle threads sleep on a busy machine
import torch  # noqa: E402
from torch import nn  # noqa: E402

from trainlab.build import make_trainer, setup  # noqa: E402
from trainlab.config import as_config  # noqa: E402
from trainlab.data.memo import DataCache  # noqa: E402
from trainlab.runner import train  # noqa: E402
from trainlab.stacking import train_stacked  # noqa: E402
from trainlab.training.stacked import stack_size  # noqa: E402

LRS = (1e-3, 2e-3, 3e-3, 5e-4, 7e-4, 1.5e-3, 4e-3, 2.5e-3)
RECIPES = {"tiny": ([32], 64), "reference": ([256], 256)}


def cpu() -> str:
    """The CPU model and whether it has avx512_bf16 / amx, from /proc/cpuinfo."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown CPU"
    model = next(
        (line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "unknown CPU"
    )
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return f"{model}; avx512_bf16={'avx512_bf16' in flags}; amx={any(f.startswith('amx') for f in flags)}"


def configs(hidden: list[int], batch: int, out: str, threads: int) -> list[dict]:
    """The 8 configs of a recipe."""
    return [
        {
            "data": {"name": "fashion-mnist"},
            "model": {"hidden": hidden},
            "optim": {"lr": lr, "batch_size": batch},
            "train": {"epochs": 1},
            "threads": threads,
            "output": {"dir": out, "report": False, "name": f"lr{lr:g}"},
        }
        for lr in LRS
    ]


def one_by_one(cfgs: list[dict], cache: DataCache) -> tuple[float, float]:
    """(fit seconds, total seconds) training the configs one after another."""
    t0 = time.perf_counter()
    fit = sum(train(c, handle_signals=False, cache=cache, progress=False).summary["fit_seconds"] for c in cfgs)
    return fit, time.perf_counter() - t0


def stacked(cfgs: list[dict], cache: DataCache, max_stack: int = 0) -> tuple[float, float]:
    """(fit seconds, total seconds) training the configs as stacked models (``max_stack`` members each;
    0: automatic)."""
    t0 = time.perf_counter()
    runs = train_stacked(cfgs, cache=cache, handle_signals=False, max_stack=max_stack)
    groups = {r.summary["stacked"]["seconds"] if "stacked" in r.summary else r.summary["fit_seconds"] for r in runs}
    return sum(groups), time.perf_counter() - t0


def forward_styles(hidden: int, batch: int, k: int = 8, calls: int = 50) -> tuple[float, float]:
    """Seconds per forward+backward of k stacked MLPs 784-hidden-10: baddbmm, and vmap over functional_call."""
    from torch.func import functional_call, stack_module_state  # lazy: only this comparison uses it

    models = [nn.Sequential(nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, 10)) for _ in range(k)]
    params, buffers = stack_module_state(models)
    params = {n: p.detach().requires_grad_(True) for n, p in params.items()}
    ws = [
        params["0.weight"].detach().transpose(1, 2).contiguous().requires_grad_(True),
        params["2.weight"].detach().transpose(1, 2).contiguous().requires_grad_(True),
    ]
    bs = [
        params["0.bias"].detach().unsqueeze(1).requires_grad_(True),
        params["2.bias"].detach().unsqueeze(1).requires_grad_(True),
    ]
    x = torch.randn(k, batch, 784)
    y = torch.randint(0, 10, (k, batch))
    base = models[0]

    def bmm() -> None:
        h = torch.relu(torch.baddbmm(bs[0], x, ws[0]))
        out = torch.baddbmm(bs[1], h, ws[1])
        loss = (
            nn.functional.cross_entropy(out.reshape(-1, 10), y.reshape(-1), reduction="none")
            .view(k, batch)
            .mean(1)
            .sum()
        )
        torch.autograd.grad(loss, [*ws, *bs])

    def one(p: dict, b: dict, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(functional_call(base, (p, b), (xb,)), yb)

    batched = torch.vmap(one)

    def vmap() -> None:
        torch.autograd.grad(batched(params, buffers, x, y).sum(), list(params.values()))

    out = []
    for fn in (bmm, vmap):
        for _ in range(5):
            fn()
    times: dict[str, list[float]] = {"bmm": [], "vmap": []}
    for _ in range(5):  # interleaved rounds
        for name, fn in (("bmm", bmm), ("vmap", vmap)):
            t = time.perf_counter()
            for _ in range(calls):
                fn()
            times[name].append((time.perf_counter() - t) / calls)
    out = [statistics.median(times["bmm"]), statistics.median(times["vmap"])]
    return out[0], out[1]


def main(rounds: int = 3, threads: int = 2, recipes: tuple[str, ...] = tuple(RECIPES)) -> None:
    """Print the machine, then per recipe the medians and ratios."""
    print(f"CPU: {cpu()}; torch {torch.__version__}; threads {threads}; load average {os.getloadavg()[0]:.2f} at start")
    torch.set_num_threads(threads)
    for name in recipes:
        hidden, batch = RECIPES[name]
        b, v = forward_styles(hidden[0], batch)
        print(
            f"{name}: forward+backward of 8 stacked MLPs: baddbmm {b * 1e3:.2f} ms, vmap(functional_call) "
            f"{v * 1e3:.2f} ms (vmap/baddbmm {v / b:.2f}x)"
        )
    cache = DataCache(size=1)
    with tempfile.TemporaryDirectory() as out:
        for name in recipes:
            hidden, batch = RECIPES[name]
            cfgs = configs(hidden, batch, out, threads)
            train_stacked(cfgs[:2], cache=cache, handle_signals=False)  # warm-up: loads the data set, first calls
            auto = stack_size_of(cfgs, cache)
            variants = {
                "one by one": lambda c=cfgs: one_by_one(c, cache),
                f"stacked ({auto} per stack)": lambda c=cfgs: stacked(c, cache),
            }
            if auto < len(cfgs):
                variants["stacked x8"] = lambda c=cfgs: stacked(c, cache, max_stack=len(c))
            results: dict[str, list[tuple[float, float]]] = {k: [] for k in variants}
            for _ in range(rounds):
                for k, fn in variants.items():
                    results[k].append(fn())
            med = {
                k: (statistics.median(f for f, _ in v), statistics.median(t for _, t in v)) for k, v in results.items()
            }
            base = med["one by one"]
            text = "; ".join(
                f"{k} fit {f:.2f} s, total {t:.2f} s"
                + ("" if k == "one by one" else f" (speed-up fit {base[0] / f:.2f}x, total {base[1] / t:.2f}x)")
                for k, (f, t) in med.items()
            )
            print(f"{name} ({len(cfgs)} runs, 1 epoch each, {rounds} interleaved rounds): {text}")
    print(f"load average {os.getloadavg()[0]:.2f} at end")


def stack_size_of(cfgs: list[dict], cache: DataCache) -> int:
    """Members per stack that ``train_stacked`` picks for these configs."""
    s = setup(as_config(cfgs[0]), cache=cache)
    return min(len(cfgs), stack_size(make_trainer(s)))


if __name__ == "__main__":
    args = sys.argv[1:]
    main(int(args[0]) if args else 3, int(args[1]) if len(args) > 1 else 2, tuple(args[2:]) or tuple(RECIPES))
