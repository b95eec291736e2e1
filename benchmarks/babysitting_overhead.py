"""Cost of the NaN/Inf guard and of one diagnostics measurement on the reference recipe (CPU).

    .venv/bin/python benchmarks/babysitting_overhead.py [threads]

Times, on one 256-example batch of Fashion-MNIST with the reference MLP (784-256-10, Adam):
  - a plain training step (forward, loss, backward, optimizer step);
  - the guard's per-step work on the CPU (global gradient norm + two host reads);
  - a step measured by the Diagnostics callback (hooks armed, weights snapshotted, stats gathered).
Each figure is the minimum over 5 rounds of N calls, so other processes on the machine inflate it least.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import torch
from machine import header  # noqa: E402  (benchmarks/ is sys.path[0] when run as a script)

from trainlab.build import setup
from trainlab.config import load_config
from trainlab.nn.stats import ActivationRecorder
from trainlab.training.callbacks.diagnostics import Diagnostics


def best_of(fn: Callable[[], None], calls: int, rounds: int = 5) -> float:
    """Minimum seconds per call over ``rounds`` rounds of ``calls`` calls (after a warm-up)."""
    for _ in range(10):
        fn()
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - t) / calls)
    return min(times)


def main(threads: int = 1) -> None:
    """Print the three timings and the overheads they imply."""
    print(header(), flush=True)  # CPU model, flags, load (benchmarks/machine.py)
    s = setup(load_config("configs/seed-mlp.yaml", [f"threads={threads}", "data.limit=2000"]))
    model, opt = s.model, s.optimizer
    x, y = s.data.train.x[:256], s.data.train.y[:256]

    def step() -> None:
        loss = s.loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()
    grads = [p.grad for p in model.parameters()]
    last = s.loss(model(x), y).detach()

    def guard() -> None:
        torch.nn.utils.get_total_norm(grads).item()
        last.item()

    class T:  # the two attributes Diagnostics reads
        model, step, epoch = s.model, 0, 0

    diag = Diagnostics("/tmp", every=1)
    diag.recorder = ActivationRecorder(model, sample=diag.sample)

    def measured() -> None:
        diag._arm(T)
        step()
        diag._collect(T)
        diag.rows.clear()

    plain = best_of(step, 200)
    g = best_of(guard, 200)
    m = best_of(measured, 50)
    print(
        f"threads {threads}: plain step {plain * 1e3:.2f} ms | guard work {g * 1e6:.1f} us/step ({g / plain:.2%}) | "
        f"measured step {m * 1e3:.2f} ms (+{(m - plain) * 1e3:.2f} ms: every=20 -> {(m - plain) / plain / 20:.1%}, "
        f"every=100 -> {(m - plain) / plain / 100:.1%})"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
