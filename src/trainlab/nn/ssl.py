"""Self-supervised pretraining: an encoder (a catalogue model without its output layer) wrapped with
SimCLR's projection head or an autoencoder's decoder, each with its objective (``pretrain.method``).

The wrapper is the run's model, so the loop, checkpoints, exact resume and model.safetensors treat
it like any model; its encoder's weights are saved under ``encoder.`` and a later run starts from them
with ``model.pretrained=RUN`` (``runs/weights.load_encoder``).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field

import torch
from torch import nn

from trainlab.errors import ConfigError
from trainlab.nn.losses import Loss, nt_xent
from trainlab.registry import Registry

PRETRAIN = Registry("pretraining method")


def split_encoder(model: nn.Module) -> tuple[nn.Sequential, int]:
    """A catalogue model's layers up to its output layer ``out`` (the encoder), and the feature width."""
    children = OrderedDict(model.named_children())
    out = children.pop("out", None)
    if not isinstance(model, nn.Sequential) or not isinstance(out, nn.Linear):
        raise ConfigError(
            f"this model has no output layer named 'out' to split off ({type(model).__name__}); use model.name=mlp or "
            "cnn"
        )
    return nn.Sequential(children), out.in_features


@dataclass
class PretrainContext:
    """What a pretraining method wraps: the encoder, its feature width, the input shape, the model's hidden widths."""

    encoder: nn.Sequential
    features: int
    input_shape: tuple[int, ...]
    hidden: list[int] = field(default_factory=list)


class SimCLR(nn.Module):
    """Encoder + two-layer projection head g(h) = W2·relu(W1·h + b1) + b2; the loss sees g, probes see h."""

    def __init__(self, encoder: nn.Module, features: int, proj: tuple[int, int]):
        super().__init__()
        self.encoder = encoder
        self.projector = nn.Sequential(
            OrderedDict(
                [("fc1", nn.Linear(features, proj[0])), ("act1", nn.ReLU()), ("out", nn.Linear(proj[0], proj[1]))]
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projector(self.encoder(x))


class AutoEncoder(nn.Module):
    """Encoder + MLP decoder back to the input; the output is the reconstruction's residual decoder(encoder(x)) − x."""

    def __init__(self, encoder: nn.Module, features: int, input_shape: tuple[int, ...], hidden: list[int]):
        super().__init__()
        self.encoder = encoder
        layers: list[tuple[str, nn.Module]] = []
        width = features
        for i, h in enumerate(hidden, start=1):
            layers += [(f"fc{i}", nn.Linear(width, h)), (f"act{i}", nn.ReLU())]
            width = h
        layers.append(("out", nn.Linear(width, math.prod(input_shape))))
        self.decoder = nn.Sequential(OrderedDict(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the residual, not the reconstruction: the loss then needs no copy of the input (Loss sees out, y)
        return self.decoder(self.encoder(x)) - x.flatten(1)


def _positive_ints(name: str, key: str, value: object, count: int | None = None) -> list[int]:
    ok = isinstance(value, (list, tuple)) and all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value
    )
    if not ok or (count is not None and len(value) != count):  # type: ignore[arg-type]
        need = f"{count} positive integers" if count else "positive integers"
        raise ConfigError(f"pretrain.method={name}: {key}={value!r} must be a list of {need}, e.g. {key}=[128,64]")
    return list(value)  # type: ignore[arg-type]


# below this temperature exp(similarity / temperature) overflows float32 (1 / 1e-4 = 1e4 > ln(3.4e38) = 88.7
# already overflows at cos = 1: the loss is computed with a log-softmax, which keeps 1e-4 finite, 1e-300 not)
MIN_TEMPERATURE = 1e-4


@PRETRAIN.register(
    "simclr",
    "contrastive: two augmented views (pretrain.views), projection head proj=[128,64], NT-Xent at temperature 0.5",
    limits={"temperature": (MIN_TEMPERATURE, None)},
)
def simclr(ctx: PretrainContext, temperature: float = 0.5, proj: object = (128, 64)) -> tuple[nn.Module, Loss]:
    """SimCLR (Chen et al. 2020): the model maps the 2N views to projections; the loss is NT-Xent on their pairs."""
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, (int, float))
        or not MIN_TEMPERATURE <= temperature < math.inf
    ):
        raise ConfigError(
            f"pretrain.method=simclr: temperature={temperature!r} must be a number >= {MIN_TEMPERATURE:g}, e.g. 0.5"
        )
    p = _positive_ints("simclr", "proj", proj, 2)
    tau = float(temperature)
    # rows i and i + N of the output are the two views of example i (data/augment.TwoViews)
    loss = Loss(
        f"nt_xent(temperature={tau:g})", lambda out, y: nt_xent(*out.chunk(2), temperature=tau), unsupervised=True
    )
    return SimCLR(ctx.encoder, ctx.features, (p[0], p[1])), loss


@PRETRAIN.register(
    "autoencoder", "reconstruction: a decoder mirroring model.hidden back to the input, mean squared error"
)
def autoencoder(ctx: PretrainContext, hidden: object = None) -> tuple[nn.Module, Loss]:
    """An autoencoder: loss = mean over examples and inputs of (decoder(encoder(x)) − x)²."""
    widths = list(reversed(ctx.hidden[:-1])) if hidden is None else _positive_ints("autoencoder", "hidden", hidden)
    return AutoEncoder(ctx.encoder, ctx.features, ctx.input_shape, widths), Loss(
        "reconstruction_mse", lambda out, y: out.pow(2).mean(), unsupervised=True
    )


def make_pretraining(
    spec: str, model: nn.Module, input_shape: tuple[int, ...], hidden: list[int]
) -> tuple[nn.Module, Loss]:
    """Wrap a built catalogue model for ``pretrain.method=spec``: (the run's model, its objective)."""
    encoder, features = split_encoder(model)
    return PRETRAIN.create(spec, ctx=PretrainContext(encoder, features, tuple(input_shape), list(hidden)))


def encoder_of(model: nn.Module) -> nn.Module:
    """The encoder of a pretraining wrapper, or of a catalogue model (all but its output layer)."""
    enc = getattr(model, "encoder", None)
    return enc if isinstance(enc, nn.Module) else split_encoder(model)[0]


@torch.inference_mode()
def features(encoder: nn.Module, x: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    """Encoder features of ``x`` in eval mode, in batches, flattened to (N, D); restores the previous mode."""
    was_training = encoder.training
    encoder.eval()
    try:
        return torch.cat([encoder(x[i : i + batch_size]).flatten(1).float() for i in range(0, len(x), batch_size)])
    finally:
        encoder.train(was_training)
