"""Many runs at the price of one: 8 runs trained stacked vs one after another, on Fashion-MNIST (CPU).

    PYTHONPATH=src .venv/bin/python benchmarks/stacked.py [rounds] [threads]

Two recipes, each 8 runs of one epoch that differ in the learning rate (the same seed, so they share
one loaded data set, as compare's runs do):
  - tiny: mlp 784-32-10, batch 64, Adam;
  - reference: mlp 784-256-10, batch 256, Adam.
"one by one" is ``runner.train`` per config with a shared DataCache (what compare did);
"stacked" is ``stacking.train_stacked`` on the same configs. Rounds interleave the two; the figures
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

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as `import trainlab` does, before torch loads: idle threads sleep on a busy machine
import torch  # noqa: E402
from torch import nn  # noqa: E402

from trainlab.data.memo import DataCache  # noqa: E402
from trainlab.runner import train  # noqa: E402
from trainlab.stacking import train_stacked  # noqa: E402

LRS = (1e-3, 2e-3, 3e-3, 5e-4, 7e-4, 1.5e-3, 4e-3, 2.5e-3)
RECIPES = {"tiny": ([32], 64), "reference": ([256], 256)}


def cpu() -> str:
    """The CPU model and whether it has avx512_bf16 / amx, from /proc/cpuinfo."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown CPU"
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "unknown CPU")
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return f"{model}; avx512_bf16={'avx512_bf16' in flags}; amx={any(f.startswith('amx') for f in flags)}"


def configs(hidden: list[int], batch: int, out: str, threads: int) -> list[dict]:
    """The 8 configs of a recipe."""
    return [
        {"data": {"name": "fashion-mnist"}, "model": {"hidden": hidden}, "optim": {"lr": lr, "batch_size": batch}, "train": {"epochs": 1},
         "threads": threads, "output": {"dir": out, "report": False, "name": f"lr{lr:g}"}}
        for lr in LRS
    ]


def one_by_one(cfgs: list[dict], cache: DataCache) -> tuple[float, float]:
    """(fit seconds, total seconds) training the configs one after another."""
    t0 = time.perf_counter()
    fit = sum(train(c, handle_signals=False, cache=cache, progress=False).summary["fit_seconds"] for c in cfgs)
    return fit, time.perf_counter() - t0


def stacked(cfgs: list[dict], cache: DataCache) -> tuple[float, float]:
    """(fit seconds, total seconds) training the configs as one stacked model."""
    t0 = time.perf_counter()
    runs = train_stacked(cfgs, cache=cache, handle_signals=False)
    return runs[0].summary["stacked"]["seconds"], time.perf_counter() - t0


def forward_styles(hidden: int, batch: int, k: int = 8, calls: int = 50) -> tuple[float, float]:
    """Seconds per forward+backward of k stacked MLPs 784-hidden-10: baddbmm, and vmap over functional_call."""
    from torch.func import functional_call, stack_module_state  # lazy: only this comparison uses it

    models = [nn.Sequential(nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, 10)) for _ in range(k)]
    params, buffers = stack_module_state(models)
    params = {n: p.detach().requires_grad_(True) for n, p in params.items()}
    ws = [params["0.weight"].detach().transpose(1, 2).contiguous().requires_grad_(True), params["2.weight"].detach().transpose(1, 2).contiguous().requires_grad_(True)]
    bs = [params["0.bias"].detach().unsqueeze(1).requires_grad_(True), params["2.bias"].detach().unsqueeze(1).requires_grad_(True)]
    x = torch.randn(k, batch, 784)
    y = torch.randint(0, 10, (k, batch))
    base = models[0]

    def bmm() -> None:
        h = torch.relu(torch.baddbmm(bs[0], x, ws[0]))
        out = torch.baddbmm(bs[1], h, ws[1])
        loss = nn.functional.cross_entropy(out.reshape(-1, 10), y.reshape(-1), reduction="none").view(k, batch).mean(1).sum()
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


def main(rounds: int = 3, threads: int = 2) -> None:
    """Print the machine, then per recipe the medians and ratios."""
    print(f"CPU: {cpu()}; torch {torch.__version__}; threads {threads}; load average {os.getloadavg()[0]:.2f} at start")
    torch.set_num_threads(threads)
    for name, (hidden, batch) in RECIPES.items():
        b, v = forward_styles(hidden[0], batch)
        print(f"{name}: forward+backward of 8 stacked MLPs: baddbmm {b * 1e3:.2f} ms, vmap(functional_call) {v * 1e3:.2f} ms (vmap/baddbmm {v / b:.2f}x)")
    cache = DataCache(size=1)
    with tempfile.TemporaryDirectory() as out:
        for name, (hidden, batch) in RECIPES.items():
            cfgs = configs(hidden, batch, out, threads)
            stacked(cfgs[:2], cache)  # warm-up: loads the data set, first calls
            seq: list[tuple[float, float]] = []
            stk: list[tuple[float, float]] = []
            for _ in range(rounds):
                seq.append(one_by_one(cfgs, cache))
                stk.append(stacked(cfgs, cache))
            sf, st = statistics.median(f for f, _ in seq), statistics.median(t for _, t in seq)
            kf, kt = statistics.median(f for f, _ in stk), statistics.median(t for _, t in stk)
            print(f"{name} ({len(cfgs)} runs, 1 epoch each, {rounds} interleaved rounds): one by one fit {sf:.2f} s, total {st:.2f} s;"
                  f" stacked fit {kf:.2f} s, total {kt:.2f} s; speed-up fit {sf / kf:.2f}x, total {st / kt:.2f}x")
    print(f"load average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
