"""One lab run in its own process: ``python -m trainlab.lab.worker [--resume RUN] [--grid] -- KEY=VALUE ...``.

The web server never trains: it starts this module as a subprocess (in its own session, so the run
outlives the server) and reads what the run writes. The run is an ordinary run, built by the one
run builder through ``runner.train`` exactly as ``trainlab train`` builds it; the only addition is
:class:`Live`, a callback that appends one JSON line per event to ``live.jsonl`` in the run folder
(the header and initial-loss check, warnings as they appear, a point every few hundred steps, each
epoch's metrics, and with ``--grid`` the model's predictions over the plane of a 2-D or 1-D data
set). It reads the weights only under ``torch.no_grad`` in eval mode and draws no random numbers,
so the run's numbers are those of the same ``trainlab train`` command.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from trainlab import cpu

LIVE = "live.jsonl"  # the lab's event log in a run folder, one JSON object a line
GRID = 48  # cells per side of the playground's prediction grid (48 x 48 forward rows: cheap)
POINTS = 400  # training points a playground page draws at most


def batch_every(batches_per_epoch: int) -> int:
    """Steps between two within-epoch points: about four per epoch, at most every 200 steps."""
    return max(1, min(200, batches_per_epoch // 4))


def _num(v: Any) -> float | None:
    """A JSON-safe float (NaN and infinities become None: JSON has no spelling for them)."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def build_live(grid: bool) -> Any:
    """The ``Live`` callback (writing ``live.jsonl`` in the run folder); made here so torch loads after cpu.prepare."""
    # lazy: torch and the loop load only after cpu.prepare() decided the threads
    import torch

    # lazy: the loop's module loads torch too
    from trainlab.training.events import Callback

    class Live(Callback):
        """Append the run's events to ``live.jsonl``: the lab's live view reads them (docs/lab.md)."""

        def __init__(self) -> None:
            self.path: Path | None = None  # the run folder is known at fit start
            self.grid = grid
            self._warned = 0
            self._every = 1
            self._file: Any = None
            self._plane_cache: tuple[list[torch.Tensor], torch.Tensor] | None = None  # the playground's grid

        def write(self, kind: str, **fields: Any) -> None:
            if self._file is None:
                self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed at fit_end
            self._file.write(json.dumps({"kind": kind, "t": time.time(), **fields}, default=_num) + "\n")
            self._file.flush()  # one line at a time: a reader never sees half an event it cannot skip

        def on_fit_start(self, trainer: Any) -> None:
            f = trainer.facts
            self.path = Path(f.run_dir) / LIVE
            self._every = batch_every(trainer.batches_per_epoch)
            self.write(
                "start",
                header=f.header,
                epochs=trainer.epochs,
                epoch=trainer.epoch,
                step=trainer.step,
                batches_per_epoch=trainer.batches_per_epoch,
                classification=bool(trainer.classification),
                initial_loss=_num(f.initial_loss),
                expected_initial_loss=_num(f.expected_initial_loss),
            )
            self._warnings(trainer)
            if self.grid:
                self._points(trainer)

        def _warnings(self, trainer: Any) -> None:
            warnings = trainer.facts.warnings
            for w in warnings[self._warned :]:
                self.write("warning", text=str(w))
            self._warned = len(warnings)

        def on_batch_end(self, trainer: Any) -> None:
            if len(trainer.facts.warnings) > self._warned:
                self._warnings(trainer)
            done = trainer.batch_index + 1
            if done % self._every or done == trainer.batches_per_epoch:
                return  # the epoch's last point is the epoch's own
            seen = max(trainer.seen, 1)
            loss_sum, correct = torch.stack([trainer.loss_sum.float(), trainer.correct.float()]).tolist()  # one sync
            point: dict[str, Any] = {
                "step": trainer.step,
                "x": trainer.epoch + done / trainer.batches_per_epoch,
                "train_loss": _num(loss_sum / seen),
            }
            if trainer.classification:
                point["train_accuracy"] = _num(correct / seen)
            self.write("batch", **point)

        def on_epoch_end(self, trainer: Any) -> None:
            self.write("epoch", step=trainer.step, metrics={k: _num(v) for k, v in trainer.metrics.items()})
            self._warnings(trainer)
            if self.grid:
                self._predictions(trainer)

        def on_fit_end(self, trainer: Any) -> None:
            self._warnings(trainer)
            self.write("end", status=trainer.status, stop_reason=trainer.stop_reason or "")
            if self._file is not None:
                self._file.close()
                self._file = None

        def _points(self, trainer: Any) -> None:
            split = trainer.data.train
            n = min(len(split), POINTS)
            x = split.x[:n].detach().cpu().reshape(n, -1)
            if x.shape[1] not in (1, 2):
                self.grid = False  # the playground draws 1-D and 2-D inputs only
                return
            self.write("points", x=x.tolist(), y=split.y[:n].detach().cpu().reshape(n).tolist(), task=trainer.data.task)

        @torch.no_grad()
        def _plane(self, trainer: Any) -> tuple[list[torch.Tensor], torch.Tensor]:
            """The axes and grid of inputs the playground predicts over: the training data never changes, so
            they are made once per run (the first epoch's end) and reused."""
            if self._plane_cache is None:
                x = trainer.data.train.x.detach().reshape(len(trainer.data.train), -1)
                lo, hi = x.min(0).values, x.max(0).values
                pad = (hi - lo) * 0.1 + 1e-6
                axes = [
                    torch.linspace(float(a), float(b), GRID if x.shape[1] == 2 else 200, device=x.device)
                    for a, b in zip(lo - pad, hi + pad)
                ]
                grid = torch.cartesian_prod(*axes) if len(axes) == 2 else axes[0][:, None]
                self._plane_cache = (axes, grid.to(dtype=x.dtype))
            return self._plane_cache

        @torch.no_grad()
        def _predictions(self, trainer: Any) -> None:
            axes, grid = self._plane(trainer)
            model = trainer.model
            was_training = model.training
            model.eval()  # dropout off, batch norm from running statistics: nothing of the run changes
            try:
                out = model(grid).float()
            finally:
                model.train(was_training)
            if trainer.data.task != "classification":
                z = out.reshape(len(grid)).tolist()
            elif out.shape[-1] == 1:  # one logit: the probability of class 1
                z = torch.sigmoid(out.reshape(len(grid))).tolist()
            elif out.shape[-1] == 2:
                z = torch.softmax(out, -1)[:, 1].tolist()
            else:  # many classes: the predicted class
                z = out.argmax(-1).float().tolist()
            self.write("grid", epoch=trainer.epoch, axes=[a.tolist() for a in axes], z=z)

    return Live()


def main(argv: list[str] | None = None) -> int:
    """Run one lab run; exit codes as ``trainlab train`` (0 done, 2 bad config, 3 diverged, 130 stopped)."""
    parser = argparse.ArgumentParser(prog="python -m trainlab.lab.worker", description=__doc__)
    parser.add_argument("--resume", metavar="RUN", help="continue this stopped run from its checkpoint")
    parser.add_argument("--announce", metavar="FILE", help="write the run folder's path here once it exists")
    parser.add_argument("--grid", action="store_true", help="also write predictions over the input plane each epoch")
    parser.add_argument("overrides", nargs="*", help="KEY=VALUE config overrides, as for trainlab train")
    args = parser.parse_args(argv)
    cpu.prepare()  # threads decided as for the CLI, before torch loads
    # lazy: the runner loads torch; cpu.prepare() had to run first
    from trainlab.config import load_config
    from trainlab.errors import TrainlabError
    from trainlab.runner import train
    from trainlab.training.callbacks import Progress

    def on_setup(setup: Any, trainer: Any) -> None:
        print(trainer.facts.header, flush=True)
        if args.announce:
            Path(args.announce).write_text(json.dumps({"run": str(trainer.facts.run_dir)}))

    try:
        cfg = None if args.resume else load_config(None, args.overrides)
        live = build_live(args.grid)
        progress = Progress(sys.stdout, bar=False)
        if args.resume:
            result = train(callbacks=[progress, live], on_setup=on_setup, resume=args.resume, overrides=args.overrides)
        else:
            result = train(cfg, callbacks=[progress, live], on_setup=on_setup)
    except TrainlabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    status = result.summary.get("status")
    print(f"status {status}", flush=True)
    return {"interrupted": 130, "diverged": 3}.get(str(status), 0)


if __name__ == "__main__":
    sys.exit(main())
