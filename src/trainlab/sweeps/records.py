"""What the trials' records say: why a trial did not complete, which failed trials were replaced,
how the trials trained (stacked in which batches, one by one and why), and who hears of each.

Workers record a ``reason`` with every pruned or failed trial, a ``worker`` (``host:pid``), and how
the trial trained: ``stacked`` (its batch's size) or ``alone`` (why it trained on its own).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

OnTrial = Callable[[Any], None]


def worker_id() -> str:
    """This process as a trial's ``worker`` attribute records it: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def trial_reason(trial: Any) -> str:
    """Why a trial did not complete ('' if it did). Workers record a reason with every pruned or
    failed trial; a failed trial without one was failed by ``fail_stale_trials``: its worker died."""
    if trial.state.name in ("COMPLETE", "RUNNING", "WAITING"):
        return ""
    reason = trial.user_attrs.get("reason") or trial.system_attrs.get("fail_reason")
    if reason:
        return str(reason)
    if trial.state.name == "FAIL":
        return f"worker {trial.user_attrs.get('worker', '?')} stopped: no heartbeat (died or killed)"
    return ""


def replaced_numbers(trials: list[Any]) -> set[int]:
    """Failed trials that run again elsewhere (interrupted ones, and dead workers' retried ones): not counted."""
    out = {t.number for t in trials if t.state.name == "FAIL" and t.user_attrs.get("replaced")}
    for t in trials:
        out.update(t.system_attrs.get("retry_history", []))  # set by Optuna's retry callback
    return out


def trained_line(trials: list[Any]) -> str:
    """How a sweep's trials trained, from their attributes: how many stacked, in which batches, and
    how many one by one and why (trials run again elsewhere after an interruption are left out)."""
    replaced = replaced_numbers(trials)
    done = [t for t in trials if t.number not in replaced and t.state.is_finished()]
    sizes: dict[int, int] = {}
    alone: dict[str, int] = {}
    unknown = 0
    for t in done:
        if "stacked" in t.user_attrs:
            sizes[int(t.user_attrs["stacked"])] = sizes.get(int(t.user_attrs["stacked"]), 0) + 1
        elif "alone" in t.user_attrs:
            alone[str(t.user_attrs["alone"])] = alone.get(str(t.user_attrs["alone"]), 0) + 1
        else:
            unknown += 1
    parts = []
    if sizes:
        batches = {k: max(1, round(n / k)) for k, n in sorted(sizes.items(), reverse=True)}
        total = sum(batches.values())
        each = ", ".join(f"{b} of {k}" for k, b in batches.items())
        shape = f" of {next(iter(batches))}" if len(batches) == 1 else f" ({each})"
        parts.append(f"{sum(sizes.values())} trials stacked in {total} batch{'es' if total > 1 else ''}{shape}")
    if alone:
        n = sum(alone.values())
        by_count = sorted(alone.items(), key=lambda kv: -kv[1])
        whys = "; ".join(why + (f" ({k})" if len(alone) > 1 else "") for why, k in by_count)
        parts.append(f"{n} {'trial' if n == 1 else 'trials'} one by one: {whys}")
    if unknown:
        parts.append(
            f"{unknown} without a record (stopped before training, or run by a trainlab that did not record it)"
        )
    return "; ".join(parts) or "no trial trained yet"


def report_new(study: Any, seen: set[int], on_trial: OnTrial | None) -> None:
    """Call ``on_trial`` once for each trial that finished since the last call (in trial order)."""
    for t in study.get_trials(deepcopy=False):
        if t.state.is_finished() and t.number not in seen:
            seen.add(t.number)
            if on_trial is not None:
                on_trial(t)
