"""What every peer in ``peers.py`` shares: the cases, the data, the plain-torch models, the floor.

A *case* is a recipe (model, batch size, epochs) that each peer trains the same way: the same
training examples (Fashion-MNIST's 60k minus trainlab's seeded, stratified 10% validation split),
the same number of optimizer steps in the same batch size, Adam lr 1e-3, cross-entropy, then one
pass over the 10k test examples.

The data is read here with gzip + NumPy, as a hand-written script would; trainlab reads it its
own way (its timing includes that).
"""

from __future__ import annotations

import gzip
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported where it is used, so peers.py itself starts fast
    import torch
    from torch import nn


@dataclass(frozen=True)
class Case:
    """One recipe timed under every peer."""

    name: str
    help: str
    hidden: tuple[int, ...] = (256,)
    batch: int = 256
    epochs: int | None = None  # None: the --epochs given to peers.py
    blocks: tuple[dict, ...] = ()  # cnn: conv blocks (trainlab's model.blocks syntax)
    peers: tuple[str, ...] = ()  # peers timed on this case
    extra: dict = field(default_factory=dict)

    @property
    def cnn(self) -> bool:
        """True for the convolutional case."""
        return bool(self.blocks)


ALL_PEERS = ("bare", "trainlab", "original", "original-eval", "lightning", "skorch", "keras")
KNOWN_PEERS = (*ALL_PEERS, "bare-val", "bare-same", "trainlab-report", "original-pil", "original-pil-eval")

CNN_BLOCKS = (
    {"conv": 16, "kernel": 3, "padding": 1, "pool": "max(2)"},
    {"conv": 32, "kernel": 3, "padding": 1, "pool": "max(2)"},
)

CASES = {
    c.name: c
    for c in (
        Case(
            "mlp",
            "reference recipe: MLP 784-256-10, batch 256",
            peers=(*ALL_PEERS, "bare-same", "original-pil", "trainlab-report"),
        ),
        Case(
            "tiny",
            "per-step overhead: MLP 784-32-10, batch 64",
            hidden=(32,),
            batch=64,
            peers=("bare", "bare-same", "trainlab"),
        ),
        Case(
            "cnn",
            "small CNN (configs/cnn-fashion.yaml): conv 16 and conv 32 (3x3, max-pool 2), fc 128, batch 128",
            hidden=(128,),
            batch=128,
            blocks=CNN_BLOCKS,
            peers=("bare", "bare-same", "trainlab"),
        ),
        Case(
            "mlp10",
            "10 epochs of the reference recipe with per-epoch validation/evaluation",
            epochs=10,
            peers=("bare-val", "trainlab", "original-eval", "original-pil-eval"),
        ),
    )
}


# -- data --------------------------------------------------------------------------------------
def read_idx_gz(path: Path) -> np.ndarray:
    """An IDX file (gzip or plain) as a NumPy array: what a hand-written script does."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def find_files(data_dir: str | None) -> dict[str, Path]:
    """The four Fashion-MNIST IDX files (trainlab's search order: dir, $TRAINLAB_DATA, cache, Debian)."""
    from trainlab.data.locate import find_idx_files

    return {k: Path(v) for k, v in find_idx_files("fashion-mnist", data_dir).items()}


@dataclass
class Data:
    """Float tensors scaled to [0, 1] with shape (N, 1, 28, 28), int64 labels."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def load_data(data_dir: str | None, val: float = 0.1, limit: int | None = None, seed: int = 0) -> Data:
    """Read, split (trainlab's seeded stratified split, so every peer trains on the same examples) and scale."""
    import torch

    from trainlab.data.splits import stratified_split

    f = find_files(data_dir)
    x = read_idx_gz(f["train-images-idx3-ubyte"])
    y = read_idx_gz(f["train-labels-idx1-ubyte"]).astype(np.int64)
    xt = read_idx_gz(f["t10k-images-idx3-ubyte"])
    yt = read_idx_gz(f["t10k-labels-idx1-ubyte"]).astype(np.int64)
    if limit is not None and limit < len(y):
        keep = np.sort(np.random.default_rng(seed).permutation(len(y))[:limit])
        x, y = x[keep], y[keep]
    tr, va = stratified_split(y, val, seed)

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).float().div_(255.0).unsqueeze(1)

    return Data(t(x[tr]), torch.from_numpy(y[tr]), t(x[va]), torch.from_numpy(y[va]), t(xt), torch.from_numpy(yt))


class PerExampleImages:
    """What ``torchvision.datasets.FashionMNIST(transform=ToTensor())`` does for each example drawn.

    torchvision is not a dependency here, so its per-example path is written out: the image is kept
    as uint8, turned into a PIL image, then ``ToTensor`` makes it a (1, 28, 28) float tensor / 255.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        import torch

        self.images = (x[:, 0] * 255).round().to(torch.uint8).numpy()
        self.targets = y

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        import torch
        from PIL import Image

        img = Image.fromarray(self.images[i])  # FashionMNIST.__getitem__
        t = torch.from_numpy(np.array(img, np.uint8, copy=True)).view(img.size[1], img.size[0], 1)  # ToTensor
        return t.permute(2, 0, 1).contiguous().to(dtype=torch.float32).div(255), int(self.targets[i])


# -- models (plain torch, built exactly as trainlab builds them) --------------------------------
def torch_model(case: Case, seed: int = 0) -> nn.Module:
    """The case's model in plain torch, kaiming-normal weights, zero biases, seeded."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    if case.cnn:
        ch, side = 1, 28
        for b in case.blocks:
            k, p = b["kernel"], b["padding"]
            layers += [nn.Conv2d(ch, b["conv"], k, padding=p), nn.ReLU(), nn.MaxPool2d(2)]
            ch, side = b["conv"], (side + 2 * p - k + 1) // 2
        width = ch * side * side
        layers.append(nn.Flatten())
    else:
        layers.append(nn.Flatten())
        width = 28 * 28
    for h in case.hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, 10))
    model = nn.Sequential(*layers)
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return model


def trainlab_config(
    case: Case, epochs: int, data_dir: str | None, out_dir: str, threads: int, limit: int | None, report: bool = False
) -> dict:
    """The case as a trainlab config dict (``report``: also write report.html at the end, trainlab's default)."""
    model: dict = {
        "name": "mlp",
        "hidden": list(case.hidden),
        "act": "relu",
        "init": "kaiming_normal",
        "bias_init": "zeros",
    }
    if case.cnn:
        model = {**model, "name": "cnn", "blocks": [dict(b) for b in case.blocks]}
    return {
        "seed": 0,
        "device": "cpu",  # every peer here runs on the CPU
        "threads": threads,
        "data": {"name": "fashion-mnist", "dir": data_dir, "val": 0.1, "preprocess": "scale", "limit": limit},
        "model": model,
        "loss": {"name": "cross_entropy"},
        "optim": {"name": "adam", "lr": 1e-3, "batch_size": case.batch},
        "train": {"epochs": epochs},
        "output": {"dir": out_dir, "report": report},
    }


# -- the compute floor ---------------------------------------------------------------------------
def recipe_flops(case: Case, epochs: int, n_train: int, n_eval: int) -> float:
    """Floating-point operations of the recipe: ``epochs`` of training steps plus ``n_eval`` forward passes.

    Counted by torch's FlopCounterMode on one batch (matmuls and convolutions, forward + backward),
    scaled by the number of examples.
    """
    import torch
    from torch import nn
    from torch.utils.flop_counter import FlopCounterMode

    model = torch_model(case)
    x = torch.zeros(case.batch, 1, 28, 28)
    y = torch.zeros(case.batch, dtype=torch.long)
    with FlopCounterMode(display=False) as fc:
        nn.functional.cross_entropy(model(x), y).backward()
    train_step = fc.get_total_flops() / case.batch
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model(x)
    forward = fc.get_total_flops() / case.batch
    return epochs * n_train * train_step + n_eval * forward


def matmul_throughput(case: Case, seconds: float = 0.5) -> float:
    """FLOP/s of float32 matrix multiplies of the case's largest layer shape, measured now."""
    import torch

    k = 28 * 28 if not case.cnn else 9 * max(b["conv"] for b in case.blocks)  # im2col depth of a 3x3 conv
    n = case.hidden[0] if case.hidden else max(b["conv"] for b in case.blocks)
    m = case.batch if not case.cnn else 4096
    a, b = torch.randn(m, k), torch.randn(k, n)
    for _ in range(10):
        a @ b
    reps, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(20):
            a @ b
        reps += 20
    return 2.0 * m * k * n * reps / elapsed
