"""The epoch's order of training examples: ``data.sampler`` (uniform, balanced, sqrt).

The Trainer asks its sampler for each epoch's order. ``uniform`` is the plain shuffle (``randperm``
on the trainer's CPU generator, as always). The others draw n indices with replacement by
``torch.multinomial`` on the device, from a generator on the device seeded by the run's seed, with
each example's weight set so that a class is drawn with probability ∝ n_c^q::

    w_i = n_{y_i}^(q - 1)        balanced: q = 0 (every class equally often)
                                 sqrt:     q = 1/2 (square-root sampling, Mahajan et al. 2018)

The drawn order is the trainer's ``perm``, which a checkpoint already saves, and the generator's
state goes into the checkpoint too (``state_dict``), so an exact resume continues the same draws.
"""

from __future__ import annotations

from typing import Any

import torch

from trainlab.registry import Registry

DATA_SAMPLERS = Registry("data sampler")


class Sampler:
    """Draws an epoch's order: n indices, class c drawn with probability ∝ n_c^q, on the device."""

    def __init__(self, y: torch.Tensor, num_classes: int, power: float, seed: int):
        counts = torch.bincount(y, minlength=num_classes).double()
        per_class = torch.where(counts > 0, counts.clamp(min=1) ** (power - 1), torch.zeros_like(counts))
        self.weights = per_class[y].float()  # one weight per training example, on y's device
        self.generator = torch.Generator(device=y.device).manual_seed(seed)
        self.power = power

    def order(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """The next epoch's n indices (the trainer's own ``generator`` is left alone)."""
        return torch.multinomial(self.weights, n, replacement=True, generator=self.generator)

    def class_share(self, num_classes: int, y: torch.Tensor) -> torch.Tensor:
        """The probability of drawing each class: n_c^q / sum_k n_k^q."""
        s = torch.zeros(num_classes, dtype=torch.float64, device=y.device).index_add_(0, y, self.weights.double())
        return s / s.sum()

    def state_dict(self) -> dict[str, Any]:
        """The generator's state, for exact resume."""
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue the draws where a checkpoint left them."""
        self.generator.set_state(state["generator"])


@DATA_SAMPLERS.register("uniform", "every example once per epoch, shuffled (randperm)")
def uniform(y: torch.Tensor, num_classes: int, seed: int) -> Sampler | None:
    """The plain shuffle: no sampler object, the loop's own ``randperm``."""
    return None


@DATA_SAMPLERS.register("balanced", "class-balanced: each class drawn equally often, examples with replacement")
def balanced(y: torch.Tensor, num_classes: int, seed: int) -> Sampler:
    """Class-balanced sampling: P(class c) = 1/C."""
    return Sampler(y, num_classes, 0.0, seed)


@DATA_SAMPLERS.register("sqrt", "square-root: class c drawn with probability ∝ sqrt(n_c)")
def sqrt(y: torch.Tensor, num_classes: int, seed: int) -> Sampler:
    """Square-root sampling: P(class c) ∝ n_c^(1/2)."""
    return Sampler(y, num_classes, 0.5, seed)


def make_sampler(spec: str, y: torch.Tensor, num_classes: int, seed: int) -> Sampler | None:
    """The sampler ``data.sampler`` names, for training labels ``y`` (None: the plain shuffle)."""
    return DATA_SAMPLERS.create(spec, y=y, num_classes=num_classes, seed=seed)
