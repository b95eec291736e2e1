"""Classical baselines as runs: scikit-learn estimators by name, fitted on a network run's data.

(The module is ``classical`` so that ``trainlab.baselines``, the function, is never shadowed by it.)

``trainlab.baselines("svc,knn", overrides=["data.name=digits"])`` loads the data exactly as a
network run does (``build.load_data``: the ``data.*`` keys, the seeded split, preprocessing fitted
on train; through a ``DataCache`` so every baseline of a call shares one load), flattens the inputs
to NumPy, fits each estimator and writes an ordinary run directory: ``config.yaml`` (the resolved
config with ``model.name: baseline(<spec>)``), ``summary.json`` (``kind: baseline``, status,
test/train accuracy, confusion matrix, per-class accuracy, fit seconds, the estimator's parameters,
versions, data facts), ``report.npz`` and ``report.html``. So ``runs``, ``show``, ``compare`` and
``report`` treat baselines and networks alike.

A scikit-learn ``fit`` cannot be interrupted from inside, so fits run in a spawned worker process
(one per call, the arrays memory-mapped from .npy files): Ctrl-C or SIGTERM terminates the worker, the run's summary
says ``interrupted`` and the
remaining baselines are not started. Fitted estimators are not saved (scikit-learn models are
pickles); ``config.yaml`` refits one.
"""

from __future__ import annotations

import multiprocessing
import shutil
import signal
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainlab.build import default_threads, load_data, seed_everything
from trainlab.config import Config, as_config
from trainlab.data.dataset import Dataset
from trainlab.data.memo import DataCache
from trainlab.errors import ConfigError
from trainlab.nn.models import gigabytes, memory_limit
from trainlab.registry import Registry, parse_spec, split_top
from trainlab.report import write_run_report
from trainlab.report.evidence import EVIDENCE, Evidence
from trainlab.runs.rundir import Run
from trainlab.runs.summary import Summary, versions
from trainlab.session import RunSession, now
from trainlab.training.callbacks.notebook import Lines, wants_progress
from trainlab.training.metrics import class_report, confusion_matrix, per_class_accuracy

BASELINES = Registry("baseline")
KIND = "baseline"  # summary.json's "kind" of a baseline run
ALLOWED_KEYS = ("seed", "threads", "data.", "output.")  # the config keys that mean something to a baseline
TICK = 0.5  # seconds between progress ticks while a fit runs


# Each factory takes the context (n_jobs, seed, classes) and the user's inline parameters (those with
# defaults); the defaults are scikit-learn's unless the Fashion-MNIST benchmark's best setting differs.
@BASELINES.register("logistic_regression", "multinomial logistic regression (lbfgs), L2 strength 1/C")
def _logistic(n_jobs: int, seed: int, classes: int, C: float = 1.0, max_iter: int = 200) -> Any:
    from sklearn.linear_model import (
        LogisticRegression,  # lazy: each estimator loads its module when used
    )

    return LogisticRegression(C=C, max_iter=max_iter, random_state=seed)


@BASELINES.register("linear_svm", "linear support vector machine (liblinear, one-vs-rest)")
def _linear_svm(n_jobs: int, seed: int, classes: int, C: float = 1.0, max_iter: int = 1000) -> Any:
    from sklearn.svm import LinearSVC  # lazy: each estimator loads its module when used

    return LinearSVC(C=C, max_iter=max_iter, random_state=seed)


@BASELINES.register(
    "svc", "kernel support vector machine; the benchmark's best: C=10, rbf (slow: O(n^2) memory and time)"
)
def _svc(
    n_jobs: int, seed: int, classes: int, C: float = 10.0, kernel: str = "rbf", gamma: Any = "scale", degree: int = 3
) -> Any:
    from sklearn.svm import SVC  # lazy: each estimator loads its module when used

    return SVC(C=C, kernel=kernel, gamma=gamma, degree=degree, random_state=seed, cache_size=1000)


@BASELINES.register("knn", "k-nearest neighbours (k neighbours, Minkowski p, uniform or distance weights)")
def _knn(n_jobs: int, seed: int, classes: int, k: int = 5, p: int = 2, weights: str = "uniform") -> Any:
    from sklearn.neighbors import (
        KNeighborsClassifier,  # lazy: each estimator loads its module when used
    )

    return KNeighborsClassifier(n_neighbors=k, p=p, weights=weights, n_jobs=n_jobs)


@BASELINES.register("decision_tree", "one decision tree (criterion gini or entropy, max_depth none = grow fully)")
def _tree(n_jobs: int, seed: int, classes: int, max_depth: int | None = None, criterion: str = "gini") -> Any:
    from sklearn.tree import (
        DecisionTreeClassifier,  # lazy: each estimator loads its module when used
    )

    return DecisionTreeClassifier(max_depth=max_depth, criterion=criterion, random_state=seed)


@BASELINES.register("random_forest", "random forest of n_estimators trees, fitted in parallel (threads)")
def _forest(
    n_jobs: int, seed: int, classes: int, n_estimators: int = 100, max_depth: int | None = None, criterion: str = "gini"
) -> Any:
    from sklearn.ensemble import (
        RandomForestClassifier,  # lazy: each estimator loads its module when used
    )

    return RandomForestClassifier(
        n_estimators=n_estimators, max_depth=max_depth, criterion=criterion, n_jobs=n_jobs, random_state=seed
    )


@BASELINES.register(
    "gradient_boosting", "gradient-boosted trees: histogram variant (fast); exact=true for the classic one (slow)"
)
def _boosting(
    n_jobs: int,
    seed: int,
    classes: int,
    max_iter: int = 100,
    learning_rate: float = 0.1,
    max_depth: int | None = None,
    exact: bool = False,
) -> Any:
    # lazy: each estimator loads its module when used
    from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier

    if exact:
        # `max_depth or 3` would fit depth 3 for max_depth=0: only an absent (None) depth takes the default
        _at_least_1("gradient_boosting", "max_depth", max_depth, "absent: depth 3 with exact=true, unlimited without")
        return GradientBoostingClassifier(
            n_estimators=max_iter,
            learning_rate=learning_rate,
            max_depth=3 if max_depth is None else max_depth,
            random_state=seed,
        )
    return HistGradientBoostingClassifier(
        max_iter=max_iter, learning_rate=learning_rate, max_depth=max_depth, early_stopping=False, random_state=seed
    )


@BASELINES.register("gaussian_nb", "Gaussian naive Bayes (one Gaussian per class and feature)")
def _nb(n_jobs: int, seed: int, classes: int, var_smoothing: float = 1e-9) -> Any:
    from sklearn.naive_bayes import GaussianNB  # lazy: each estimator loads its module when used

    return GaussianNB(var_smoothing=var_smoothing)


@BASELINES.register("perceptron", "Rosenblatt's perceptron, one-vs-rest (penalty none, l1, l2)")
def _perceptron(
    n_jobs: int, seed: int, classes: int, penalty: str | None = None, alpha: float = 1e-4, max_iter: int = 1000
) -> Any:
    from sklearn.linear_model import Perceptron  # lazy: each estimator loads its module when used

    return Perceptron(
        penalty=None if penalty in (None, "none") else penalty,
        alpha=alpha,
        max_iter=max_iter,
        n_jobs=n_jobs,
        random_state=seed,
    )


@BASELINES.register("mlp_classifier", "scikit-learn's MLPClassifier (hidden widths, act relu/tanh/logistic, Adam)")
def _mlp(
    n_jobs: int,
    seed: int,
    classes: int,
    hidden: Any = (100,),
    act: str = "relu",
    alpha: float = 1e-4,
    lr: float = 1e-3,
    max_iter: int = 200,
) -> Any:
    from sklearn.neural_network import (
        MLPClassifier,  # lazy: each estimator loads its module when used
    )

    widths = tuple(hidden) if isinstance(hidden, (list, tuple)) else (int(hidden),)
    return MLPClassifier(
        hidden_layer_sizes=widths,
        activation=act,
        alpha=alpha,
        learning_rate_init=lr,
        max_iter=max_iter,
        random_state=seed,
    )


@BASELINES.register(
    "kmeans", "k-means (unsupervised): clusters matched one-to-one to classes on train; also the adjusted Rand index"
)
def _kmeans(n_jobs: int, seed: int, classes: int, k: int | None = None, n_init: int = 3) -> Any:
    from sklearn.cluster import KMeans  # lazy: each estimator loads its module when used

    _at_least_1("kmeans", "k", k, "absent: one cluster per class")  # `k or classes` would fit 10 clusters for k=0
    return KMeans(n_clusters=classes if k is None else k, n_init=n_init, random_state=seed)


def _at_least_1(baseline: str, key: str, value: Any, absent: str) -> None:
    """Refuse an integer setting below 1 that a default would otherwise silently replace (None keeps the default)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(f"baseline {baseline}: {key}={value!r} is out of range; use an integer >= 1 ({absent})")


def canonical(spec: str) -> str:
    """A baseline spec checked against the registry and written canonically: ``svc(C=10,kernel=rbf)``."""
    entry, kwargs = BASELINES.bind(spec)
    est = BASELINES.create(spec, n_jobs=1, seed=0, classes=2)
    try:  # scikit-learn's own check names the parameter and its allowed values: before any data loads
        getattr(est, "_validate_params", lambda: None)()
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"baseline {spec}: {exc}") from None
    return str(
        parse_spec(
            entry.name if not kwargs else f"{entry.name}({','.join(f'{k}={_inline(v)}' for k, v in kwargs.items())})"
        )
    )


def _inline(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(map(str, value)) + "]"
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def split_names(names: str | Sequence[str]) -> list[str]:
    """``"svc(C=10,kernel=rbf),knn"`` → ``["svc(C=10,kernel=rbf)", "knn"]`` (commas inside parentheses stay)."""
    items = [names] if isinstance(names, str) else list(names)
    out = [part.strip() for item in items for part in split_top(item) if part.strip()]
    if not out:
        raise ConfigError(f"give one or more baselines, e.g. svc,knn; choose from: {', '.join(BASELINES.names())}")
    return out


def spec_of(cfg: Config) -> str | None:
    """The baseline spec of a run config (``model.name: baseline(svc)`` → ``svc``), None for a network."""
    s = cfg.spec("model.name")
    return str(s.args[0]) if s.name == "baseline" and s.args else None


def check_overrides(overrides: Sequence[str] | dict[str, Any] | None) -> None:
    """Only the keys a baseline uses may be set: a silently ignored ``optim.lr`` would mislead."""
    keys = list(overrides) if isinstance(overrides, dict) else [o.partition("=")[0].strip() for o in overrides or ()]
    for key in keys:
        if not (key in ALLOWED_KEYS or any(key.startswith(p) for p in ALLOWED_KEYS if p.endswith("."))):
            raise ConfigError(
                f"{key}= does not apply to a scikit-learn baseline; baselines take: seed, threads, data.*, output.* "
                "(estimator settings go inline, e.g. svc(C=10))"
            )


def baseline_config(spec: str, config: Any = None, overrides: Sequence[str] | dict[str, Any] | None = None) -> Config:
    """The resolved run config of one baseline: the base config, the overrides, ``model.name: baseline(spec)``."""
    check_overrides(overrides)
    return as_config(config, overrides).replace(**{"model.name": f"baseline({canonical(spec)})"})


@dataclass
class Arrays:
    """A data set flattened to NumPy for scikit-learn."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray | None
    y_val: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray


def to_arrays(data: Dataset) -> Arrays:
    """Flatten every split to (N, features) float32 and labels to int64 NumPy arrays."""

    def flat(x: torch.Tensor) -> np.ndarray:
        return x.detach().reshape(len(x), -1).cpu().numpy().astype(np.float32, copy=False)

    val = data.val
    return Arrays(
        flat(data.train.x),
        data.train.y.cpu().numpy(),
        flat(val.x) if val else None,
        val.y.cpu().numpy() if val else None,
        flat(data.test.x),
        data.test.y.cpu().numpy(),
    )


def match_clusters(clusters: np.ndarray, labels: np.ndarray, k: int, classes: int) -> np.ndarray:
    """Cluster → class map by the best one-to-one assignment (Hungarian, on the contingency table);
    clusters left over (k > classes) take their most common class."""
    from scipy.optimize import linear_sum_assignment  # lazy: scipy.optimize loads only for k-means

    table = np.zeros((k, classes), dtype=np.int64)
    np.add.at(table, (clusters, labels), 1)
    rows, cols = linear_sum_assignment(-table)
    mapping = table.argmax(axis=1)
    mapping[rows] = cols
    return mapping


def _fit_predict(spec: str, a: Arrays, threads: int, seed: int, classes: int) -> dict[str, Any]:
    """Fit one estimator and predict every split (in the worker process)."""
    from threadpoolctl import threadpool_limits  # lazy: only the worker process needs it

    est = BASELINES.create(spec, n_jobs=threads, seed=seed, classes=classes)
    out: dict[str, Any] = {"estimator": type(est).__name__, "estimator_params": _jsonable(est.get_params())}
    with warnings.catch_warnings(record=True) as caught, threadpool_limits(limits=threads):
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        est.fit(a.x_train, a.y_train)
        out["fit_seconds"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        preds = {
            name: est.predict(x)
            for name, x in (("train", a.x_train), ("val", a.x_val), ("test", a.x_test))
            if x is not None
        }
        out["predict_seconds"] = time.perf_counter() - t0
    if parse_spec(spec).name == "kmeans":
        from sklearn.metrics import (
            adjusted_rand_score,  # lazy: sklearn.metrics loads only for k-means
        )

        out["adjusted_rand_index"] = float(adjusted_rand_score(a.y_test, preds["test"]))
        mapping = match_clusters(preds["train"], a.y_train, int(est.n_clusters), classes)
        preds = {name: mapping[p] for name, p in preds.items()}
    out["predictions"] = preds
    out["warnings"] = sorted({str(w.message).split("\n")[0][:200] for w in caught})
    if hasattr(est, "n_iter_"):
        n = est.n_iter_
        out["n_iter"] = int(np.max(n)) if np.ndim(n) else int(n)
    return out


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v if isinstance(v, (int, float, str, bool, type(None))) else list(v) if isinstance(v, tuple) else str(v)
        for k, v in params.items()
    }


def _serve(conn: Any) -> None:
    """The worker process: fit the jobs it is sent (arrays memory-mapped from .npy files) until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides: it terminates this process on Ctrl-C
    while True:
        job = conn.recv()
        if job is None:
            return
        spec, folder, threads, seed, classes = job
        try:
            conn.send(("ok", _fit_predict(spec, load_arrays(Path(folder)), threads, seed, classes)))
        except Exception as exc:  # noqa: BLE001 - a failed fit goes back to the parent as one message
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


def save_arrays(a: Arrays, folder: Path) -> Path:
    """Write the arrays as .npy files the worker memory-maps (no 200 MB pickle through a pipe)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, value in vars(a).items():
        if value is not None:
            np.save(folder / f"{name}.npy", value)
    return folder


def load_arrays(folder: Path) -> Arrays:
    """Read arrays written by ``save_arrays``, memory-mapped."""

    def get(name: str) -> np.ndarray | None:
        path = folder / f"{name}.npy"
        return np.load(path, mmap_mode="r") if path.is_file() else None

    return Arrays(*(get(n) for n in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")))  # type: ignore[arg-type]


class Worker:
    """One spawned process that fits baselines one after another; terminated (and restarted on the next
    job) when the parent is interrupted. Spawned, not forked: a fork of a process whose torch/BLAS
    thread pools have run deadlocked in kNN's first BLAS call (measured)."""

    def __init__(self) -> None:
        self.proc: Any = None
        self.conn: Any = None

    def fit(
        self,
        spec: str,
        folder: Path,
        threads: int,
        seed: int,
        classes: int,
        on_tick: Callable[[float], None] | None = None,
    ) -> dict[str, Any]:
        """Fit one baseline in the worker; KeyboardInterrupt terminates the worker at once."""
        if self.proc is None or not self.proc.is_alive():
            ctx = multiprocessing.get_context("spawn")
            self.conn, child = ctx.Pipe()
            self.proc = ctx.Process(target=_serve, args=(child,), daemon=True, name="trainlab-baseline")
            self.proc.start()
            child.close()
        t0 = time.perf_counter()
        try:
            self.conn.send((spec, str(folder), threads, seed, classes))
            while not self.conn.poll(TICK):
                if not self.proc.is_alive():
                    raise ConfigError(
                        f"baseline {spec} stopped without a result (worker exit code {self.proc.exitcode}; out of "
                        "memory?)"
                    )
                if on_tick is not None:
                    on_tick(time.perf_counter() - t0)
            kind, payload = self.conn.recv()
        except BaseException:
            self.close(terminate=True)
            raise
        if kind == "error":
            raise ConfigError(f"baseline {spec} failed: {payload}")
        return payload

    def close(self, terminate: bool = False) -> None:
        """Stop the worker: politely, or at once."""
        if self.proc is None:
            return
        try:
            if not terminate and self.proc.is_alive():
                self.conn.send(None)
                self.proc.join(5)
        except (OSError, BrokenPipeError):
            pass
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()
        self.proc = self.conn = None


def _accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    return float((pred == y).mean()) if len(y) else float("nan")


def summarize(result: dict[str, Any], data: Dataset, a: Arrays) -> dict[str, Any]:
    """summary.json's figures of a fitted baseline, computed as a network run's are (training/metrics)."""
    p = result["predictions"]
    out: dict[str, Any] = {
        "test_accuracy": _accuracy(p["test"], a.y_test),
        "train_accuracy": _accuracy(p["train"], a.y_train),
    }
    if "val" in p:
        out["val_accuracy"] = _accuracy(p["val"], a.y_val)
    cm = confusion_matrix(torch.from_numpy(p["test"]), torch.from_numpy(a.y_test), data.num_classes)
    out["confusion_matrix"] = cm.tolist()
    out["per_class_accuracy"] = dict(zip(data.classes, per_class_accuracy(cm).tolist()))
    report = class_report(cm, data.classes)  # the same imbalance-aware figures as a network run's
    for k in ("balanced_accuracy", "macro_f1", "g_mean"):
        out[f"test_{k}"] = report[k]
    out["per_class"] = report["per_class"]
    if "adjusted_rand_index" in result:
        out["adjusted_rand_index"] = result["adjusted_rand_index"]
    return out


@contextmanager
def _cleanup(worker: Worker | None, tmp: Path) -> Iterator[None]:
    """Stop the worker and remove the arrays' folder however the call ends."""
    try:
        yield
    finally:
        if worker is not None:
            worker.close()
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def _sigterm_as_interrupt(enabled: bool) -> Iterator[dict[str, str]]:
    """SIGTERM raises KeyboardInterrupt like Ctrl-C (main thread only); yields which signal came."""
    got = {"signal": "SIGINT"}
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield got
        return

    def handler(signum: int, frame: Any) -> None:
        got["signal"] = signal.Signals(signum).name
        raise KeyboardInterrupt("SIGTERM")  # the CLI exits 143 for it

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield got
    finally:
        signal.signal(signal.SIGTERM, previous)


def baselines(
    names: str | Sequence[str],
    config: Any = None,
    overrides: Sequence[str] | dict[str, Any] | None = None,
    *,
    cache: DataCache | None = None,
    on_start: Callable[[int, int, str, Dataset], None] | None = None,
    on_tick: Callable[[float], None] | None = None,
    on_result: Callable[[int, int, Run], None] | None = None,
    handle_signals: bool = True,
    skip: Callable[[Config], Run | None] | None = None,
    isolate: bool = True,
    progress: bool | str = "auto",
) -> list[Run]:
    """Fit scikit-learn baselines on a run config's data, each as an ordinary run directory.

    ``names``: ``"svc(C=10),knn"`` or a list; ``overrides``: ``seed``, ``threads`` (n_jobs and
    thread-pool limits), ``data.*`` and ``output.*`` only. Every baseline shares one data load
    (``cache``). Ctrl-C / SIGTERM terminates the current fit: its summary says ``interrupted`` and
    KeyboardInterrupt propagates. ``skip(config)`` may return an existing run to reuse instead.
    ``isolate=False`` fits in this process (no worker start-up; Ctrl-C then waits for the fit).
    ``progress`` (``"auto"``, ``True``, ``False``): without ``on_result``, a line per finished
    baseline (one updating output in a notebook, printed lines elsewhere).

    >>> runs = trainlab.baselines("knn,gaussian_nb", overrides=["data.name=digits"])  # doctest: +SKIP
    """
    specs = [canonical(s) for s in split_names(names)]  # every name checked before any data loads
    configs = [baseline_config(s, config, overrides) for s in specs]
    cache = cache or DataCache(1)
    if on_result is None and wants_progress(progress):
        lines = Lines()
        on_result = lambda i, n, run: lines.add(baseline_line(i, n, run))  # noqa: E731
    flat: dict[
        int, tuple[Dataset, Arrays, Path | None]
    ] = {}  # each loaded data set flattened once (kept, so ids stay unique)
    runs: list[Run] = []
    worker = Worker() if isolate else None
    tmp = Path(tempfile.mkdtemp(prefix="trainlab-baselines-"))
    with _sigterm_as_interrupt(handle_signals) as got, _cleanup(worker, tmp):
        for i, (spec, cfg) in enumerate(zip(specs, configs, strict=True), 1):
            reused = skip(cfg) if skip is not None else None
            if reused is not None:
                runs.append(reused)
                if on_result is not None:
                    on_result(i, len(specs), reused)
                continue
            runs.append(_one(spec, cfg, cache, flat, worker, tmp, i, len(specs), on_start, on_tick, got))
            if on_result is not None:
                on_result(i, len(specs), runs[-1])
    return runs


def baseline_line(i: int, n: int, run: Run) -> str:
    """One progress line for a finished baseline."""
    s = run.summary
    acc = s.get("test_accuracy")
    what = f"test accuracy {acc:.4f}" if isinstance(acc, float) else f"status {s.get('status')}"
    return f"[{i}/{n}] {s.get('baseline', run.name)}: {what} (fit {float(s.get('fit_seconds') or 0):.1f} s)"


SKLEARN_FLOAT = 8  # scikit-learn's estimators work in float64
SVC_CACHE = 1000 * 2**20  # _svc's kernel cache (cache_size=1000 MB)
MLP_COPIES = 5  # MLPClassifier with Adam: the weights, their gradients, two moments, the best weights


def baseline_memory(spec: str, n_train: int, features: int, classes: int) -> tuple[int, str]:
    """(bytes, what they are) a baseline's fit is estimated to need where that is simple, (0, '') elsewhere:
    an mlp_classifier's weights (``MLP_COPIES`` float64 copies, one batch of 200 activations), an svc's kernel cache
    and float64 copy of the training data."""
    entry, kwargs = BASELINES.bind(spec)
    if entry.name == "mlp_classifier":
        hidden = kwargs.get("hidden", entry.defaults().get("hidden", (100,)))
        widths = [features, *(hidden if isinstance(hidden, (list, tuple)) else [hidden]), classes]
        if not all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in widths):
            return 0, ""  # the estimator refuses such widths itself
        params = sum((a + 1) * b for a, b in zip(widths, widths[1:]))
        batch = min(200, n_train)  # MLPClassifier's batch_size="auto"
        need = (MLP_COPIES * params + 2 * batch * sum(widths)) * SKLEARN_FLOAT
        arch = "-".join(map(str, widths))
        return need, f"mlp_classifier {arch} has {params:,} weights ({MLP_COPIES} float64 copies with Adam)"
    if entry.name == "svc":
        return SVC_CACHE + n_train * features * SKLEARN_FLOAT, "svc's kernel cache and a float64 copy of the data"
    return 0, ""


def check_baseline_memory(spec: str, n_train: int, features: int, classes: int) -> None:
    """Refuse a baseline whose estimated fit (``baseline_memory``) needs more than the memory available, in one line
    naming the figure and the bound (``TRAINLAB_MAX_MODEL_BYTES`` raises it), before its run directory exists."""
    need, what = baseline_memory(spec, n_train, features, classes)
    limit = memory_limit(None)
    if limit is not None and need > limit:
        raise ConfigError(
            f"baseline {spec} needs about {gigabytes(need)} of memory: {what}; only {gigabytes(limit)} is available"
            " - use smaller settings (e.g. fewer hidden units) or set TRAINLAB_MAX_MODEL_BYTES to raise the bound"
        )


def _one(
    spec: str,
    cfg: Config,
    cache: DataCache,
    flat: dict[int, tuple[Dataset, Arrays, Path | None]],
    worker: Worker | None,
    tmp: Path,
    i: int,
    n: int,
    on_start: Any,
    on_tick: Any,
    got: dict[str, str],
) -> Run:
    started = now()
    threads = cfg.threads or default_threads()
    torch.set_num_threads(threads)
    seed_everything(cfg.seed)
    data = load_data(cfg, torch.device("cpu"), cache)
    if data.task != "classification":
        raise ConfigError(
            f"data.name={cfg.data.name!r} is a {data.task} task; the baselines are classifiers: choose a "
            "classification data set"
        )
    check_baseline_memory(spec, len(data.train), data.num_features, data.num_classes)
    if id(data) not in flat:
        arrays = to_arrays(data)
        flat[id(data)] = (data, arrays, save_arrays(arrays, tmp / str(len(flat))) if worker is not None else None)
    _, a, folder = flat[id(data)]
    header = f"baseline {spec} | data {data.describe()} | threads {threads}"
    name = cfg.output.name or f"{parse_spec(spec).name}-{cfg.spec('data.name').name}"
    # claimed like any run (run.pid while it fits); no signal handling of its own: _sigterm_as_interrupt's
    with RunSession.create(cfg.output.dir, name, handle_signals=False) as session:
        session.begin(Summary(kind=KIND, started=started, header=header, baseline=spec), config=cfg)
        if on_start is not None:
            on_start(i, n, spec, data)
        try:
            if worker is not None and folder is not None:
                result = worker.fit(spec, folder, threads, cfg.seed, data.num_classes, on_tick)
            else:
                result = _fit_predict(spec, a, threads, cfg.seed, data.num_classes)
        except KeyboardInterrupt:
            session.interrupt(error="stopped during the fit", finished=now(), interrupted_by=got["signal"])
            raise
        except BaseException as exc:
            session.fail(str(exc), finished=now())
            raise
        session.finish(
            "completed",
            **summarize(result, data, a),
            fit_seconds=round(result["fit_seconds"], 3),
            eval_seconds=round(result["predict_seconds"], 3),
            estimator=result["estimator"],
            estimator_params=result["estimator_params"],
            **({"n_iter": result["n_iter"]} if "n_iter" in result else {}),
            warnings=result["warnings"],
            device="cpu",
            threads=threads,
            data={
                "name": data.name,
                "train": len(data.train),
                "val": len(data.val) if data.val else 0,
                "test": len(data.test),
                "classes": data.classes,
                "task": data.task,
                "input_shape": list(data.input_shape),
            },
            versions={**versions(), "scikit-learn": _sklearn_version()},
            finished=now(),
        )
        if cfg.output.report:  # after the summary, so a finished run is complete even if drawing fails
            session.draw_report(lambda: _draw(session.run_dir, a, result), reraise=True)
        return session.result(cfg)


def _draw(run_dir: Path, a: Arrays, result: dict[str, Any]) -> float:
    """A baseline's report.npz (test labels and predictions) and report.html; returns the seconds it took."""
    t0 = time.perf_counter()
    ev = Evidence(y_true=a.y_test, y_pred=result["predictions"]["test"])
    ev.save(run_dir / EVIDENCE)
    write_run_report(run_dir, ev)
    return time.perf_counter() - t0


def is_baseline(run: Run) -> bool:
    """Whether a run directory holds a baseline (summary kind, or its config's model.name)."""
    return run.summary.get("kind") == KIND or spec_of(run.config) is not None


__all__ = [
    "BASELINES",
    "baselines",
    "baseline_config",
    "canonical",
    "is_baseline",
    "match_clusters",
    "spec_of",
    "split_names",
]


def _sklearn_version() -> str:
    """scikit-learn's version (the estimators ran in a worker; this process may not have loaded it)."""
    # lazy: importing scikit-learn costs ~0.5 s, so `import trainlab.api` and `trainlab train` skip it
    import sklearn

    return sklearn.__version__
