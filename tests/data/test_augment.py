"""Batched augmentations: what each one does to pixels, their statistics, seeding, and the wiring."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import trainlab
from trainlab.build import setup
from trainlab.config import load_config
from trainlab.data.augment import (
    AUGMENTATIONS,
    make_augment,
    random_erase,
    random_flip,
    random_shift,
    rotate_by,
)
from trainlab.errors import ConfigError

IMAGE_SPECS = [
    "shift",
    "shift(3)",
    "crop(4)",
    "flip",
    "flip(p=1)",
    "rotate(15)",
    "noise(0.1)",
    "erase",
    "erase(p=1,scale=[0.1,0.2],ratio=[1,1])",
]
SEQUENCE_SPECS = ["shift(2)", "crop(1)", "noise", "erase(p=1)"]


def shifted(img: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Reference: ``img`` (C, H, W) moved by (dy, dx) pixels, zeros moving in."""
    h, w = img.shape[-2:]
    out = torch.zeros_like(img)
    out[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = img[
        :, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


@pytest.mark.parametrize("spec", IMAGE_SPECS)
def test_image_augmentations_keep_shape_dtype_and_device(spec: str) -> None:
    x = torch.rand(16, 3, 12, 10)
    out = make_augment([spec], (3, 12, 10))(x)
    assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device


@pytest.mark.parametrize("spec", SEQUENCE_SPECS)
def test_sequence_augmentations_keep_shape(spec: str) -> None:
    x = torch.rand(16, 1, 40)
    assert make_augment([spec], (1, 40))(x).shape == x.shape


def test_shift_moves_each_image_by_one_offset_with_zero_fill() -> None:
    torch.manual_seed(0)
    x = torch.rand(300, 2, 7, 9) + 0.5  # no zeros, so zeros in the output mark moved-in pixels
    out = random_shift(x, 2)
    seen = set()
    for n in range(len(x)):
        matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3) if torch.equal(out[n], shifted(x[n], dy, dx))]
        assert len(matches) == 1, f"example {n} is not a zero-filled shift of its input"
        seen.add(matches[0])
    assert len(seen) == 25  # every offset in [-2, 2]^2 occurs


def test_shift_of_sequences_and_zero_shift_is_identity() -> None:
    torch.manual_seed(0)
    x = torch.arange(1.0, 11.0).repeat(200, 1, 1)  # (200, 1, 10)
    out = random_shift(x, 3)
    seen = set()
    for n in range(len(x)):
        matches = [k for k in range(-3, 4) if torch.equal(out[n], shifted(x[n][:, None], 0, k)[:, 0])]
        assert len(matches) == 1
        seen.add(matches[0])
    assert seen == set(range(-3, 4))
    assert torch.equal(random_shift(x, 0), x)


def test_flip_is_an_exact_mirror() -> None:
    torch.manual_seed(0)
    x = torch.rand(400, 1, 5, 6)
    assert torch.equal(random_flip(x, 1.0), x.flip(-1))
    assert torch.equal(random_flip(x, 0.0), x)
    out = random_flip(x, 0.5)
    mirrored = torch.tensor([torch.equal(o, i.flip(-1)) for o, i in zip(out, x)])
    kept = torch.tensor([torch.equal(o, i) for o, i in zip(out, x)])
    assert bool((mirrored ^ kept).all())  # each example is either mirrored or untouched
    assert 0.4 < mirrored.float().mean() < 0.6


def test_rotation_by_90_degrees_is_rot90_and_by_0_is_identity() -> None:
    x = torch.rand(4, 2, 6, 6)
    assert torch.allclose(rotate_by(x, torch.full((4,), math.pi / 2)), torch.rot90(x, 1, (2, 3)), atol=1e-5)
    assert torch.allclose(rotate_by(x, torch.zeros(4)), x, atol=1e-5)
    # non-square images: half a turn is an exact point reflection (the aspect correction at work)
    y = torch.rand(3, 1, 4, 8)
    assert torch.allclose(rotate_by(y, torch.full((3,), math.pi)), y.flip(-1).flip(-2), atol=1e-5)


def test_small_random_rotations_stay_small() -> None:
    torch.manual_seed(0)
    bar = torch.zeros(1, 21, 21)
    bar[0, 10, 2:19] = 1  # a horizontal bar through the centre, 17 pixels long
    x = bar.repeat(200, 1, 1, 1)
    out = make_augment(["rotate(10)"], (1, 21, 21))(x)
    # turning by at most 10 degrees moves the bar's ends at most 8*sin(10deg) = 1.4 pixels up or down
    assert out[:, :, :8].abs().sum() == 0 and out[:, :, 13:].abs().sum() == 0
    assert torch.allclose(out.sum((1, 2, 3)), x.sum((1, 2, 3)), rtol=0.05)  # no mass lost inside the image
    tilt = out[:, 0, :10, :10].sum((1, 2)) - out[:, 0, :10, 11:].sum((1, 2))  # sign = direction of turn
    assert (tilt > 0.1).any() and (tilt < -0.1).any()  # both directions occur
    wide = make_augment(["rotate(60)"], (1, 21, 21))(x)
    assert wide[:, :, :8].abs().sum() > 0


def test_noise_has_the_requested_statistics() -> None:
    torch.manual_seed(0)
    x = torch.rand(64, 1, 28, 28)
    delta = make_augment(["noise(std=0.2)"], (1, 28, 28))(x) - x
    assert abs(float(delta.mean())) < 0.005
    assert abs(float(delta.std()) - 0.2) < 0.005


def test_erasing_zeroes_one_box_of_the_requested_area() -> None:
    torch.manual_seed(0)
    h, w = 20, 30
    x = torch.rand(500, 3, h, w) + 1.0
    out = random_erase(x, 1.0, (0.05, 0.2), (0.5, 2.0), 0.0)
    erased = out == 0
    assert torch.equal(out[~erased], x[~erased])  # nothing else changes
    assert bool((erased.all(1) | ~erased.any(1)).all())  # the same box in every channel
    box = erased[:, 0]
    rows, cols = box.any(2), box.any(1)
    h_box, w_box = rows.sum(1), cols.sum(1)
    assert torch.equal(box.sum((1, 2)), h_box * w_box)  # a filled rectangle
    frac = (h_box * w_box).float() / (h * w)
    assert bool((frac > 0.03).all() and (frac < 0.26).all())  # area fraction in [0.05, 0.2] up to rounding
    ratio = h_box.float() / w_box.float()
    assert bool((ratio > 0.3).all() and (ratio < 3.0).all())
    none = random_erase(x, 0.0, (0.05, 0.2), (0.5, 2.0), 0.0)
    assert torch.equal(none, x)


def test_same_seed_gives_the_same_augmented_batch() -> None:
    aug = make_augment(["shift(2)", "flip", "rotate(10)", "noise(0.05)", "erase"], (1, 28, 28))
    x = torch.rand(32, 1, 28, 28)
    torch.manual_seed(7)
    a = aug(x)
    torch.manual_seed(7)
    b = aug(x)
    torch.manual_seed(8)
    c = aug(x)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_augmentation_takes_no_gradient_and_leaves_the_input_alone() -> None:
    x = torch.rand(8, 1, 10, 10)
    before = x.clone()
    out = make_augment(["shift(1)", "noise", "erase(p=1)"], (1, 10, 10))(x)
    assert torch.equal(x, before) and not out.requires_grad


@pytest.mark.parametrize(
    ("specs", "shape", "message"),
    [
        (["flip"], (1, 40), "augmentation 'flip' needs image data"),
        (["rotate(5)"], (1, 40), "augmentation 'rotate' needs image data"),
        (["shift"], (2,), "data.augment needs image (C, H, W) or sequence (C, L) inputs"),
        (["mirror"], (1, 8, 8), "unknown augmentation 'mirror'"),
        (["shift(-1)"], (1, 8, 8), "pixels=-1 must be an integer >= 0"),
        (["flip(p=2)"], (1, 8, 8), "p=2 must be a probability"),
        (["erase(scale=[0.5,0.1])"], (1, 8, 8), "scale=[0.5, 0.1] must satisfy 0 < low <= high <= 1"),
        (["noise(sigma=1)"], (1, 8, 8), "has no parameter 'sigma'"),
        (["noise(std=.inf)"], (1, 8, 8), "std=inf must be a finite number >= 0"),
    ],
)
def test_bad_augmentations_fail_with_a_clear_message(specs: list, shape: tuple, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        make_augment(specs, shape)
    assert message in str(err.value)


def test_every_augmentation_is_listed_with_help() -> None:
    assert AUGMENTATIONS.names() == ["crop", "erase", "flip", "noise", "resized_crop", "rotate", "shift"]
    assert all(e.help for e in AUGMENTATIONS)


def test_training_applies_augmentation_to_train_batches_only(idx_dir: Path, runs_dir: Path) -> None:
    augment = ["shift(1)", "noise(0.05)"]
    cfg = {
        "threads": 1,
        "data": {"name": "fashion-mnist", "dir": str(idx_dir), "augment": augment},
        "model": {"hidden": [16]},
        "train": {"epochs": 2, "checkpoint": False},
        "optim": {"batch_size": 64},
        "output": {"dir": str(runs_dir)},
    }
    assert (
        repr(setup(load_config(None, {"data.dir": str(idx_dir), "data.augment": augment})).augment)
        == "Augment([shift(1), noise(0.05)])"
    )
    seen: list[int] = []

    def spy(s: object, trainer: object) -> None:
        inner = trainer.augment

        def wrapped(x: torch.Tensor) -> torch.Tensor:
            seen.append(len(x))
            return inner(x)

        trainer.augment = wrapped

    run = trainlab.train(cfg, on_setup=spy)
    # every training batch went through it, and nothing else did (evaluation sees the data as is)
    assert run.summary["status"] == "completed" and sum(seen) == 2 * run.summary["data"]["train"]
    again = trainlab.train(cfg)  # same seed, same augmented batches, same numbers
    assert again.summary["test_accuracy"] == run.summary["test_accuracy"] and again.history == run.history
