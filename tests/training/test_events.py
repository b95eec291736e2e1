"""The loop's contract: declared events, refused unknown handlers, typed facts, one callback order."""

from __future__ import annotations

import pytest

from trainlab.build import build, make_trainer, setup
from trainlab.config import load_config
from trainlab.training.callbacks import (
    ORDER,
    EarlyStopping,
    History,
    InitialLoss,
    Interrupt,
    NanGuard,
    Progress,
    RunLock,
    ordered,
)
from trainlab.training.events import EVENTS, Callback, Facts


def test_a_misspelled_handler_fails_when_the_class_is_defined() -> None:
    with pytest.raises(TypeError, match="on_epoch_ends.*epoch_end"):

        class Typo(Callback):
            def on_epoch_ends(self, trainer: object) -> None: ...


def test_a_handler_set_on_an_instance_is_checked_when_given_to_a_trainer() -> None:
    class Plain(Callback):
        pass

    cb = Plain()
    cb.on_batch_ended = lambda trainer: None  # type: ignore[attr-defined]
    s = setup(load_config(None, ["data.name=xor", "model.hidden=[4]", "train.epochs=1", "threads=1"]))
    with pytest.raises(TypeError, match="on_batch_ended"):
        make_trainer(s, [cb])


def test_handlers_are_called_for_every_declared_event_in_order() -> None:
    seen: list[str] = []

    class Spy(Callback):
        def on_fit_start(self, t: object) -> None:
            seen.append("fit_start")

        def on_epoch_start(self, t: object) -> None:
            seen.append("epoch_start")

        def on_batch_end(self, t: object) -> None:
            if "batch_end" not in seen:
                seen.append("batch_end")

        def on_epoch_end(self, t: object) -> None:
            seen.append("epoch_end")

        def on_fit_end(self, t: object) -> None:
            seen.append("fit_end")

    _, trainer = build(
        load_config(None, ["data.name=xor", "model.hidden=[4]", "train.epochs=1", "threads=1"]), callbacks=[Spy()]
    )
    trainer.fit()
    assert seen == [e for e in EVENTS if e != "error"]


def test_callbacks_run_in_the_one_declared_order() -> None:
    class Mine(Callback):
        pass

    s = setup(load_config(None, ["data.name=xor", "model.hidden=[4]", "train.epochs=1", "threads=1"]))
    mixed = [
        Progress(bar=False),
        Interrupt("/tmp", {}),
        Mine(),
        EarlyStopping("val_loss", 2),
        History("/tmp"),
        NanGuard(),
        InitialLoss(None),
        RunLock("/tmp"),
    ]
    names = [type(c).__name__ for c in ordered(mixed)]
    assert names == ["RunLock", "InitialLoss", "NanGuard", "Mine", "History", "EarlyStopping", "Progress", "Interrupt"]
    assert ORDER[0] is RunLock and ORDER[-1] is Interrupt
    assert [type(c).__name__ for c in make_trainer(s, mixed).callbacks] == names


def test_facts_are_typed_and_checkpoints_keep_only_scalars() -> None:
    f = Facts(header="h", run_dir="/r", initial_loss=2.3, warnings=["w"], nan_guard={"step": 3})
    assert f.scalars() == {
        "initial_loss": 2.3,
        "expected_initial_loss": None,
        "interrupted_by": None,
        "restored_epoch": None,
    }
    g = Facts(header="new")
    g.update({"initial_loss": 1.0, "header": "old", "unknown_key": 5})
    assert g.initial_loss == 1.0 and g.header == "new"
