"""One training step per run, one by one against stacks of 2, 4 and 8 members (CPU, synthetic data).

    PYTHONPATH=src .venv/bin/python benchmarks/stack_sizes.py THREADS HIDDEN BATCH
    (e.g. 2 256 256: the reference MLP; 2 32 64: the tiny MLP)

A step is: gather the batch rows from a 54,000 x 784 tensor, forward (Linear, ReLU, Linear; for a
stack ``torch.baddbmm`` over [K, in, out] weights), cross-entropy, backward. "single" is one
``nn.Linear`` MLP. Variants interleave within each of 6 rounds; the figure is the median time per
run-step and its speed-up over single. What ``training.stacked.STACK_BYTES`` was chosen from.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as `import trainlab` does, before torch loads
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

D, C, N = 784, 10, 54000


def main(threads: int, hidden: int, batch: int) -> None:
    """Print the median time per run-step of each variant."""
    torch.set_num_threads(threads)
    x, y = torch.randn(N, D), torch.randint(0, C, (N,))

    def stack(k: int):  # noqa: ANN202
        w1, b1 = (torch.randn(k, D, hidden) * 0.03).requires_grad_(), torch.zeros(k, 1, hidden, requires_grad=True)
        w2, b2 = (torch.randn(k, hidden, C) * 0.03).requires_grad_(), torch.zeros(k, 1, C, requires_grad=True)

        def step() -> None:
            idx = torch.randint(0, N, (k * batch,))
            xb, yb = x.index_select(0, idx).view(k, batch, D), y.index_select(0, idx).view(k, batch)
            out = torch.baddbmm(b2, torch.relu(torch.baddbmm(b1, xb, w1)), w2)
            loss = F.cross_entropy(out.reshape(-1, C), yb.reshape(-1), reduction="none").view(k, batch).mean(1)
            torch.autograd.grad(loss.sum(), [w1, b1, w2, b2])

        return step

    lin1, lin2 = torch.nn.Linear(D, hidden), torch.nn.Linear(hidden, C)

    def single() -> None:
        idx = torch.randint(0, N, (batch,))
        F.cross_entropy(lin2(torch.relu(lin1(x.index_select(0, idx)))), y.index_select(0, idx)).backward()

    variants = {"single": (single, 1), "K2": (stack(2), 2), "K4": (stack(4), 4), "K8": (stack(8), 8)}
    for fn, _ in variants.values():
        for _ in range(3):
            fn()
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(6):
        for name, (fn, k) in variants.items():
            t = time.perf_counter()
            for _ in range(32 // k):
                fn()
            times[name].append((time.perf_counter() - t) / 32)
    base = statistics.median(times["single"])
    print(
        f"threads {threads}, mlp 784-{hidden}-10, batch {batch}, load average {os.getloadavg()[0]:.2f}: per run-step "
        + ", ".join(
            f"{k} {statistics.median(v) * 1e3:.2f} ms ({base / statistics.median(v):.2f}x)" for k, v in times.items()
        )
    )


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:4]))
