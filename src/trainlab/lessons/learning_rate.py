"""Lesson ``learning-rate``: too small, right, too large; what the range test suggests; schedules.

Plain SGD trains the same MLP at 1e-6 (nothing happens), at a sensible rate, and at a rate so large
that the loss explodes, where the library's NaN/Inf guard (``NanGuard``) stops the run. The LR range
test (``diagnose.lr_find``) proposes a rate from one short sweep, which is then trained; finally the
schedules ``step``, ``cosine`` and ``one_cycle`` are compared with a constant rate.
"""

from __future__ import annotations

from trainlab.build import make_trainer
from trainlab.diagnose.lr_find import LRFindOptions, lr_range_test
from trainlab.lessons import LESSONS
from trainlab.lessons.base import Fitted, LessonContext, Report, is_finite, new_figure, pm, spread
from trainlab.training.callbacks.nan_guard import DIVERGED

TINY, GOOD, HUGE = 1e-6, 0.1, 50.0
PEAK = 0.5  # the schedules' peak rate: large enough that a constant rate stalls on SGD's noise


@LESSONS.register(
    "learning-rate", "1e-6 vs a good rate vs an exploding one (NaN guard), the LR range test, step/cosine/one-cycle"
)
def lesson(ctx: LessonContext) -> Report:
    """Run the learning-rate lesson."""
    r = Report("learning-rate", "the learning rate is the first thing to get right")
    epochs = ctx.pick(8, 6)
    base = {
        "data.name": ctx.pick("digits", "fashion-mnist"),
        "data.limit": ctx.pick(None, 10000),
        "data.val": 0,
        "model.hidden": [128],
        "optim.name": "sgd",
        "optim.batch_size": 64,
        "train.epochs": epochs,
    }
    r.text(
        "An MLP [128] (relu, kaiming-normal) on "
        f"{ctx.pick('digits (1,437 examples)', 'Fashion-MNIST (10,000 examples)')}, "
        f"plain SGD, batch 64, {epochs} epochs, every run watched by the NaN/Inf guard."
    )

    def fit(label: str, **keys: object) -> Fitted:
        return ctx.fit(ctx.config(**{**base, **keys}), label=label)  # the config's NaN guard and initial-loss check

    rates = (TINY, GOOD, HUGE)
    fixed = dict(
        zip(
            rates,
            ctx.fit_many([ctx.config(**{**base, "optim.lr": lr}) for lr in rates], [f"lr {lr:g}" for lr in rates]),
            strict=True,
        )
    )
    first = {
        lr: f.trainer.facts.initial_loss if f.trainer.facts.initial_loss is not None else float("nan")
        for lr, f in fixed.items()
    }
    last = {lr: f.final("train_loss") for lr, f in fixed.items()}
    change = abs(last[TINY] - first[TINY]) / first[TINY]
    r.claim(
        "at lr 1e-6 the loss barely moves",
        f"training loss after {epochs} epochs within 1% of its initial value",
        f"initial {first[TINY]:.4f}, after {epochs} epochs {last[TINY]:.4f} ({change:.2%} change)",
        change < 0.01,
    )
    drop = 1 - last[GOOD] / first[GOOD]
    r.claim(
        f"a sensible rate ({GOOD:g}) learns",
        "training loss falls by more than 50%",
        f"initial {first[GOOD]:.4f}, final {last[GOOD]:.4f} ({drop:.0%} lower)",
        drop > 0.5,
    )
    huge = fixed[HUGE]
    guard = huge.trainer.facts.nan_guard or {}
    r.claim(
        f"a very large rate ({HUGE:g}) makes the loss explode (on to Inf/NaN if left alone); the NaN/Inf guard stops "
        "the run",
        "the run ends with status `diverged` before its last step",
        f"status {huge.trainer.status} at step {huge.trainer.step} of {epochs * huge.trainer.batches_per_epoch}"
        + (f" ({guard.get('what')} at step {guard.get('step')})" if guard else ""),
        huge.trainer.status == DIVERGED and huge.trainer.step < epochs * huge.trainer.batches_per_epoch,
    )

    # the LR range test on a fresh model
    s = ctx.setup(ctx.config(**{**base, "optim.lr": GOOD}))
    rt = lr_range_test(
        s, LRFindOptions(start=1e-6, end=10.0, steps=ctx.pick(60, 100)), make_trainer=make_trainer
    )  # batch 64 from base
    sug = rt.suggestion
    if sug is not None:
        at_sug = fit(f"suggested lr {sug:.3g}", **{"optim.lr": float(sug)})
        acc_sug, acc_good = at_sug.evaluate("test")["accuracy"], fixed[GOOD].evaluate("test")["accuracy"]
        r.claim(
            "the LR range test suggests a working rate from one short sweep",
            f"training at the suggestion reaches test accuracy within 0.03 of lr {GOOD:g}'s (or better)",
            f"suggested {sug:.3g}: test accuracy {acc_sug:.3f} vs {acc_good:.3f} at lr {GOOD:g}",
            acc_sug >= acc_good - 0.03,
        )
    else:
        r.claim(
            "the LR range test suggests a working rate from one short sweep",
            "the test returns a suggestion",
            "no suggestion: the loss never fell below its start during the sweep",
            False,
        )

    # schedules at a large peak rate: annealing removes SGD's noise floor, which a constant rate this large keeps
    seeds = [ctx.seed + k for k in range(ctx.pick(1, 3))]
    sched = {
        "none": "none",
        "step": f"step(step_size={max(1, epochs // 3)},gamma=0.3)",
        "cosine": "cosine",
        "one_cycle": f"one_cycle(max_lr={PEAK:g})",
    }
    runs = [(k, v, sd) for k, v in sched.items() for sd in seeds]
    fitted = ctx.fit_many(
        [ctx.config(**{**base, "optim.lr": PEAK, "optim.schedule": v, "seed": sd}) for _, v, sd in runs],
        [f"schedule {v} seed {sd}" for _, v, sd in runs],
    )
    sruns = {k: [f for (name, _, _), f in zip(runs, fitted, strict=True) if name == k] for k in sched}
    sfits = {k: fs[0] for k, fs in sruns.items()}
    slosses = {k: [f.final("train_loss") for f in fs] for k, fs in sruns.items()}
    sacc = {k: spread([f.evaluate("test")["accuracy"] for f in fs])[0] for k, fs in sruns.items()}
    lower = all(a < c for k in ("step", "cosine") for a, c in zip(slosses[k], slosses["none"], strict=True))
    r.claim(
        "annealing the rate towards the end (step decay, cosine) ends lower than a constant rate",
        f"at a large peak rate ({PEAK:g}, where SGD's noise sets the constant rate's floor), final training loss of "
        "step and of cosine "
        f"below the constant rate's, in each of {len(seeds)} seed(s)",
        ", ".join(f"{k} {pm(v)}" for k, v in slosses.items())
        + (f" (mean ± std over seeds {seeds})" if len(seeds) > 1 else ""),
        lower,
    )

    r.heading("Fixed rates")
    r.table(
        ["lr", "initial loss", "final train loss", "status", "steps", "stopped because"],
        [
            [lr, first[lr], last[lr], f.trainer.status, f.trainer.step, f.trainer.stop_reason[:160] or "—"]
            for lr, f in fixed.items()
        ],
    )
    fig, axes = new_figure(2, 1, (4.6, 3.3))
    for lr, f in fixed.items():
        losses = f.recorder.step_losses()
        axes[0][0].plot(
            range(1, len(losses) + 1), [v if is_finite(v) else float("nan") for v in losses], lw=1, label=f"lr {lr:g}"
        )
    axes[0][0].set_yscale("log")
    axes[0][0].set_xlabel("step")
    axes[0][0].set_ylabel("training loss (per batch)")
    axes[0][0].legend(fontsize=7)
    axes[0][1].plot(rt.lrs, rt.losses, color="0.7", lw=0.8, label="loss per batch")
    axes[0][1].plot(rt.lrs, rt.smoothed, lw=1.5, label="smoothed")
    if sug:
        axes[0][1].axvline(sug, color="C3", ls="--", label=f"suggested {sug:.2g}")
    axes[0][1].set_xscale("log")
    finite = [v for v in rt.smoothed if is_finite(v)]
    if finite:
        axes[0][1].set_ylim(min(finite) * 0.9, min(max(finite), 3 * finite[0]) * 1.05)
    axes[0][1].set_xlabel("learning rate")
    axes[0][1].set_title("LR range test", fontsize=9)
    axes[0][1].legend(fontsize=7)
    r.figure(
        fig,
        "learning-rate",
        "Left: training loss per step at three fixed rates (the diverging run ends where the guard stopped it). "
        "Right: the range test.",
    )
    r.heading("Schedules")
    r.text(
        f"The same MLP at a peak rate of {PEAK:g} with `optim.schedule` set, seeds {seeds}; `step` multiplies the "
        "rate by 0.3 every "
        f"{max(1, epochs // 3)} epoch(s), `cosine` anneals it to 0, `one_cycle` warms up to the same peak rate then "
        "anneals. "
        "The claim is about the end of training at a rate large enough for SGD's noise to matter; while a constant "
        "rate is "
        "still descending, annealing early only slows it. `one_cycle` is shown but not judged: torch's OneCycleLR "
        "also cycles "
        "SGD's momentum between 0.85 and 0.95 (`cycle_momentum`), so plain SGD becomes momentum SGD with a step up to "
        "20× "
        "larger at the same peak rate, a different experiment from annealing one rate."
    )
    r.table(
        ["schedule", "optim.schedule", "final train loss (mean ± std over seeds)", "test accuracy (mean)"],
        [[k, f"`{sched[k]}`", pm(slosses[k]), sacc[k]] for k in sched],
    )
    fig, axes = new_figure(2, 1, (4.2, 3.0))
    for k, f in sfits.items():
        axes[0][0].plot([m["epoch"] for m in f.history], [m["lr"] for m in f.history], marker=".", label=k)
        axes[0][1].plot([m["epoch"] for m in f.history], [m["train_loss"] for m in f.history], marker=".", label=k)
    axes[0][0].set_ylabel("learning rate at epoch end")
    axes[0][1].set_ylabel("training loss")
    for ax in axes[0]:
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7)
    r.figure(
        fig,
        "learning-rate-schedules",
        f"Learning rate and training loss per epoch for each schedule (seed {seeds[0]}).",
    )
    return r
