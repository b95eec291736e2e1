"""The trainer's full state as a checkpoint payload, and its restoration (for exact resume).

A payload taken after any step holds everything the loop reads: weights, optimizer and schedule
state, every RNG state, callback state, and where the epoch stands (its permutation, the batches
done and the running loss/accuracy sums). Restoring it into a freshly built trainer and calling
``fit`` continues bit for bit as if the run had never stopped (on CPU, same threads).
"""

from __future__ import annotations

import hashlib
import weakref
from typing import Any

import torch
import torch.distributed as dist

from trainlab.errors import CheckpointError, clip
from trainlab.runs.checkpoint import (
    check_optimizer_state,
    rng_state,
    same_structure,
    set_rng_state,
    validate_payload,
)
from trainlab.training.loop import Trainer


def trainer_state(trainer: Trainer, config: dict[str, Any]) -> dict[str, Any]:
    """Everything needed to continue ``trainer`` exactly: weights, optimizer, schedule, RNGs, callbacks, position."""
    payload = {
        "config": config,
        "model": trainer.model.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "schedule": trainer.schedule.state_dict(),
        "rng": rng_state(trainer.generator),
        "epoch": trainer.epoch,
        "step": trainer.step,
        "history": trainer.history,
        "fit_seconds": trainer.elapsed_seconds,  # the fit in progress included: a resume adds to it
        "info": trainer.facts.scalars(),
        "callbacks": {type(c).__name__: c.state_dict() for c in trainer.callbacks},
        "preprocess": trainer.data.preprocess_state,
        "data_fingerprint": data_fingerprint(trainer.data),
        "world_size": world_size(),  # data-parallel processes (a resume may use another number: docs/distributed.md)
    }
    if trainer.sampler is not None:  # data.sampler's generator: the next epochs' draws
        payload["sampler"] = trainer.sampler.state_dict()
    if trainer.perm is not None:  # mid-epoch: the epoch's order, how far it got, and its running sums
        payload["in_epoch"] = {
            "perm": trainer.perm.cpu().clone(),  # a sampler draws on the device
            "position": trainer.position,
            "loss_sum": trainer.loss_sum.detach().cpu().clone(),
            "correct": trainer.correct.detach().cpu().clone(),
            "l1_sum": trainer.l1_sum.detach().cpu().clone(),
            "seen": trainer.seen,
        }
    return payload


def world_size() -> int:
    """How many data-parallel processes train this run (1 without a process group)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def restore_trainer(trainer: Trainer, payload: dict[str, Any], source: str = "checkpoint") -> None:
    """Load a payload from ``trainer_state`` into a freshly built trainer; a mismatch is a CheckpointError.

    Every field is checked first (type, range, and fit to this trainer: the epoch count, the batches
    of an epoch, the training split's size, the optimizer's settings and moment shapes), so a damaged
    or foreign payload is refused before anything is restored, never half-loaded or crashing mid-step.
    """
    validate_payload(
        payload,
        source,
        epochs=trainer.epochs,
        batch_size=trainer.batch_size,
        batches=trainer.batches_per_epoch,
        train_size=len(trainer.data.train),
    )
    check_optimizer_state(payload["optimizer"], trainer.optimizer, source)
    if trainer.sampler is not None and "sampler" in payload:
        mismatch = same_structure(payload["sampler"], trainer.sampler.state_dict(), "sampler")
        if mismatch:  # a generator state of another size or type would fail in set_state
            raise CheckpointError(f"{source}: damaged or foreign checkpoint: {mismatch}")
    saved_data = payload.get("data_fingerprint")
    if saved_data is not None and saved_data != data_fingerprint(trainer.data):
        raise CheckpointError(
            f"{source}: the training data differ from the data this run was trained on;"
            " point data.dir at the original files"
        )
    try:
        trainer.model.load_state_dict(payload["model"])
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = "; ".join(line.strip() for line in first[1:3]) or first[0]
        raise CheckpointError(f"{source}: its weights do not fit the model of this config ({detail})") from None
    mismatch = same_structure(payload["schedule"], trainer.schedule.state_dict(), "schedule")
    if mismatch:  # torch's schedulers take any dict; a wrong one would fail at the next step
        raise CheckpointError(f"{source}: damaged or foreign checkpoint: {mismatch}")
    try:
        trainer.optimizer.load_state_dict(payload["optimizer"])
        trainer.schedule.load_state_dict(payload["schedule"])
    except (ValueError, KeyError, RuntimeError, TypeError, AttributeError, IndexError) as exc:
        raise CheckpointError(
            f"{source}: optimizer or schedule state does not fit this config ({clip(str(exc), 160)})"
        ) from None
    trainer.epoch, trainer.step = int(payload["epoch"]), int(payload["step"])
    trainer.history = list(payload["history"])
    trainer.fit_seconds = payload.get("fit_seconds", 0.0)
    trainer.facts.update(payload.get("info", {}))
    saved = payload.get("callbacks", {})
    for c in trainer.callbacks:
        name = type(c).__name__
        if name in saved:
            try:  # a callback's state is its own format: it checks it (check_state) before taking it
                c.check_state(saved[name], trainer)
                c.load_state_dict(saved[name])
            except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as exc:
                raise CheckpointError(
                    f"{source}: the saved state of {name} does not fit ({clip(str(exc), 120)})"
                ) from None
    in_epoch = payload.get("in_epoch")
    if in_epoch is not None:
        perm = in_epoch["perm"]
        if perm.dtype != torch.long or perm.shape != (len(trainer.data.train),):
            raise CheckpointError(
                f"{source}: saved epoch order covers {perm.numel()} examples, this data has {len(trainer.data.train)}"
            )
        trainer.perm, trainer.position, trainer.seen = perm, int(in_epoch["position"]), int(in_epoch["seen"])
        trainer.loss_sum.copy_(in_epoch["loss_sum"])
        trainer.correct.copy_(in_epoch["correct"])
        if "l1_sum" in in_epoch:  # the L1 penalty's running sum (train_l1)
            trainer.l1_sum.copy_(in_epoch["l1_sum"])
    if trainer.sampler is not None and "sampler" in payload:
        trainer.sampler.load_state_dict(payload["sampler"])
    rng = payload["rng"]
    set_rng_state(rng, trainer.generator)
    # fit_start callbacks may draw random numbers: re-apply the saved streams after them, as a
    # run that never stopped would be at this point
    trainer.resume_rng = lambda: set_rng_state(rng, trainer.generator)


_FINGERPRINTS: dict[int, str] = {}  # id(data set) -> its digest, while it lives


def data_fingerprint(data: Any) -> str:
    """A cheap, stable digest of the training split: shapes, every label and ~64k evenly spaced inputs.

    Computed once per data set (cached here, by the data set's id, while it lives), so checkpoints stay
    cheap; enough to tell that a resumed run would train on other data.
    """
    cached = _FINGERPRINTS.get(id(data))
    if cached is not None:
        return cached
    x, y = data.train.x, data.train.y
    flat = x.reshape(-1)
    sample = flat[:: max(1, flat.numel() // 65536)].detach().cpu().contiguous()
    h = hashlib.sha256(repr((tuple(x.shape), tuple(y.shape), str(x.dtype))).encode())
    h.update(y.detach().cpu().contiguous().numpy().tobytes())
    h.update(sample.numpy().tobytes())
    digest = h.hexdigest()[:32]
    try:  # kept while the data set lives (an id is reused only after its object is gone)
        weakref.finalize(data, _FINGERPRINTS.pop, id(data), None)
        _FINGERPRINTS[id(data)] = digest
    except TypeError:  # an object without weak references: recompute next time
        pass
    return digest
