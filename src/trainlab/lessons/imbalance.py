"""Lesson ``imbalance``: what goes wrong when classes are imbalanced, and how each fix does.

A long-tailed training split (``data.imbalance=exp(ratio=100)`` on Fashion-MNIST: 5,400 examples of
class 0 down to 54 of class 9; validation and test stay balanced) is learned with plain
cross-entropy and with each fix the library has: effective-number re-weighting, class-balanced
sampling, class-balanced focal loss, LDAM with deferred re-weighting, the logit-adjusted loss and
post hoc logit adjustment, over several seeds. Every method is judged by balanced accuracy
(``training.metrics.class_report``). A 2-D toy (``blobs(weights=[0.95,0.05])``) shows the decision
boundary moving toward the minority class, and re-weighting moving it back.
"""

from __future__ import annotations

import statistics
from typing import Any

import torch

from trainlab.lessons import LESSONS
from trainlab.lessons.base import Fitted, LessonContext, Report, new_figure
from trainlab.nn.losses import logit_adjustment
from trainlab.training.metrics import class_report, confusion_matrix, predictions

GAIN = 0.01  # a fix "raises balanced accuracy" when its mean over seeds is at least this much higher
TAIL = 3  # the head and the tail: the 3 largest and the 3 smallest classes


def _methods(epochs: int) -> dict[str, dict[str, Any]]:
    """Each fix as config keys (LDAM's re-weighting starts two epochs before the end, as DRW defers it)."""
    return {
        "re-weighted CE": {"loss.name": "cross_entropy(weights=effective(beta=0.9999))"},
        "balanced sampler": {"data.sampler": "balanced"},
        "class-balanced focal": {"loss.name": "focal(gamma=2,alpha=effective(beta=0.9999))"},
        "LDAM-DRW": {"loss.name": f"ldam(drw_epoch={max(epochs - 2, 0)})"},
        "logit-adjusted loss": {"loss.name": "logit_adjusted(tau=1)"},
    }


def _scores(fit: Fitted, offset: torch.Tensor | None = None) -> dict[str, Any]:
    """Test accuracy, balanced accuracy, per-class recall, and the accuracy on a test set drawn like the train set."""
    d = fit.setup.data
    out = fit.trainer.outputs(d.test.x)
    if offset is not None:  # post hoc logit adjustment, exactly what eval.logit_adjust adds
        out = out + offset.to(out.device)
    cm = confusion_matrix(predictions(out), d.test.y, d.num_classes).cpu()
    rep = class_report(cm, d.classes)
    recall = [rep["per_class"][c]["recall"] for c in d.classes]
    prior = torch.bincount(d.train.y, minlength=d.num_classes).double().cpu()
    prior = (prior / prior.sum()).tolist()
    return {
        "accuracy": (cm.diagonal().sum() / cm.sum()).item(),
        "balanced": rep["balanced_accuracy"],
        "macro_f1": rep["macro_f1"],
        "recall": recall,
        "lt_accuracy": sum(p * r for p, r in zip(prior, recall, strict=True)),
    }


def _boundary(fit: Fitted) -> float:
    """Where the boundary crosses the segment between the classes' test means (0: the majority's, 1: the minority's)."""
    d = fit.setup.data
    m0, m1 = d.test.x[d.test.y == 0].mean(0), d.test.x[d.test.y == 1].mean(0)
    t = torch.linspace(0, 1, 1001, device=m0.device)[:, None]
    out = fit.trainer.outputs(m0 + t * (m1 - m0))
    minority = (out[:, 1] > out[:, 0]).nonzero()
    return t[minority[0, 0], 0].item() if len(minority) else 1.0


def _ms(values: list[float]) -> str:
    return f"{statistics.fmean(values):.3f} ± {statistics.stdev(values):.3f}" if len(values) > 1 else f"{values[0]:.3f}"


@LESSONS.register(
    "imbalance",
    "long-tailed Fashion-MNIST: CE vs re-weighting, resampling, focal, LDAM-DRW, logit adjustment; balanced accuracy",
)
def lesson(ctx: LessonContext) -> Report:
    """Run the imbalance lesson."""
    r = Report(
        "imbalance", "on imbalanced data accuracy hides the tail; re-balancing the loss or the sampling recovers it"
    )
    name, ratio = ctx.pick("digits", "fashion-mnist"), ctx.pick(10, 100)
    epochs, seeds = ctx.pick(12, 6), ctx.pick(1, 3)
    common = {
        "data.name": name,
        "model.hidden": [ctx.pick(64, 256)],
        "optim.batch_size": ctx.pick(64, 128),
        "train.epochs": epochs,
    }
    lt = {**common, "data.imbalance": f"exp(ratio={ratio})"}
    methods = _methods(epochs)
    scores: dict[str, list[dict[str, Any]]] = {k: [] for k in ["cross-entropy", *methods, "post hoc adjustment"]}
    balanced_ref: list[dict[str, Any]] = []
    counts: list[int] = []
    # every run of every seed in one call: those that differ only in seed and loss train stacked
    runs = [
        (k, ctx.seed + i, keys)
        for i in range(seeds)
        for k, keys in (
            ("balanced data", common),
            ("cross-entropy", lt),
            *((k, {**lt, **m}) for k, m in methods.items()),
        )
    ]
    fitted = ctx.fit_many(
        [ctx.config(**keys, seed=seed) for _, seed, keys in runs], [f"{k}, seed {seed}" for k, seed, _ in runs]
    )
    for (k, _, _), fit in zip(runs, fitted, strict=True):
        if k == "balanced data":
            balanced_ref.append(_scores(fit))
            continue
        scores[k].append(_scores(fit))
        if k == "cross-entropy":
            train_counts = torch.bincount(fit.setup.data.train.y, minlength=fit.setup.data.num_classes).cpu()
            counts = train_counts.tolist()
            scores["post hoc adjustment"].append(_scores(fit, logit_adjustment(train_counts, 1.0)))

    def mean(k: str, key: str) -> float:
        return statistics.fmean(s[key] for s in scores[k])

    def recall(rows: list[dict[str, Any]], classes: slice) -> float:
        return statistics.fmean(statistics.fmean(s["recall"][classes]) for s in rows)

    head, tail = slice(0, TAIL), slice(-TAIL, None)
    lost_head = recall(balanced_ref, head) - recall(scores["cross-entropy"], head)
    lost_tail = recall(balanced_ref, tail) - recall(scores["cross-entropy"], tail)
    r.claim(
        "plain cross-entropy keeps the head classes and loses the tail",
        f"against the same model trained on the balanced data: mean recall of the {TAIL} smallest classes falls by ≥ "
        f"0.05, and by ≥ 3× the fall of the {TAIL} largest",
        f"recall change vs balanced training: tail {-lost_tail:+.3f}, head {-lost_head:+.3f} (mean over {seeds} "
        f"seed{'s' * (seeds > 1)})",
        lost_tail >= 0.05 and lost_tail >= 3 * max(lost_head, 0.0),
    )
    lt_acc, bal = mean("cross-entropy", "lt_accuracy"), mean("cross-entropy", "balanced")
    r.claim(
        "accuracy alone hides it",
        "plain CE's accuracy on a test set drawn like the training data (Σ_c π_c recall_c) exceeds its balanced "
        "accuracy by ≥ 0.03",
        f"long-tailed accuracy {lt_acc:.3f}, balanced accuracy {bal:.3f}",
        lt_acc >= bal + 0.03,
    )
    for k in [*methods, "post hoc adjustment"]:
        gain = [s["balanced"] - c["balanced"] for s, c in zip(scores[k], scores["cross-entropy"], strict=True)]
        r.claim(
            f"{k} raises balanced accuracy over plain cross-entropy",
            f"mean gain over {seeds} seed{'s' * (seeds > 1)} ≥ {GAIN}",
            f"{_ms([s['balanced'] for s in scores[k]])} vs CE {_ms([s['balanced'] for s in scores['cross-entropy']])} "
            f"(gain {statistics.fmean(gain):+.3f})",
            statistics.fmean(gain) >= GAIN,
        )
    order = {
        k: mean(k, "balanced") for k in ("cross-entropy", "class-balanced focal", "LDAM-DRW", "logit-adjusted loss")
    }
    r.claim(
        "the long-tailed CIFAR-10 ordering carries over: CE < class-balanced focal < LDAM-DRW and logit-adjusted loss",
        "mean balanced accuracy strictly in that order (LDAM-DRW and logit-adjusted both above focal)",
        ", ".join(f"{k} {v:.3f}" for k, v in order.items()),
        order["cross-entropy"] < order["class-balanced focal"] < min(order["LDAM-DRW"], order["logit-adjusted loss"]),
    )

    # -- the 2-D toy: where the boundary goes -----------------------------------------------------------
    toy = {
        "data.name": "blobs(size=1000,noise=0.75,weights=[0.95,0.05])",
        "data.val": 0,
        "model.name": "linear",
        "optim.lr": 0.05,
        "optim.batch_size": 64,
        "train.epochs": ctx.pick(15, 30),
    }
    toy_losses = {"cross-entropy": "cross_entropy", "re-weighted CE": "cross_entropy(weights=balanced)"}
    toys = dict(
        zip(
            toy_losses,
            ctx.fit_many(
                [ctx.config(**toy, **{"loss.name": loss}) for loss in toy_losses.values()],
                [f"blobs: {k}" for k in toy_losses],
            ),
            strict=True,
        )
    )
    where = {k: _boundary(f) for k, f in toys.items()}
    r.claim(
        "on a 95:5 toy the decision boundary moves toward the minority class; re-weighting moves it back",
        "along the segment from the majority's mean (0) to the minority's (1): plain CE's boundary at > 0.6, "
        "re-weighted CE's closer to 0.5",
        ", ".join(f"{k} {v:.3f}" for k, v in where.items()),
        where["cross-entropy"] > 0.6 and abs(where["re-weighted CE"] - 0.5) < abs(where["cross-entropy"] - 0.5),
    )

    # -- evidence ----------------------------------------------------------------------------------------
    r.heading("Setup")
    r.text(
        f"Data `{name}` with `data.imbalance=exp(ratio={ratio})`: training class sizes {counts} (class 0 the head; the "
        f"validation and test splits keep their balanced sizes). MLP [{common['model.hidden'][0]}], Adam lr 0.001, "
        "batch "
        f"{common['optim.batch_size']}, {epochs} epochs, seeds {ctx.seed}..{ctx.seed + seeds - 1}. The balanced "
        "reference is the same "
        "model trained without `data.imbalance`. Post hoc adjustment reads the cross-entropy model's logits with "
        "`eval.logit_adjust=1` (z − log π). 'Long-tailed accuracy' is the accuracy a test set drawn like the training "
        "data would show."
    )
    rows = [
        [
            "balanced data (reference)",
            _ms([s["accuracy"] for s in balanced_ref]),
            _ms([s["balanced"] for s in balanced_ref]),
            "—",
            _ms([s["macro_f1"] for s in balanced_ref]),
            _ms([statistics.fmean(s["recall"][tail]) for s in balanced_ref]),
        ]
    ]
    for k, rows_k in scores.items():
        rows.append(
            [
                k,
                _ms([s["accuracy"] for s in rows_k]),
                _ms([s["balanced"] for s in rows_k]),
                _ms([s["lt_accuracy"] for s in rows_k]),
                _ms([s["macro_f1"] for s in rows_k]),
                _ms([statistics.fmean(s["recall"][tail]) for s in rows_k]),
            ]
        )
    r.table(
        [
            "method",
            "test accuracy",
            "balanced accuracy",
            "long-tailed accuracy",
            "macro-F1",
            f"recall of the {TAIL} smallest classes",
        ],
        rows,
    )
    fig, axes = new_figure(1, 1, (7.0, 3.2))
    ax = axes[0][0]
    best = max((k for k in scores if k != "cross-entropy"), key=lambda k: mean(k, "balanced"))
    shown = {"balanced data": balanced_ref, "cross-entropy": scores["cross-entropy"], f"best fix: {best}": scores[best]}
    width = 0.8 / len(shown)
    for j, (k, rows_k) in enumerate(shown.items()):
        rec = [statistics.fmean(s["recall"][c] for s in rows_k) for c in range(len(counts))]
        ax.bar([c + (j - 1) * width for c in range(len(counts))], rec, width, label=k)
    ax.set_xticks(range(len(counts)), [f"{c}\n{n}" for c, n in enumerate(counts)], fontsize=7)
    ax.set_xlabel("class (training examples)")
    ax.set_ylabel("test recall")
    ax.legend(fontsize=7)
    r.figure(
        fig,
        "imbalance-recall",
        "Per-class test recall: trained on balanced data, on the long tail with plain CE, and with the best fix.",
    )
    r.heading("The boundary on a 2-D toy")
    r.text(
        "`blobs(size=1000,noise=0.75,weights=[0.95,0.05])`: 950 training points of class 0, 50 of class 1, a balanced "
        "test "
        "set; a linear model, 2 classes. Minimizing the average loss pays little for misclassifying the few minority "
        "points, "
        "so the boundary moves into the minority's side; `weights=balanced` makes both classes weigh the same."
    )
    fig, axes = new_figure(1, 1, (4.5, 4.0))
    ax = axes[0][0]
    d = toys["cross-entropy"].setup.data
    x, y = d.train.x.cpu(), d.train.y.cpu()
    ax.scatter(x[y == 0, 0], x[y == 0, 1], s=4, c="0.6", label="class 0 (950)")
    ax.scatter(x[y == 1, 0], x[y == 1, 1], s=8, c="tab:red", label="class 1 (50)")
    lo, hi = x.min(0).values, x.max(0).values
    gx, gy = torch.meshgrid(torch.linspace(lo[0], hi[0], 200), torch.linspace(lo[1], hi[1], 200), indexing="xy")
    grid = torch.stack([gx.flatten(), gy.flatten()], 1).to(d.train.x.device)
    for (k, f), color in zip(toys.items(), ("k", "tab:blue"), strict=True):
        out = f.trainer.outputs(grid).cpu()
        ax.contour(gx, gy, (out[:, 1] - out[:, 0]).reshape(gx.shape), levels=[0], colors=color)
        ax.plot([], [], color=color, label=f"{k} boundary ({where[k]:.2f})")
    ax.legend(fontsize=7)
    r.figure(fig, "imbalance-boundary", "Decision boundaries of plain and re-weighted cross-entropy on 95:5 blobs.")
    return r
