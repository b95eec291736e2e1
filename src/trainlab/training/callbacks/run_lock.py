"""RunLock: marks the run directory as being trained by this process (``run.pid``) while ``fit`` runs."""

from __future__ import annotations

from pathlib import Path

from trainlab.runs.lock import claim, held_by_me, release
from trainlab.training.loop import Callback, Trainer


class RunLock(Callback):
    """Claim ``run_dir`` at fit start (refusing if another live process trains it); release it at the end."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.mine = False  # whether this callback took the claim (and so gives it back)

    def on_fit_start(self, trainer: Trainer) -> None:
        # a caller that claimed the run first (the runner, which still evaluates and saves after
        # fit) keeps it until it is done; otherwise the claim lasts as long as fit
        self.mine = not held_by_me(self.run_dir)
        claim(self.run_dir)

    def on_fit_end(self, trainer: Trainer) -> None:
        if self.mine:
            release(self.run_dir)

    def on_error(self, trainer: Trainer) -> None:
        if self.mine:
            release(self.run_dir)
