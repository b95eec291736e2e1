"""The reference recipe on real Fashion-MNIST (2 epochs): the foundation's end-to-end check."""

from __future__ import annotations

from pathlib import Path

import trainlab
from tests.conftest import requires_fashion


@requires_fashion
def test_reference_recipe_two_epochs(runs_dir: Path) -> None:
    # After only 2 epochs Adam's test accuracy still swings by about 0.015 between seeds (measured:
    # seeds 0-2 give 0.835, 0.852, 0.849), so the 0.84 bar is checked on the mean of 3 seeds.
    accs = []
    for seed in (0, 1, 2):
        run = trainlab.train(
            "configs/seed-mlp.yaml", overrides=["train.epochs=2", f"output.dir={runs_dir}", f"seed={seed}"]
        )
        s = run.summary
        assert s["data"]["train"] == 54000 and s["data"]["val"] == 6000 and s["data"]["test"] == 10000
        assert abs(s["initial_loss"] - 2.3026) < 0.5
        assert s["test_accuracy"] >= 0.82
        accs.append(s["test_accuracy"])
    assert sum(accs) / len(accs) >= 0.84
