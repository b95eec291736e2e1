"""One peer, one case, one timing: run by ``peers.py`` in a fresh subprocess, prints one JSON line.

    python benchmarks/peer_runs.py PEER CASE --epochs 3 --threads 2 [--data-dir D] [--limit N]

Each ``run_<peer>`` loads the data, builds the model, trains, and makes one pass over the test
set; it returns the seconds spent loading (``load``) and training plus testing (``train``), and the
test accuracy (a check that every peer learned the same thing). Import time is measured apart.
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

EVAL_BATCH = 4096  # test passes in large batches, where the peer lets us choose
PEERS: dict[str, Callable[..., dict[str, Any]]] = {}


def peer(name: str) -> Callable:
    """Register ``run_<peer>`` under ``name``."""

    def deco(fn: Callable) -> Callable:
        PEERS[name] = fn
        return fn

    return deco


def _bare(
    case: Any, epochs: int, data_dir: str | None, limit: int | None, validate: bool, train_pass: bool = False
) -> dict[str, Any]:
    import torch
    from recipe import load_data, torch_model

    t0 = time.perf_counter()
    d = load_data(data_dir, limit=limit)
    t1 = time.perf_counter()
    model = torch_model(case)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.functional.cross_entropy
    g = torch.Generator().manual_seed(0)
    n, bs = len(d.y_train), case.batch

    @torch.inference_mode()
    def accuracy(x: torch.Tensor, y: torch.Tensor) -> float:
        model.eval()
        correct = sum(
            (model(x[i : i + EVAL_BATCH]).argmax(1) == y[i : i + EVAL_BATCH]).sum()
            for i in range(0, len(y), EVAL_BATCH)
        )
        model.train()
        return float(correct) / len(y)

    for _ in range(epochs):
        perm = torch.randperm(n, generator=g)
        for i in range(0, n, bs):
            idx = perm[i : i + bs]
            loss = loss_fn(model(d.x_train[idx]), d.y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if validate:
            accuracy(d.x_val, d.y_val)
    acc = accuracy(d.x_test, d.y_test)
    if train_pass:
        accuracy(d.x_train, d.y_train)
    return {"load": t1 - t0, "train": time.perf_counter() - t1, "test_accuracy": acc}


@peer("bare")
def run_bare(case: Any, epochs: int, data_dir: str | None, limit: int | None, **_: Any) -> dict[str, Any]:
    """A bare PyTorch loop: tensors in memory, a permutation per epoch, each batch indexed from it."""
    return _bare(case, epochs, data_dir, limit, validate=False)


@peer("bare-val")
def run_bare_val(case: Any, epochs: int, data_dir: str | None, limit: int | None, **_: Any) -> dict[str, Any]:
    """The bare loop plus a validation pass after every epoch (what trainlab does by default)."""
    return _bare(case, epochs, data_dir, limit, validate=True)


@peer("bare-same")
def run_bare_same(case: Any, epochs: int, data_dir: str | None, limit: int | None, **_: Any) -> dict[str, Any]:
    """The bare loop doing trainlab's evaluation work too: validation each epoch, a final train-set pass."""
    return _bare(case, epochs, data_dir, limit, validate=True, train_pass=True)


def _original(
    case: Any, epochs: int, data_dir: str | None, limit: int | None, evaluate: bool, pil: bool = False
) -> dict[str, Any]:
    import torch
    from recipe import PerExampleImages, load_data, torch_model
    from torch.utils.data import DataLoader, TensorDataset

    t0 = time.perf_counter()
    d = load_data(data_dir, limit=limit)
    if pil:  # torchvision-style data sets keep uint8 images and convert each example when it is drawn
        train_set, test_set = PerExampleImages(d.x_train, d.y_train), PerExampleImages(d.x_test, d.y_test)
    else:
        train_set, test_set = TensorDataset(d.x_train, d.y_train), TensorDataset(d.x_test, d.y_test)
    t1 = time.perf_counter()
    torch.manual_seed(0)
    train_loader = DataLoader(train_set, batch_size=case.batch, shuffle=True, num_workers=1)
    train_eval_loader = DataLoader(train_set, batch_size=case.batch, shuffle=False, num_workers=1)
    test_loader = DataLoader(test_set, batch_size=case.batch, shuffle=False, num_workers=1)
    model = torch_model(case)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    def accuracy(loader: DataLoader) -> float:
        model.eval()
        correct = total = 0
        with torch.no_grad():
            for xb, yb in loader:
                correct += (model(xb).argmax(1) == yb).sum().item()
                total += len(yb)
        model.train()
        return correct / total

    for _ in range(epochs):
        model.train()
        for xb, yb in train_loader:
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
        if evaluate:  # the original recipe prints train and test accuracy after every epoch
            accuracy(train_eval_loader)
            accuracy(test_loader)
    acc = accuracy(test_loader)
    return {"load": t1 - t0, "train": time.perf_counter() - t1, "test_accuracy": acc}


@peer("original")
def run_original(case: Any, epochs: int, data_dir: str | None, limit: int | None, **_: Any) -> dict[str, Any]:
    """The original recipe's loop: DataLoader(shuffle=True, num_workers=1), no per-epoch evaluation."""
    return _original(case, epochs, data_dir, limit, evaluate=False)


@peer("original-eval")
def run_original_eval(case: Any, epochs: int, data_dir: str | None, limit: int | None, **_: Any) -> dict[str, Any]:
    """The original recipe's loop with its train and test evaluation after every epoch."""
    return _original(case, epochs, data_dir, limit, evaluate=True)


@peer("original-pil")
def run_original_pil(case: Any, epochs: int, data_dir: str | None, limit: int | None, **_: Any) -> dict[str, Any]:
    """The original loop over a torchvision-style data set (PIL image + ToTensor per example)."""
    return _original(case, epochs, data_dir, limit, evaluate=False, pil=True)


@peer("original-pil-eval")
def run_original_pil_eval(case: Any, epochs: int, data_dir: str | None, limit: int | None, **_: Any) -> dict[str, Any]:
    """The same with its train and test evaluation after every epoch."""
    return _original(case, epochs, data_dir, limit, evaluate=True, pil=True)


@peer("trainlab")
def run_trainlab(
    case: Any, epochs: int, data_dir: str | None, limit: int | None, threads: int, **_: Any
) -> dict[str, Any]:
    """``trainlab.train(config)`` with its default callbacks and the console Progress on a non-tty stream."""
    return _trainlab(case, epochs, data_dir, limit, threads, report=False)


@peer("trainlab-report")
def run_trainlab_report(
    case: Any, epochs: int, data_dir: str | None, limit: int | None, threads: int, **_: Any
) -> dict[str, Any]:
    """The same, also writing report.html at the end (``output.report=true``, trainlab's default)."""
    return _trainlab(case, epochs, data_dir, limit, threads, report=True)


def _trainlab(
    case: Any, epochs: int, data_dir: str | None, limit: int | None, threads: int, report: bool
) -> dict[str, Any]:
    import io

    from recipe import trainlab_config

    import trainlab
    from trainlab.training.callbacks import Progress

    marks: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as out:
        cfg = trainlab_config(case, epochs, data_dir, out, threads, limit, report)
        t0 = time.perf_counter()
        run = trainlab.train(
            cfg,
            callbacks=[Progress(io.StringIO())],
            on_setup=lambda s, t: marks.setdefault("setup", time.perf_counter()),
        )
        t2 = time.perf_counter()
    return {
        "load": marks["setup"] - t0,
        "train": t2 - marks["setup"],
        "test_accuracy": run.summary["test_accuracy"],
        "threads": run.summary["threads"],
    }


@peer("lightning")
def run_lightning(case: Any, epochs: int, data_dir: str | None, limit: int | None, **_: Any) -> dict[str, Any]:
    """PyTorch Lightning's Trainer (progress bar, logger, checkpointing and model summary off)."""
    import logging

    import lightning as L
    import torch
    from recipe import load_data, torch_model
    from torch.utils.data import DataLoader, TensorDataset

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch_model(case)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)

        def training_step(self, batch: Any, _: int) -> torch.Tensor:
            x, y = batch
            return torch.nn.functional.cross_entropy(self.net(x), y)

        def test_step(self, batch: Any, _: int) -> None:
            x, y = batch
            self.log("acc", (self.net(x).argmax(1) == y).float().mean(), batch_size=len(y))

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.Adam(self.parameters(), lr=1e-3)

    t0 = time.perf_counter()
    d = load_data(data_dir, limit=limit)
    t1 = time.perf_counter()
    torch.manual_seed(0)
    model = Module()
    trainer = L.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        enable_progress_bar=False,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
    )
    trainer.fit(model, DataLoader(TensorDataset(d.x_train, d.y_train), batch_size=case.batch, shuffle=True))
    res = trainer.test(model, DataLoader(TensorDataset(d.x_test, d.y_test), batch_size=EVAL_BATCH), verbose=False)
    return {"load": t1 - t0, "train": time.perf_counter() - t1, "test_accuracy": float(res[0]["acc"])}


@peer("skorch")
def run_skorch(case: Any, epochs: int, data_dir: str | None, limit: int | None, **_: Any) -> dict[str, Any]:
    """skorch's NeuralNetClassifier (no internal validation split: the same training examples)."""
    import torch
    from recipe import load_data, torch_model
    from skorch import NeuralNetClassifier

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch_model(case)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)

    t0 = time.perf_counter()
    d = load_data(data_dir, limit=limit)
    t1 = time.perf_counter()
    torch.manual_seed(0)
    net = NeuralNetClassifier(
        Net,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=1e-3,
        batch_size=case.batch,
        max_epochs=epochs,
        train_split=None,
        iterator_train__shuffle=True,
        iterator_valid__batch_size=EVAL_BATCH,
        verbose=0,
    )
    net.fit(d.x_train.numpy(), d.y_train.numpy())
    acc = float((net.predict(d.x_test.numpy()) == d.y_test.numpy()).mean())
    return {"load": t1 - t0, "train": time.perf_counter() - t1, "test_accuracy": acc}


@peer("keras")
def run_keras(case: Any, epochs: int, data_dir: str | None, limit: int | None, **_: Any) -> dict[str, Any]:
    """Keras 3 on the torch backend: Sequential, compile, fit(shuffle=True), evaluate."""
    os.environ["KERAS_BACKEND"] = "torch"
    import keras
    from recipe import load_data

    t0 = time.perf_counter()
    d = load_data(data_dir, limit=limit)
    x, y = d.x_train.reshape(len(d.x_train), -1).numpy(), d.y_train.numpy()
    xt, yt = d.x_test.reshape(len(d.x_test), -1).numpy(), d.y_test.numpy()
    t1 = time.perf_counter()
    keras.utils.set_random_seed(0)
    layers: list[Any] = [keras.Input((28 * 28,))]
    layers += [keras.layers.Dense(h, activation="relu", kernel_initializer="he_normal") for h in case.hidden]
    layers.append(keras.layers.Dense(10, kernel_initializer="he_normal"))
    model = keras.Sequential(layers)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x, y, batch_size=case.batch, epochs=epochs, shuffle=True, verbose=0)
    _, acc = model.evaluate(xt, yt, batch_size=EVAL_BATCH, verbose=0)
    return {"load": t1 - t0, "train": time.perf_counter() - t1, "test_accuracy": float(acc)}


@peer("floor")
def run_floor(case: Any, epochs: int, data_dir: str | None, limit: int | None, **_: Any) -> dict[str, Any]:
    """The compute floor: the recipe's FLOPs / float32 matmul throughput measured now (no training)."""
    from recipe import load_data, matmul_throughput, recipe_flops

    d = load_data(data_dir, limit=limit)
    flops = recipe_flops(case, epochs, len(d.y_train), len(d.y_test))
    rate = matmul_throughput(case)
    return {"load": 0.0, "train": flops / rate, "flops": flops, "flop_per_s": rate, "test_accuracy": None}


def main(argv: list[str] | None = None) -> int:
    """Run one peer on one case and print its timings as JSON."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("peer", choices=sorted(PEERS))
    p.add_argument("case")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads for the peer (0: the peer's own default: torch's for the others, "
        "trainlab's adaptive one for trainlab)",
    )
    p.add_argument("--data-dir", default=None)
    p.add_argument("--limit", type=int, default=None, help="train on a seeded subset of N examples")
    a = p.parse_args(argv)
    if a.peer.startswith("trainlab"):  # as `trainlab train` does: threads and OpenMP waiting decided before torch loads
        from trainlab import cpu

        cpu.prepare()
    # what OpenMP reads when torch loads next (recipe.load_data imports trainlab later, whose import
    # sets the variable without effect on an OpenMP already loaded)
    policy = os.environ.get("OMP_WAIT_POLICY", "unset")
    import torch
    from recipe import CASES

    if a.threads:
        torch.set_num_threads(a.threads)
    threads = a.threads  # 0: each peer as its users run it (trainlab resolves threads=0 itself)
    case = CASES[a.case]
    epochs = case.epochs or a.epochs
    result = PEERS[a.peer](case, epochs, a.data_dir, a.limit, threads=threads)
    total = result["load"] + result["train"]
    # everything else the process spent before its exit: interpreter start aside, that is imports and set-up
    used = result.pop("threads", None) or torch.get_num_threads()
    result.update(
        peer=a.peer,
        case=a.case,
        epochs=epochs,
        threads=used,
        omp_wait_policy=policy,
        total=total,
        imports=time.perf_counter() - _T0 - total,
    )
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
