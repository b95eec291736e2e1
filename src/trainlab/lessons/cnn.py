"""Lesson ``cnn``: why convolutions suit images — an MLP and a CNN of about the same size.

An ``mlp`` and a ``cnn`` with about the same number of parameters train on the same images. Then the
test images are shifted by 2 pixels (up, down, left, right; zero fill): the MLP, whose weights are
tied to pixel positions, loses more accuracy than the CNN, whose filters slide and whose pooling
absorbs small moves. The CNN's receptive fields are read with the machinery of ``trainlab summary``
(``nn/summary.py``): they grow with every convolution, and each pooling doubles what the next adds.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from trainlab.lessons import LESSONS
from trainlab.lessons.base import Fitted, LessonContext, Report, new_figure
from trainlab.nn.summary import layer_table, receptive_fields


def shifted(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Images (N, C, H, W) moved by (dy, dx) pixels, zero fill (one pad and one slice, no per-image loop)."""
    p = max(abs(dy), abs(dx))
    h, w = x.shape[-2:]
    padded = F.pad(x, (p, p, p, p))
    return padded[..., p - dy : p - dy + h, p - dx : p - dx + w]


def accuracy(f: Fitted, x: torch.Tensor, y: torch.Tensor) -> float:
    """Accuracy of a trained model on images ``x`` (eval mode, batches of 2,000)."""
    f.model.eval()
    with torch.no_grad():
        right = sum(int((f.model(x[i : i + 2000]).argmax(1) == y[i : i + 2000]).sum()) for i in range(0, len(x), 2000))
    return right / len(y)


def params(model: torch.nn.Module) -> int:
    """The number of parameters."""
    return sum(p.numel() for p in model.parameters())


@LESSONS.register(
    "cnn", "an MLP vs a CNN of similar size on Fashion-MNIST; 2-pixel shifted test images; receptive fields"
)
def lesson(ctx: LessonContext) -> Report:
    """Run the cnn lesson."""
    r = Report("cnn", "convolutions: weights shared across positions, features that survive a shift")
    data = {"data.name": ctx.pick("digits", "fashion-mnist"), "data.limit": ctx.pick(None, 5000), "data.val": 0}
    epochs = ctx.pick(15, 8)
    shift = ctx.pick(1, 2)  # pixels: 2 of a 28x28 image, 1 of an 8x8 digit
    moves = {"right": (0, shift), "left": (0, -shift), "down": (shift, 0), "up": (-shift, 0)}
    blocks = ctx.pick(
        ["conv(8,k=3,p=1,pool=max(2))", "conv(16,k=3,p=1,pool=max(2))"],
        ["conv(16,k=3,p=1,pool=max(2))", "conv(32,k=3,p=1,pool=max(2))"],
    )
    train = {"optim.name": "adam", "optim.lr": 1e-3, "optim.batch_size": 64, "train.epochs": epochs}
    cnn = ctx.fit(
        ctx.config(**data, **train, **{"model.name": "cnn", "model.blocks": blocks, "model.hidden": []}), label="cnn"
    )
    n_cnn = params(cnn.model)
    shape = cnn.setup.data.input_shape
    n_in, n_out = int(torch.tensor(shape).prod()), cnn.setup.data.num_classes
    width = max(1, round((n_cnn - n_out) / (n_in + 1 + n_out)))  # an MLP [width] with about the CNN's parameter count
    mlp = ctx.fit(ctx.config(**data, **train, **{"model.hidden": [width]}), label=f"mlp [{width}]")
    n_mlp = params(mlp.model)
    r.text(
        f"{ctx.pick('digits (8×8 images)', 'Fashion-MNIST (5,000 training images, 28×28)')}, Adam lr 1e-3, batch 64, "
        f"{epochs} epochs. "
        f"`model.name=cnn` with `model.blocks={blocks}` and no hidden layer ({n_cnn:,} parameters) against `mlp` "
        f"[{width}] "
        f"({n_mlp:,} parameters). Shifted test images move every image {shift} pixels up, down, left or right with "
        "zero fill; "
        "the models never saw shifted images in training."
    )

    test = cnn.setup.data.test
    x, y = test.x, test.y
    acc = {k: accuracy(f, x, y) for k, f in (("cnn", cnn), ("mlp", mlp))}
    moved = {
        k: {m: accuracy(f, shifted(x, dy, dx), y) for m, (dy, dx) in moves.items()}
        for k, f in (("cnn", cnn), ("mlp", mlp))
    }
    drop = {k: acc[k] - sum(moved[k].values()) / len(moves) for k in acc}

    r.claim(
        "at about the same number of parameters a CNN classifies images better than an MLP",
        "CNN test accuracy ≥ the MLP's + 0.01, with parameter counts within 10% of each other",
        f"CNN {acc['cnn']:.3f} ({n_cnn:,} parameters), MLP {acc['mlp']:.3f} ({n_mlp:,})",
        acc["cnn"] >= acc["mlp"] + 0.01 and abs(n_mlp - n_cnn) <= 0.1 * n_cnn,
    )
    r.claim(
        f"a shift of {shift} pixel(s) hurts the MLP more than the CNN (shared filters and pooling tolerate small "
        "moves)",
        f"accuracy lost on test images shifted by {shift} pixel(s) (mean of four directions): the MLP's ≥ 2× the CNN's",
        f"MLP loses {drop['mlp']:.3f} ({acc['mlp']:.3f} → {acc['mlp'] - drop['mlp']:.3f}), CNN loses {drop['cnn']:.3f} "
        f"({acc['cnn']:.3f} → {acc['cnn'] - drop['cnn']:.3f})",
        drop["mlp"] >= 2 * max(drop["cnn"], 0.0) and drop["mlp"] > 0,
    )

    # receptive fields, as `trainlab summary` computes them
    rows = layer_table(cnn.model, shape)
    modules = [cnn.model.get_submodule(name) for name, *_ in rows]
    rfs = receptive_fields(modules, len(shape) - 1)
    windowed = [
        (name, typ, rf[0])
        for (name, typ, *_), rf in zip(rows, rfs, strict=True)
        if rf is not None and ("Conv" in typ or "Pool" in typ)
    ]
    sizes = [1] + [rf for *_, rf in windowed]
    grows = all(b > a for a, b in zip(sizes, sizes[1:]))
    convs = [(i, s) for i, (_, typ, s) in enumerate(windowed) if "Conv" in typ]  # sizes[i] is the field before layer i
    adds = [s - sizes[i] for i, s in convs]  # what each 3x3 conv adds to the receptive field
    pooled = len(adds) >= 2 and any("Pool" in typ for _, typ, _ in windowed[: convs[1][0]])
    r.claim(
        "receptive fields grow with depth, and pooling makes later layers grow them faster",
        "the receptive field (from `trainlab summary`'s machinery) grows at every conv and pool layer, and the second "
        "3×3 conv, after a "
        "2× pooling, adds 2× what the first added",
        " → ".join(f"{typ} {s}×{s}" for _, typ, s in windowed)
        + (f"; the convs add {', '.join(map(str, adds))} pixels" if adds else ""),
        grows and pooled and adds[1] == 2 * adds[0],
    )

    r.heading("Accuracy on shifted test images")
    r.table(
        ["model", "parameters", "test accuracy", *[f"shifted {m}" for m in moves], "mean loss of accuracy"],
        [[k, n, acc[k], *[moved[k][m] for m in moves], drop[k]] for k, n in (("mlp", n_mlp), ("cnn", n_cnn))],
    )
    r.heading("Receptive fields")
    r.table(
        ["layer", "type", "output shape", "receptive field"],
        [
            [name, typ, "×".join(map(str, out)), "all" if rf is None else "×".join(map(str, rf))]
            for (name, typ, out, _), rf in zip(rows, rfs, strict=True)
        ],
    )
    fig, axes = new_figure(3, 1, (2.6, 2.6))
    for ax, (title, img) in zip(
        axes[0][:2], (("test image", x[0]), (f"shifted right {shift}", shifted(x[:1], 0, shift)[0])), strict=True
    ):
        ax.imshow(img[0].cpu().numpy(), cmap="gray")
        ax.set_title(title, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    ax = axes[0][2]
    ax.bar([0, 1], [acc["mlp"], acc["cnn"]], width=0.35, label="original")
    ax.bar([0.35, 1.35], [acc["mlp"] - drop["mlp"], acc["cnn"] - drop["cnn"]], width=0.35, label=f"shifted {shift} px")
    ax.set_xticks([0.17, 1.17], ["mlp", "cnn"])
    ax.set_ylabel("test accuracy")
    ax.legend(fontsize=7)
    r.figure(
        fig,
        "cnn-shift",
        f"A test image and its {shift}-pixel shift (the input is standardized); test accuracy before and after the "
        "shift.",
    )
    return r
