"""Whether a sweep's trials may train stacked, several at once, and the line that says so.

Where the sweep allows it (``stack_reason``: grid or random sampler, no cv, a space of per-run
values), a worker pops a batch of trials (``queue.batch_size``: at most ``STACK_TRIALS``) and trains
them as one stacked model; ``sweep_plan`` says which before the first trial.
"""

from __future__ import annotations

from trainlab.build import why_alone
from trainlab.registry import parse_spec
from trainlab.sweeps.preset import SweepSpec
from trainlab.training.stacked import StackedEngine

STACK_TRIALS = 8  # trials taken at once and trained as one stacked model (training/stacked.py) where they allow it


def stack_reason(spec: SweepSpec, stack: bool = True) -> str | None:
    """Why this sweep's trials train one by one (``None``: they may train stacked, several at once).

    Stacking needs draws that do not depend on finished trials (grid and random samplers, reseeded
    per trial number; TPE's suggestions would change if asked before the others ended), no
    cross-validation folds, a space of per-member values only (``optim.lr``, ``seed``, ...:
    ``training.stacked.StackedEngine.may_differ``, the optimizer's and loss's names excepted) and a base
    config that can stack at all (``build.why_alone``)."""
    if not stack:
        return "stacking off (--no-stack)"
    if spec.cv:
        return f"--cv {spec.cv} (a trial trains its folds one after another)"
    sampler = parse_spec(spec.sampler).name
    if sampler not in ("grid", "random"):
        return f"the {sampler} sampler (its suggestions depend on the trials already finished; grid and random stack)"
    for key in spec.params():
        if key in ("optim.name", "loss.name"):
            return f"{key} is searched (a stack's members share one optimizer and loss)"
        if not StackedEngine.may_differ(key):
            return (
                f"{key} is searched (a stack's members may differ only in per-run values: "
                "docs/compare.md, Stacked runs)"
            )
    reason = why_alone([spec.base_config()])
    return None if reason is None else f"the base config cannot stack: {reason}"


def stack_batch(spec: SweepSpec, stack: bool) -> int:
    """Most trials a worker takes at once: ``STACK_TRIALS`` where they may train stacked (``stack_reason``), else 1."""
    return 1 if stack_reason(spec, stack) is not None else STACK_TRIALS


def sweep_plan(spec: SweepSpec, stack: bool = True, workers: int = 1, shared: bool = False) -> str:
    """One line saying how this worker (or these ``workers`` local ones) will train the trials:
    stacked in batches and how big, or one by one and why. ``shared``: other workers may join (--storage, --join)."""
    reason = stack_reason(spec, stack)
    if reason is not None:
        return f"trials train one by one: {reason}"
    limit = min(STACK_TRIALS, spec.trials or STACK_TRIALS)
    if limit < 2:
        return "trials train one by one: a single trial"
    line = f"trials train stacked, up to {limit} at once ({', '.join(spec.params())} differ)"
    if workers > 1 or shared:
        if workers > 1:
            count = f"{workers} local workers" + (" plus those seen running trials" if shared else "")
        else:
            count = "the workers seen running trials, plus this one"
        line += f"; each worker takes its fair share, ceil((waiting + running) / workers) trials, counting {count}"
    return line
