"""Lesson ``self-supervised``: what SimCLR and an autoencoder learn without labels, judged by linear probes.

On MNIST-1D an encoder is pretrained with SimCLR (two augmented views of each sequence, NT-Xent)
and as an autoencoder, both through the run builder (``pretrain.method``). Their frozen features are
then probed with a linear classifier using 1%, 10% and 100% of the train labels, beside the same
probe on the raw inputs and on the same encoder at its random initialization; a supervised model of
the same architecture trained from scratch on the same 1% of labels is the label-efficiency baseline.
"""

from __future__ import annotations

import dataclasses

import torch

from trainlab.data.dataset import Split
from trainlab.lessons import LESSONS
from trainlab.lessons.base import LessonContext, Report, new_figure
from trainlab.nn.ssl import features
from trainlab.training.probes import FRACTIONS, label_subset, representation_report

PUBLISHED_PROBE, PUBLISHED_RAW = 0.82, 0.33  # MNIST-1D self-supervised notebook (REFERENCES.md)
WIDE_MARGIN = 0.15  # "by a wide margin": probe accuracy points over raw inputs
OVER_RANDOM = 0.05  # points over the same encoder at its random initialization
TIME_LIMIT = 120.0  # seconds: the full lesson's SimCLR pretraining on 2 cores


@LESSONS.register("self-supervised", "SimCLR and an autoencoder on MNIST-1D: linear probes vs raw inputs, a random encoder and 1%-label supervised training")
def lesson(ctx: LessonContext) -> Report:
    """Run the self-supervised lesson."""
    r = Report("self-supervised", "contrastive pretraining learns features a linear classifier can read, from no labels at all")
    epochs = ctx.pick(3, 50)
    model = ctx.pick(
        {"model.name": "mlp", "model.hidden": [64, 32]},
        {"model.name": "cnn", "model.blocks": ["conv(32,k=5,p=2,pool=max(2))", "conv(64,k=3,p=1,pool=max(2))"], "model.hidden": [128]},
    )
    base = {"data.name": "mnist1d", "data.preprocess": "standardize", "data.limit": ctx.pick(800, None), **model,
            "optim.lr": 2e-3, "optim.batch_size": 256, "train.epochs": epochs, "pretrain.knn_k": 20}
    views = ["resized_crop(scale=[0.6,1])", "shift(6)", "noise(0.1)"]
    simclr_cfg = ctx.config(**base, **{"pretrain.method": "simclr(temperature=0.2,proj=[128,64])", "pretrain.views": views})
    arch = "an MLP [64, 32]" if ctx.quick else "a 1-D CNN (conv 32 k5 + pool, conv 64 k3 + pool, fc 128)"
    r.text(f"MNIST-1D ({'800 of ' if ctx.quick else ''}4,000 train / 1,000 test sequences of length 40, standardized). The encoder is {arch} "
           f"without its output layer. SimCLR: views `{', '.join(views)}` made on the device, projection head 128→64, NT-Xent at τ = 0.2 (measured here: probe 0.657 at τ = 0.5 and 40 epochs, 0.725 at τ = 0.2 and 50), "
           f"Adam lr 2e-3, batch 256 (510 negatives per anchor), {epochs} epochs. The autoencoder has the same encoder and an MLP decoder. "
           "Probes: multinomial logistic regression on standardized frozen features (L-BFGS), trained on 1%, 10% or 100% of the "
           "train labels (stratified), scored on the test split; kNN: 20 neighbours, cosine similarity.")

    simclr = ctx.fit(simclr_cfg, label="simclr")
    data = simclr.setup.data
    cfg = simclr.setup.config
    rep = representation_report(simclr.model, data, cfg.model, cfg.seed, 20)
    ae = ctx.fit(ctx.config(**base, **{"pretrain.method": "autoencoder"}), label="autoencoder")
    rep["autoencoder"] = representation_report(ae.model, data, cfg.model, cfg.seed, 20)["pretrained"]

    # supervised from scratch on the very examples the 1% probe sees
    few = label_subset(data.train.y, FRACTIONS[0], cfg.seed)
    subset = dataclasses.replace(data, train=Split(data.train.x[few], data.train.y[few]))
    sup_cfg = ctx.config(**{**base, "data.limit": base["data.limit"], "optim.batch_size": "full", "train.epochs": ctx.pick(50, 300)})
    sup = ctx.fit(sup_cfg, label=f"supervised on {len(few)} labels", data=subset)
    sup_acc = sup.evaluate("test")["accuracy"]
    full_sup = None  # the same network trained end to end on every label: the ceiling the probes are read against
    if not ctx.quick:
        full_sup = ctx.fit(ctx.config(**{**base, "train.epochs": 30}), label="supervised on all labels").evaluate("test")["accuracy"]
    fit_seconds = simclr.trainer.fit_seconds

    probe = {name: rep[name]["linear_probe"] for name in ("pretrained", "random_encoder", "raw_inputs", "autoencoder")}
    top, pct1 = f"{FRACTIONS[-1]:.0%}", f"{FRACTIONS[0]:.0%}"
    s100, raw100, rnd100, ae100 = probe["pretrained"][top], probe["raw_inputs"][top], probe["random_encoder"][top], probe["autoencoder"][top]
    r.claim("a linear probe on SimCLR features beats one on the raw inputs by a wide margin",
            f"probe accuracy with all labels, SimCLR − raw ≥ {WIDE_MARGIN}",
            f"SimCLR {s100:.3f}, raw inputs {raw100:.3f}", s100 - raw100 >= WIDE_MARGIN)
    r.claim("the pretraining, not the architecture, makes the features good",
            f"probe accuracy with all labels, SimCLR − the same encoder at its random init ≥ {OVER_RANDOM}",
            f"SimCLR {s100:.3f}, random encoder {rnd100:.3f}", s100 - rnd100 >= OVER_RANDOM)
    r.claim(f"with {pct1} of the labels, pretraining + a linear probe beats supervised training from scratch",
            f"test accuracy on the same {len(few)} labelled examples: SimCLR probe > the same network trained end to end",
            f"SimCLR probe {probe['pretrained'][pct1]:.3f}, supervised from scratch {sup_acc:.3f}", probe["pretrained"][pct1] > sup_acc)
    r.claim("reconstruction learns weaker features for classification than contrastive views",
            "probe accuracy with all labels: raw inputs < autoencoder < SimCLR",
            f"raw {raw100:.3f}, autoencoder {ae100:.3f}, SimCLR {s100:.3f}", raw100 < ae100 < s100)
    r.claim(f"the published MNIST-1D figures (probe ≈ {PUBLISHED_PROBE:.0%} on SimCLR features, ≈ {PUBLISHED_RAW:.0%} on raw inputs) are reproduced",
            "both measured figures within 0.05 of the published ones",
            f"SimCLR {s100:.3f}, raw {raw100:.3f}" + (" (quick run: small data and 3 epochs)" if ctx.quick else ""),
            abs(s100 - PUBLISHED_PROBE) <= 0.05 and abs(raw100 - PUBLISHED_RAW) <= 0.05)
    if not ctx.quick:
        r.claim("the lesson's SimCLR pretraining is a CPU-minutes job", f"fit time < {TIME_LIMIT:.0f} s on this machine",
                f"{fit_seconds:.1f} s for {epochs} epochs, {simclr.setup.threads} threads", fit_seconds < TIME_LIMIT)

    r.heading("Probes")
    rows = [[name.replace("_", " "), *(probe[name][f"{f:.0%}"] for f in FRACTIONS), rep[name].get("knn", float("nan")), rep[name]["features"]]
            for name in probe]
    rows.append([f"the same network trained end to end on the {pct1} ({len(few)} labels)", sup_acc, "", "", "", ""])
    if full_sup is not None:
        rows.append(["the same network trained end to end on all labels (30 epochs)", "", "", full_sup, "", ""])
    r.table(["features", *(f"probe {f:.0%} labels" for f in FRACTIONS), "kNN (100%)", "dimensions"], rows)

    fig, axes = new_figure(3, 1, (3.6, 3.0))
    h = simclr.history
    epochs_seen = [m["epoch"] for m in h]
    axes[0][0].plot(epochs_seen, [m["train_loss"] for m in h], label="train")
    axes[0][0].plot(epochs_seen, [m["val_loss"] for m in h], label="val")
    axes[0][0].set_xlabel("epoch")
    axes[0][0].set_ylabel("NT-Xent loss")
    axes[0][0].legend(fontsize=7)
    axes[0][1].plot(epochs_seen, [m.get("val_knn_accuracy", float("nan")) for m in h], color="tab:green")
    axes[0][1].set_xlabel("epoch")
    axes[0][1].set_ylabel("val kNN accuracy (k = 20)")
    emb = features(simclr.model.encoder, data.test.x)
    pc = torch.pca_lowrank(emb - emb.mean(0), q=2, center=False)[0].cpu()  # 2-D PCA of the test embedding
    sc = axes[0][2].scatter(pc[:, 0], pc[:, 1], c=data.test.y.cpu(), cmap="tab10", s=4)
    axes[0][2].set_title("SimCLR features of the test set, PCA", fontsize=8)
    fig.colorbar(sc, ax=axes[0][2], fraction=0.046)
    fig.tight_layout()
    r.figure(fig, "self-supervised", "Left: the contrastive loss per epoch. Middle: the kNN accuracy of the features on the validation split (labels never used in training). Right: the test set's features, first two principal components, coloured by class.")
    return r
