"""Queueing many trials says so and how far it got; a Ctrl-C while queueing is one line and leaves the
study loadable, with the trials queued so far, for ``--resume`` to queue the rest (issue 29)."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from trainlab.cli import main
from trainlab.sweeps import queue as queue_module
from trainlab.sweeps.api import build_spec
from trainlab.sweeps.queue import queue
from trainlab.sweeps.storage import make_storage
from trainlab.sweeps.study import load_study

from .test_lose_nothing import SPACE


def test_ctrl_c_while_queueing_is_one_line_and_the_study_stays_loadable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queue_module, "QUEUE_NOTE", 50)
    monkeypatch.setattr(queue_module, "PROGRESS_S", 0.0)  # a progress line per trial: they must show
    calls = {"n": 0}
    enqueue = optuna.Study.enqueue_trial

    def interrupted_at_the_120th(self: optuna.Study, *args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 120:
            raise KeyboardInterrupt
        enqueue(self, *args, **kwargs)

    monkeypatch.setattr(optuna.Study, "enqueue_trial", interrupted_at_the_120th)
    url = f"journal:{tmp_path / 'j.log'}"
    argv = ["sweep", *SPACE, "--sampler", "random", "--trials", "200", "--name", "big", "--storage", url]
    assert main([*argv, "--dir", str(tmp_path)]) == 130
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "queueing 200 trials in the study (one storage write each)..."
    assert err[1].startswith("  queued 1 of 200") and err[119].startswith("  queued 119 of 200")
    assert err[-1].startswith("interrupted while queueing trials; sweep 'big' keeps those queued so far: ")
    assert f"trainlab sweep --resume big --storage URL --dir {tmp_path} queues the rest" in err[-1]
    assert len(err) == 121 and not any("Traceback" in line for line in err)
    monkeypatch.setattr(optuna.Study, "enqueue_trial", enqueue)
    study, spec = load_study("big", make_storage(url))  # loadable: the spec and 119 waiting trials
    assert spec.trials == 200 and len(study.get_trials(deepcopy=False)) == 119
    assert queue(study, spec, spec.trials) == 81  # what --resume does first
    assert {t.state.name for t in study.get_trials(deepcopy=False)} == {"WAITING"} and len(study.trials) == 200


def test_a_few_trials_queue_silently(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study = optuna.create_study(study_name="s", storage=make_storage(f"journal:{tmp_path / 'j.log'}"))
    spec = build_spec(None, SPACE, sampler="random", trials=5)
    assert queue(study, spec, 5) == 5 and capsys.readouterr().err == ""
