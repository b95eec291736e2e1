"""Where an epoch of the reference MLP goes as trainlab runs it, how far it is from its float32
floor, and what the candidate speed-ups buy.

    python benchmarks/floor.py --rounds 5 [--examples 20000] [--threads 0] [--compile] [--profile]

In one process, interleaved rounds of one training epoch (``--examples`` training examples of
Fashion-MNIST, the reference recipe ``configs/seed-mlp.yaml``, batch 256) timed as:
  trainlab        the Trainer's epoch, as ``trainlab train`` runs it (fused Adam, per-batch index_select, loss
                  and accuracy summed on the device), without callbacks
  bare-fused      a bare loop with the same gathers and fused Adam (no loss/accuracy sums)
  bare-foreach    the same with foreach Adam
  bare-single     the same with the one-tensor-at-a-time Adam (torch's CPU default)
  bare-bf16       fused Adam, forward and loss under bf16 autocast (fast only with avx512_bf16 or AMX)
  compiled        ``torch.compile(model)`` (inductor), fused Adam (``--compile``: needs a C++ compiler)
  gathers+matmuls the epoch's batch gathers and its matmuls alone (forward, and the backward's three per
                  step), no activation, loss or optimizer: what the rest of a step costs is the difference
and the validation pass (the split's tenth of ``--examples``) at evaluation batch sizes 1024, 4096 (trainlab's default)
and all at once. The floor is the epoch's FLOPs (``FlopCounterMode``) over the float32 matmul rate
of the layer's shape measured now. ``--profile`` prints torch.profiler's top operators for one
trainlab epoch. ``--threads 0``: trainlab's adaptive default (decided before torch loads).
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from machine import header  # noqa: E402


def main() -> int:
    """Time the variants, print medians, ratios to the floor, and optionally a profile."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--examples", type=int, default=20000)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: trainlab's adaptive default)")
    p.add_argument("--compile", action="store_true", help="also time torch.compile(model)")
    p.add_argument("--profile", action="store_true", help="print torch.profiler's top operators of one trainlab epoch")
    a = p.parse_args()
    print(header(), flush=True)
    from trainlab import cpu

    choice = cpu.prepare()  # before torch loads, as `trainlab train` does
    import torch
    from recipe import CASES, matmul_throughput, recipe_flops
    from torch import nn

    from trainlab.build import build
    from trainlab.config import load_config

    threads = a.threads or choice.threads
    over = [
        f"threads={threads}",
        "train.epochs=1",
        f"data.limit={a.examples}",
        "output.report=false",
        "train.checkpoint=false",
        "train.nan_guard=false",
    ]
    s, trainer = build(load_config(str(HERE.parent / "configs" / "seed-mlp.yaml"), over))
    trainer.callbacks, trainer._hooks = [], {e: [] for e in trainer._hooks}  # the loop alone
    x, y, n, bs = s.data.train.x, s.data.train.y, len(s.data.train), s.batch_size
    print(
        f"threads {torch.get_num_threads()} (decision: {choice.threads} {choice.wait_policy}, {choice.reason}); {n} "
        f"training examples, batch {bs}",
        flush=True,
    )

    def bare(model: nn.Module, opt: torch.optim.Optimizer, bf16: bool = False) -> Callable[[], None]:
        gen = torch.Generator().manual_seed(0)

        def epoch() -> None:
            perm = torch.randperm(n, generator=gen)
            for i in range(0, n, bs):
                idx = perm[i : i + bs]
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    loss = nn.functional.cross_entropy(model(x.index_select(0, idx)), y.index_select(0, idx))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

        return epoch

    def fresh(**kw: object) -> tuple[nn.Module, torch.optim.Optimizer]:
        m = copy.deepcopy(s.model)
        return m, torch.optim.Adam(m.parameters(), lr=1e-3, **kw)

    def matmuls_only() -> Callable[[], None]:
        """The epoch's gathers and its five matmuls per step (forward, and the backward's three), nothing else."""
        lin = [m for m in s.model.modules() if isinstance(m, nn.Linear)]
        w1, b1, w2, b2 = (t.detach() for t in (lin[0].weight, lin[0].bias, lin[1].weight, lin[1].bias))
        g2 = torch.randn(bs, w2.shape[0])
        gen = torch.Generator().manual_seed(0)

        def epoch() -> None:
            perm = torch.randperm(n, generator=gen)
            for i in range(0, n, bs):
                idx = perm[i : i + bs]
                xb = x.index_select(0, idx).flatten(1)
                h = torch.addmm(b1, xb, w1.t())
                torch.addmm(b2, h, w2.t())
                g = g2[: len(idx)]
                g.t() @ h  # grad of W2
                gh = g @ w2  # grad of the hidden layer
                gh.t() @ xb  # grad of W1 (the input needs none)

        return epoch

    def trainlab_epoch() -> None:
        trainer.perm = None
        trainer.train_epoch()

    variants: dict[str, Callable[[], None]] = {
        "trainlab": trainlab_epoch,
        "bare-fused": bare(*fresh(fused=True)),
        "bare-foreach": bare(*fresh(foreach=True)),
        "bare-single": bare(*fresh(foreach=False)),
        "bare-bf16": bare(*fresh(fused=True), bf16=True),
        "gathers+matmuls": matmuls_only(),
    }
    if a.compile:
        m, opt = fresh(fused=True)
        variants["compiled"] = bare(torch.compile(m), opt)
    val = s.data.val
    for size in (1024, 4096, len(val.x)):

        def evaluate(size: int = size) -> None:
            trainer.eval_batch_size = size
            trainer.evaluate(val)

        variants[f"eval {len(val.x)} at batch {size}"] = evaluate
    for fn in variants.values():  # warm-up: first-call costs (and compilation) are not an epoch's
        t = time.perf_counter()
        fn()
    times: dict[str, list[float]] = {k: [] for k in variants}
    names = list(variants)
    case = CASES["mlp"]
    rates = []
    for r in range(a.rounds):
        k = r % len(names)
        rates.append(matmul_throughput(case, 0.3))  # every round: on a shared machine the best one is the floor
        for name in names[k:] + names[:k]:
            t = time.perf_counter()
            variants[name]()
            times[name].append(time.perf_counter() - t)
    flops = recipe_flops(case, 1, n, 0)
    rate = max(rates)
    floor = flops / rate
    print(
        f"\nfloor: {flops / 1e9:.1f} GFLOP at {rate / 1e9:.1f} GFLOP/s float32 (best of "
        f"{' '.join(f'{x / 1e9:.0f}' for x in rates)}) = {floor:.3f} s per epoch of {n}"
    )
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    print(f"command: python benchmarks/floor.py {' '.join(sys.argv[1:])}; rounds {a.rounds}\n")
    print("| variant | median s | vs floor | vs trainlab | all rounds s |\n|---|---|---|---|---|")
    base = statistics.median(times["trainlab"])
    for name, ts in times.items():
        med = statistics.median(ts)
        vs_floor = f"{med / floor:.2f}" if not name.startswith("eval") else "-"
        print(f"| {name} | {med:.3f} | {vs_floor} | {med / base:.2f} | {' '.join(f'{t:.3f}' for t in ts)} |")
    if a.profile:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            trainlab_epoch()
        print("\n" + prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=14))
    return 0


if __name__ == "__main__":
    sys.exit(main())
