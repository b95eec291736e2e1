"""Does a channels-last (NHWC) cnn train faster than the default NCHW layout on CPU?

    .venv/bin/python benchmarks/cnn_channels_last.py [rounds] [threads]

Trains configs/cnn-fashion.yaml for one epoch on 8,000 Fashion-MNIST examples, alternating the
two layouts (same seed, same data, same initial weights) so that load from other processes hits
both alike. Prints every epoch time, the median of each layout, and the train accuracy (the same
for both: only the memory layout differs). ``trainlab`` uses channels-last for 2-D cnns on CPU
(``build.setup`` → ``nn.cnn.prefer_channels_last``) because this measured faster.
"""

from __future__ import annotations

import statistics
import sys
import time

import torch
from machine import header  # noqa: E402  (benchmarks/ is sys.path[0] when run as a script)

from trainlab.build import setup
from trainlab.config import load_config
from trainlab.data.sources import load_dataset
from trainlab.training.loop import Trainer


def epoch_seconds(channels_last: bool, cfg: object, data: object) -> tuple[float, float]:
    """(seconds, train accuracy) of one epoch with the chosen layout."""
    s = setup(cfg, data)  # setup makes 2-D cnns channels-last on CPU; undo it for the baseline
    model = s.model if channels_last else s.model.to(memory_format=torch.contiguous_format)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.optim.lr)
    trainer = Trainer(model, s.data, s.loss, optimizer, 1, s.batch_size)
    t = time.perf_counter()
    trainer.fit()
    return time.perf_counter() - t, trainer.history[-1]["train_accuracy"]


def main() -> None:
    """Alternate the layouts for a few rounds and print the medians."""
    print(header(), flush=True)  # CPU model, flags, load (benchmarks/machine.py)
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    threads = sys.argv[2] if len(sys.argv) > 2 else "1"
    cfg = load_config("configs/cnn-fashion.yaml", [f"threads={threads}", "data.limit=8000", "data.val=0"])
    data = load_dataset(cfg.data, cfg.seed, torch.device("cpu"))
    times: dict[str, list[float]] = {"NCHW (contiguous)": [], "NHWC (channels_last)": []}
    for _ in range(rounds):
        for name, cl in (("NCHW (contiguous)", False), ("NHWC (channels_last)", True)):
            sec, acc = epoch_seconds(cl, cfg, data)
            times[name].append(sec)
            print(f"{name:<22} {sec:6.2f} s  train accuracy {acc:.4f}", flush=True)
    for name, ts in times.items():
        print(f"median {name:<22} {statistics.median(ts):6.2f} s")


if __name__ == "__main__":
    main()
