"""Where a study lives: storage URLs, opening SQLite, PostgreSQL or a journal file with heartbeats,
and the few Optuna internals the sweep loop needs (the study's storage, a trial's id, the atomic pop).

Any process that can open the storage can join the sweep: the spec, the trials, their values and
attributes all live there. Popping a waiting trial is atomic in the storage (row locks in PostgreSQL,
``BEGIN IMMEDIATE`` in SQLite: ``serialize_sqlite``, one winner per journal update), so a trial
never runs twice.

Optuna has no public way to reach a study's storage, a trial's storage id or the queue's pop
(``Study.ask`` creates a fresh trial when the queue is empty, which would make the trial count
inexact); ``study_storage``, ``trial_id`` and ``pop_waiting_trial_id`` are the one place that uses
the private attributes, so an Optuna upgrade that renames them breaks here and nowhere else.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from trainlab.errors import ConfigError, clip
from trainlab.sweeps.journal import check_journal, journal_path
from trainlab.sweeps.strategies import optuna_module as _optuna

HEARTBEAT = 5.0  # seconds between heartbeats of a running trial
GRACE = 30.0  # a running trial without a heartbeat for this long belongs to a dead worker
JOURNAL = "journal:"  # --storage journal:PATH: Optuna's journal file, for machines sharing only a filesystem
_JOURNAL_BEAT = "_trainlab_heartbeat"  # attribute of a journal storage made here: (interval, grace, retry callback)


def sqlite_url(sweep_dir: Path) -> str:
    """The default storage: an SQLite file inside the sweep's directory."""
    return f"sqlite:///{(sweep_dir / 'study.db').resolve()}"


def mask_url(url: str) -> str:
    """The storage URL without its password, for printing and for sweep.yaml."""
    # optional: Optuna comes with pip install 'trainlab[sweep]'
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy understands: show it as given
        return url


def make_storage(url: str, heartbeat: float = HEARTBEAT, grace: float | None = None, write: bool = True) -> Any:
    """An Optuna storage with heartbeats for dead-worker detection: RDB (SQLite, PostgreSQL) or a
    journal file (``journal:PATH``); a dead worker's trial is retried once with the same parameters.

    A journal is checked first (``journal.check_journal``): a torn last line is cut off, other damage
    is one line. ``write=False``: only reading (a report), so the file need not be writable."""
    optuna = _optuna()
    grace_s = max(2, round(grace if grace is not None else max(GRACE, 4 * heartbeat)))
    # Optuna 4.9 renamed RetryFailedTrialCallback (deprecated, same behavior) to RetryHeartbeatStaleTrialCallback
    retry_class = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)
    retry = (retry_class or optuna.storages.RetryFailedTrialCallback)(max_retry=1)
    if url.startswith(JOURNAL):
        path = journal_path(url, JOURNAL)
        lock = optuna.storages.journal.JournalFileSymlinkLock(str(path))
        check_journal(path, lock, write)  # a torn last line cut off, any other damage one line
        try:
            backend = optuna.storages.journal.JournalFileBackend(str(path), lock)
            store = optuna.storages.JournalStorage(backend)
        except (OSError, ValueError) as exc:  # what the check above did not foresee: still one line
            raise ConfigError(f"cannot open storage {url!r}: {clip(str(exc).splitlines()[0], 160)}") from None
        setattr(store, _JOURNAL_BEAT, (max(1, round(heartbeat)), grace_s, retry))  # read by journal_heartbeat
        return store
    if url.startswith(("postgresql://", "postgres://")):  # the driver trainlab[sweep] installs
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    engine: dict[str, Any] = {}
    if url.startswith("sqlite"):
        engine = {"connect_args": {"timeout": 60}}  # local workers share the file: wait on its lock
    else:
        engine = {"pool_pre_ping": True}
    # Optuna 4.9 renamed failed_trial_callback (deprecated) to heartbeat_stale_trial_callback
    params = inspect.signature(optuna.storages.RDBStorage).parameters
    key = "heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback" in params else "failed_trial_callback"
    try:
        store = optuna.storages.RDBStorage(
            url,
            engine_kwargs=engine,
            heartbeat_interval=max(1, round(heartbeat)),
            grace_period=grace_s,
            **{key: retry},
        )
    except ImportError as exc:
        raise ConfigError(
            f"storage {mask_url(url)!r} needs a database driver ({exc}); for PostgreSQL: pip install 'trainlab[sweep]'"
        ) from None
    except Exception as exc:  # sqlalchemy: bad URL, server down, wrong password
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"cannot open storage {mask_url(url)!r}: {first}") from None
    if url.startswith("sqlite"):
        serialize_sqlite(store.engine)
    return store


def serialize_sqlite(engine: Any) -> None:
    """Make every SQLite transaction take the write lock when it begins (``BEGIN IMMEDIATE``).

    Optuna pops a waiting trial by reading its state and writing RUNNING under ``SELECT ... FOR
    UPDATE``, which SQLite ignores: by default pysqlite begins a transaction only at the first write,
    so two local workers could both read WAITING and both run the same trial (the second then fails
    telling it: ``UpdateFinishedTrialError``). Locking at BEGIN makes each read-then-write atomic
    between processes; the cost is that transactions on the file run one at a time, which a
    handful of local workers never notice. The recipe is SQLAlchemy's (SQLite dialect docs,
    "Serializable isolation")."""
    # optional: SQLAlchemy comes with Optuna (pip install 'trainlab[sweep]')
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _no_implicit_begin(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # pysqlite must not emit its own deferred BEGIN

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections opened while Optuna set up the schema predate the listeners


def journal_heartbeat(storage: Any) -> tuple[int, int, Any] | None:
    """(interval, grace, retry callback) of a journal storage made by ``make_storage``, else None
    (an RDB storage keeps its own heartbeat settings)."""
    return getattr(storage, _JOURNAL_BEAT, None)


# -- Optuna internals without a public equivalent: used here only ---------------------------------
def study_storage(study: Any) -> Any:
    """The storage a study reads and writes (``Study`` keeps it private as ``_storage``)."""
    return study._storage


def trial_id(trial: Any) -> int:
    """A trial's id in its storage (``Trial`` and ``FrozenTrial`` keep it private as ``_trial_id``;
    the storage's heartbeat and state calls take it, not the trial number)."""
    return trial._trial_id


def pop_waiting_trial_id(study: Any) -> int | None:
    """Atomically mark a waiting trial RUNNING and return its id (``None`` when none waits).

    ``Study.ask()`` would create a fresh trial when another worker took the last waiting one;
    popping directly keeps the trial count exact. ``_pop_waiting_trial_id`` is what ``ask()`` itself uses."""
    return study._pop_waiting_trial_id()
