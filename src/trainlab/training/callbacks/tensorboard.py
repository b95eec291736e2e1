"""TensorBoard: per-epoch scalars and histograms of weights and activations, in the run directory.

``tensorboard --logdir runs`` then shows every run under its directory name. Activations are the
outputs of the model's activation layers on a fixed probe batch (up to 512 validation examples),
recorded at epoch ends only, so the training steps themselves pay nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from trainlab.errors import ConfigError
from trainlab.training.loop import Callback, Trainer

PROBE = 512


def activation_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Leaf modules that are activation functions (torch's activation classes or layers named act*)."""
    return [
        (name, m)
        for name, m in model.named_modules()
        if name
        and not list(m.children())
        and (type(m).__module__ == "torch.nn.modules.activation" or name.split(".")[-1].startswith("act"))
    ]


class TensorBoard(Callback):
    """Write TensorBoard event files: metrics every epoch, histograms every ``histogram_every`` epochs."""

    def __init__(self, run_dir: str | Path, histogram_every: int = 1):
        try:
            # optional: pip install 'trainlab[tensorboard]'
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError(
                "logging.tensorboard=true needs the tensorboard package: pip install 'trainlab[tensorboard]'"
            ) from None
        self._writer_cls = SummaryWriter
        self.run_dir = Path(run_dir)
        self.every = histogram_every
        self.writer: Any = None

    def on_fit_start(self, trainer: Trainer) -> None:
        """Open the event file and fix the probe batch."""
        self.writer = self._writer_cls(log_dir=str(self.run_dir))
        split = trainer.data.val if trainer.data.val is not None else trainer.data.train
        self.probe = split.x[:PROBE]

    def on_epoch_end(self, trainer: Trainer) -> None:
        """Write the epoch's metrics, and histograms when due."""
        step = trainer.epoch
        for key, value in trainer.metrics.items():
            if key == "epoch":
                continue
            split, _, name = key.partition("_")
            # loss/train and loss/val share a chart in TensorBoard's grouping by prefix
            self.writer.add_scalar(f"{name}/{split}" if split in ("train", "val") and name else key, value, step)
        if step % self.every == 0 or step == trainer.epochs:
            self._histograms(trainer, step)
        self.writer.flush()

    def _histograms(self, trainer: Trainer, step: int) -> None:
        model = trainer.model
        for name, p in model.named_parameters():
            self.writer.add_histogram(f"weights/{name}", p.detach().float().cpu(), step)
        outputs: dict[str, torch.Tensor] = {}
        hooks = [
            m.register_forward_hook(lambda _m, _i, out, name=name: outputs.__setitem__(name, out.detach()))
            for name, m in activation_modules(model)
        ]
        try:
            trainer.outputs(self.probe)
        finally:
            for h in hooks:
                h.remove()
        for name, out in outputs.items():
            self.writer.add_histogram(f"activations/{name}", out.float().cpu(), step)

    def on_fit_end(self, trainer: Trainer) -> None:
        """Flush and close the event file."""
        self._close()

    def on_error(self, trainer: Trainer) -> None:
        """Close the event file on a failed fit too."""
        self._close()

    def _close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
