"""Data augmentation by name, applied to whole training batches on the device (``data.augment``).

Each entry transforms a batch ``x`` of shape (N, C, H, W) (images) or (N, C, L) (sequences) with
independent random draws per example, all at once: no Python loop over examples. Randomness comes
from torch's global RNG (seeded by ``seed``), so a run with augmentation is as reproducible as one
without. Pixels moved in from outside the image are 0: black after ``scale``, the training mean
after ``standardize``. Augmentation runs only on training batches; evaluation sees the data as is.

    data.augment=[shift(2),rotate(10),noise(0.05)]      # applied in the order written
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from trainlab.errors import ConfigError, brief
from trainlab.registry import Registry, parse_spec

AUGMENTATIONS = Registry("augmentation")

Transform = Callable[[torch.Tensor], torch.Tensor]


def _need_images(name: str, dims: int) -> None:
    if dims != 2:
        raise ConfigError(f"augmentation {brief(name)} needs image data (C, H, W); this data set has {dims}-D inputs")


def _prob(name: str, p: float) -> float:
    if not 0.0 <= float(p) <= 1.0:
        raise ConfigError(f"augmentation {brief(name)}: p={brief(p)} must be a probability in [0, 1]")
    return float(p)


def random_shift(x: torch.Tensor, pixels: int) -> torch.Tensor:
    """Translate each example by its own integer offset in [-pixels, pixels] per spatial axis, zero fill.

    Zero-pad by ``pixels`` on every side, then gather each example's window of the original size at
    a random corner: out[n, c, i, j] = padded[n, c, i + dy[n], j + dx[n]], dy, dx ∈ {0, ..., 2·pixels}.
    """
    if pixels == 0:
        return x
    n, spatial = x.shape[0], x.shape[2:]
    padded = F.pad(x, (pixels, pixels) * len(spatial))
    # one index tensor per axis, shaped to broadcast to (N, C, *spatial)
    index: list[torch.Tensor] = [torch.arange(n, device=x.device).view(n, *(1,) * (x.ndim - 1))]
    index.append(torch.arange(x.shape[1], device=x.device).view(1, -1, *(1,) * len(spatial)))
    for axis, size in enumerate(spatial):
        offset = torch.randint(0, 2 * pixels + 1, (n, 1), device=x.device)
        pos = offset + torch.arange(size, device=x.device)  # (N, size)
        shape = [n, 1] + [1] * len(spatial)
        shape[2 + axis] = size
        index.append(pos.view(shape))
    return padded[tuple(index)]


# pads: the parameter by which the batch is zero-padded on every side first (the memory plan counts it)
@AUGMENTATIONS.register(
    "shift", "random translation by up to `pixels` (default 2) along each axis, zero fill", pads="pixels"
)
def shift(dims: int, pixels: int = 2) -> Transform:
    """Random integer shift with zero padding (images and sequences)."""
    if isinstance(pixels, bool) or not isinstance(pixels, int) or pixels < 0:
        raise ConfigError(f"augmentation 'shift': pixels={brief(pixels)} must be an integer >= 0")
    return lambda x: random_shift(x, pixels)


@AUGMENTATIONS.register(
    "crop", "random crop: zero-pad by `padding` (default 4), crop a window of the original size", pads="padding"
)
def crop(dims: int, padding: int = 4) -> Transform:
    """The pad-and-crop recipe; the same operation as ``shift(padding)``."""
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise ConfigError(f"augmentation 'crop': padding={brief(padding)} must be an integer >= 0")
    return lambda x: random_shift(x, padding)


def random_flip(x: torch.Tensor, p: float) -> torch.Tensor:
    """Mirror each example left-right (last axis) with probability ``p``."""
    flip = torch.rand(x.shape[0], device=x.device) < p
    return torch.where(flip.view(-1, *(1,) * (x.ndim - 1)), x.flip(-1), x)


@AUGMENTATIONS.register(
    "flip", "horizontal mirror with probability p (default 0.5); never a default: digits are not symmetric"
)
def flip(dims: int, p: float = 0.5) -> Transform:
    """Random horizontal flip (images)."""
    _need_images("flip", dims)
    prob = _prob("flip", p)
    return lambda x: random_flip(x, prob)


def rotate_by(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Rotate each image (N, C, H, W) about its centre by its own angle (radians), bilinear, zero fill.

    With normalized coordinates (−1..1 across width and height) the output pixel at (u, v) samples
    the input at θ·(u, v, 1), θ = [[cos a, −sin a·H/W, 0], [sin a·W/H, cos a, 0]]: a rotation in
    pixel space, corrected for non-square images.
    """
    _, _, h, w = x.shape
    a = angles.to(device=x.device, dtype=torch.float32)
    cos, sin = torch.cos(a), torch.sin(a)
    zero = torch.zeros_like(a)
    theta = torch.stack([torch.stack([cos, -sin * h / w, zero], 1), torch.stack([sin * w / h, cos, zero], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_rotate(x: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate each image by an angle drawn uniformly from [-degrees, degrees]."""
    return rotate_by(x, (torch.rand(x.shape[0], device=x.device) * 2 - 1) * math.radians(degrees))


@AUGMENTATIONS.register(
    "rotate", "random rotation by up to `degrees` (default 10) about the centre, bilinear, zero fill"
)
def rotate(dims: int, degrees: float = 10.0) -> Transform:
    """Small random rotations (images), batched with affine_grid / grid_sample."""
    _need_images("rotate", dims)
    if isinstance(degrees, bool) or not isinstance(degrees, (int, float)) or not 0 <= degrees <= 180:
        raise ConfigError(f"augmentation 'rotate': degrees={brief(degrees)} must be a number in [0, 180]")
    return lambda x: random_rotate(x, float(degrees))


@AUGMENTATIONS.register(
    "noise", "add Gaussian noise N(0, std^2) to every input value (std default 0.05)", limits={"std": (0, None)}
)
def noise(dims: int, std: float = 0.05) -> Transform:
    """Additive Gaussian noise."""
    if isinstance(std, bool) or not isinstance(std, (int, float)) or not 0 <= std < math.inf:
        raise ConfigError(f"augmentation 'noise': std={brief(std)} must be a finite number >= 0")
    s = float(std)
    return lambda x: x + s * torch.randn_like(x)


def random_erase(
    x: torch.Tensor, p: float, scale: tuple[float, float], ratio: tuple[float, float], value: float
) -> torch.Tensor:
    """Random erasing (Zhong et al. 2017): with probability ``p`` set one random box of each example to ``value``.

    Per example: area fraction A ~ U(scale), aspect r with log r ~ U(log ratio); box height
    h = round(√(A·r·H·W)), width w = round(√(A·H·W / r)), clipped to the image; top-left corner uniform
    over the positions where the box fits. Sequences (N, C, L) get a segment of length round(A·L).
    """
    n, spatial = x.shape[0], x.shape[2:]
    dev = x.device
    area = torch.empty(n, device=dev).uniform_(*scale) * math.prod(spatial)
    if len(spatial) == 2:
        log_r = torch.empty(n, device=dev).uniform_(math.log(ratio[0]), math.log(ratio[1]))
        sizes = [(area * log_r.exp()).sqrt(), (area / log_r.exp()).sqrt()]
    else:
        sizes = [area]
    mask = (torch.rand(n, device=dev) < p).view(n, *(1,) * len(spatial))
    for axis, (size, extent) in enumerate(zip(sizes, spatial)):
        length = size.round().clamp(1, extent).long()
        start = (torch.rand(n, device=dev) * (extent - length + 1)).long()
        pos = torch.arange(extent, device=dev)
        inside = (pos >= start[:, None]) & (pos < (start + length)[:, None])  # (N, extent)
        shape = [n] + [1] * len(spatial)
        shape[1 + axis] = extent
        mask = mask & inside.view(shape)
    return x.masked_fill(mask.unsqueeze(1), value)


def _area_and_aspect(name: str, scale: Any, ratio: Any) -> tuple[tuple[float, float], tuple[float, float]]:
    """A box's area fraction range (within (0, 1]) and aspect ratio range (positive), checked."""
    lo, hi = _pair(name, "scale", scale)
    if not 0 < lo <= hi <= 1:
        raise ConfigError(f"augmentation '{name}': scale={brief(list(scale))} must satisfy 0 < low <= high <= 1")
    rlo, rhi = _pair(name, "ratio", ratio)
    if not 0 < rlo <= rhi:
        raise ConfigError(f"augmentation '{name}': ratio={brief(list(ratio))} must satisfy 0 < low <= high")
    return (lo, hi), (rlo, rhi)


@AUGMENTATIONS.register(
    "erase", "random erasing: with probability p (0.5) one box of area fraction in scale ([0.02,0.33]) set to value (0)"
)
def erase(
    dims: int, p: float = 0.5, scale: Any = (0.02, 0.33), ratio: Any = (0.3, 3.3), value: float = 0.0
) -> Transform:
    """Random erasing / cutout (images and sequences)."""
    prob = _prob("erase", p)
    (lo, hi), (rlo, rhi) = _area_and_aspect("erase", scale, ratio)
    return lambda x: random_erase(x, prob, (lo, hi), (rlo, rhi), float(value))


def _pair(name: str, key: str, value: Any) -> tuple[float, float]:
    ok = (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    )
    if not ok:
        raise ConfigError(f"augmentation {brief(name)}: {key}={brief(value)} must be a pair [low, high]")
    return float(value[0]), float(value[1])


def random_resized_crop(x: torch.Tensor, scale: tuple[float, float], ratio: tuple[float, float]) -> torch.Tensor:
    """Crop a random window of each example and resize it back to the full size (SimCLR's main view), bilinear.

    Per example: area fraction A ~ U(scale); images also draw an aspect r with log r ~ U(log ratio),
    window width w = min(1, √(A·r)) and height h = min(1, √(A/r)) as fractions of the image;
    sequences (N, C, L) take a window of length fraction A. The window's centre is uniform where it
    fits. In normalized coordinates the output point u samples the input at w·u + t_x (and h·v + t_y),
    t ~ U(−(1 − w), 1 − w): one affine_grid / grid_sample for the whole batch.
    """
    seq = x.ndim == 3
    img = x.unsqueeze(2) if seq else x  # a sequence is an image of height 1
    n, dev = x.shape[0], x.device
    area = torch.empty(n, device=dev).uniform_(*scale)
    if seq:
        w, h = area, torch.ones_like(area)
    else:
        r = torch.empty(n, device=dev).uniform_(math.log(ratio[0]), math.log(ratio[1])).exp()
        w, h = (area * r).sqrt().clamp(max=1.0), (area / r).sqrt().clamp(max=1.0)
    tx = (torch.rand(n, device=dev) * 2 - 1) * (1 - w)
    ty = (torch.rand(n, device=dev) * 2 - 1) * (1 - h)
    zero = torch.zeros_like(w)
    theta = torch.stack([torch.stack([w, zero, tx], 1), torch.stack([zero, h, ty], 1)], 1)
    grid = F.affine_grid(theta.to(img.dtype), list(img.shape), align_corners=False)
    out = F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.squeeze(2) if seq else out


@AUGMENTATIONS.register(
    "resized_crop", "random crop of area fraction in scale ([0.5,1]) resized back to full size (images and sequences)"
)
def resized_crop(dims: int, scale: Any = (0.5, 1.0), ratio: Any = (0.75, 4 / 3)) -> Transform:
    """Random resized crop (images) or crop-and-resize (sequences): the view SimCLR relies on most."""
    (lo, hi), (rlo, rhi) = _area_and_aspect("resized_crop", scale, ratio)
    return lambda x: random_resized_crop(x, (lo, hi), (rlo, rhi))


class Augment:
    """The configured augmentations, applied in order to a training batch (without gradients)."""

    def __init__(self, specs: list[str], transforms: list[Transform]):
        self.specs = specs
        self.transforms = transforms

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Augment one batch; same shape, dtype and device out."""
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self) -> str:
        return f"Augment([{', '.join(self.specs)}])"


def make_augment(specs: list[Any], input_shape: tuple[int, ...]) -> Augment | None:
    """Build ``data.augment`` for inputs of ``input_shape`` (C, H, W) or (C, L); None when empty."""
    if not specs:
        return None
    if len(input_shape) not in (2, 3):
        raise ConfigError(
            "data.augment needs image (C, H, W) or sequence (C, L) inputs, but this data set's input shape is "
            f"{tuple(input_shape)}"
        )
    dims = len(input_shape) - 1
    transforms = [AUGMENTATIONS.create(spec, dims=dims) for spec in specs]
    return Augment([str(parse_spec(s)) for s in specs], transforms)


# SimCLR's views when pretrain.views is empty. Images: crop-resize, small shifts, erasing, noise
# (Chen et al. 2020 minus colour, which grayscale lacks); sequences (MNIST-1D): the same family in 1-D.
DEFAULT_VIEWS: dict[int, list[str]] = {
    2: ["resized_crop(scale=[0.4,1])", "shift(2)", "erase(p=0.5,scale=[0.02,0.2])", "noise(0.1)"],
    1: ["resized_crop(scale=[0.6,1])", "shift(3)", "erase(p=0.5,scale=[0.05,0.2])", "noise(0.1)"],
}


class TwoViews:
    """Two independently augmented views of a batch, stacked: (N, ...) -> (2N, ...), rows i and i + N a pair."""

    def __init__(self, augment: Augment):
        self.augment = augment

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Both views in one tensor, so the encoder sees them in one forward pass."""
        return torch.cat([self.augment(x), self.augment(x)])

    def __repr__(self) -> str:
        return f"TwoViews({self.augment!r})"


def make_views(specs: list[Any], input_shape: tuple[int, ...]) -> TwoViews:
    """SimCLR's view maker for ``pretrain.views`` (empty: ``DEFAULT_VIEWS`` for the data's shape)."""
    if len(input_shape) not in (2, 3):
        raise ConfigError(
            "pretrain.method=simclr needs image (C, H, W) or sequence (C, L) inputs to make views, but this data "
            f"set's input shape is {tuple(input_shape)}"
        )
    augment = make_augment(list(specs) or DEFAULT_VIEWS[len(input_shape) - 1], input_shape)
    assert augment is not None
    return TwoViews(augment)
