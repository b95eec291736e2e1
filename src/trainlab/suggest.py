"""A way out of every typo: what a learner probably meant, as a command-line example that works.

Used by config validation, before anything loads torch: a catalogue name is checked against the
light name table (``trainlab/names.py``), and a mistake gets one line with a close match — across
case (``ReLU`` → ``relu``), the study notes' and other libraries' vocabulary (``he``/``msra`` →
``kaiming_normal``, ``glorot`` → ``xavier_normal``, ``momentum`` → ``sgd(momentum=0.9)``) and spelling
(difflib) — and ``try: KEY=VALUE``, quoted for a POSIX shell, that passes validation when pasted.
Unknown keys get the same: ``epochs=5`` → ``try: train.epochs=5``, ``lr`` → ``optim.lr``,
``optim.momentum=0.9`` → ``try: 'optim.name=sgd(momentum=0.9)'``.
"""

from __future__ import annotations

import difflib
import shlex
from collections.abc import Iterable
from typing import Any

from trainlab.errors import ConfigError, brief
from trainlab.formatting import value as written
from trainlab.names import CATALOGUES
from trainlab.registry import LIVE

# the light table's kinds as their registries name one entry (the words of every other error)
SINGULAR: dict[str, str] = {
    "datasets": "data set",
    "models": "model",
    "activations": "activation",
    "inits": "init",
    "bias-inits": "bias init",
    "norms": "norm",
    "losses": "loss",
    "optimizers": "optimizer",
    "schedules": "schedule",
    "preprocess": "preprocessing",
    "imbalance": "imbalance profile",
    "data-samplers": "data sampler",
    "pretraining": "pretraining method",
}

# other names for catalogue entries: the notes' words, Keras / PyTorch / textbook spellings (lower case)
ALIASES: dict[str, dict[str, str]] = {
    "inits": {
        "he": "kaiming_normal",
        "he_normal": "kaiming_normal",
        "msra": "kaiming_normal",
        "kaiming": "kaiming_normal",
        "he_uniform": "kaiming_uniform",
        "glorot": "xavier_normal",
        "xavier": "xavier_normal",
        "glorot_normal": "xavier_normal",
        "glorot_uniform": "xavier_uniform",
        "gaussian": "normal",
        "random_normal": "normal",
        "random_uniform": "uniform",
        "zero": "zeros",
        "pytorch": "default",
        "torch": "default",
        "lecun": "default",
    },
    "bias-inits": {"zero": "zeros", "pytorch": "default", "torch": "default"},
    "activations": {
        "leakyrelu": "leaky_relu",
        "lrelu": "leaky_relu",
        "leaky": "leaky_relu",
        "swish": "silu",
        "linear": "identity",
        "none": "identity",
        "logistic": "sigmoid",
        "sigmoidal": "sigmoid",
    },
    "optimizers": {
        "momentum": "sgd(momentum=0.9)",
        "sgd_momentum": "sgd(momentum=0.9)",
        "nesterov": "sgd(momentum=0.9,nesterov=true)",
        "gradient_descent": "gd",
        "full_batch": "gd",
        "batch_gd": "gd",
        "minibatch_sgd": "sgd",
        "adam_w": "adamw",
    },
    "losses": {
        "ce": "cross_entropy",
        "crossentropy": "cross_entropy",
        "categorical_crossentropy": "cross_entropy",
        "softmax": "cross_entropy",
        "log_loss": "cross_entropy",
        "weighted_cross_entropy": "cross_entropy(weights=balanced)",
        "bce_logits": "bce_with_logits",
        "binary_crossentropy": "bce",
        "l2": "mse",
        "l1": "mae",
        "smooth_l1": "huber",
    },
    "norms": {
        "bn": "batch",
        "batchnorm": "batch",
        "batch_norm": "batch",
        "ln": "layer",
        "layernorm": "layer",
        "layer_norm": "layer",
        "in": "instance",
        "instancenorm": "instance",
        "instance_norm": "instance",
        "gn": "group",
        "groupnorm": "group",
        "group_norm": "group",
        "off": "none",
    },
    "models": {
        "softmax_regression": "linear",
        "logistic_regression": "linear",
        "softmax": "linear",
        "fc": "mlp",
        "dense": "mlp",
        "conv": "cnn",
        "convnet": "cnn",
    },
    "datasets": {
        "fashion_mnist": "fashion-mnist",
        "fashionmnist": "fashion-mnist",
        "fmnist": "fashion-mnist",
        "mnist_1d": "mnist1d",
        "mnist-1d": "mnist1d",
    },
    "preprocess": {
        "normalize": "standardize",
        "zscore": "standardize",
        "standardise": "standardize",
        "minmax": "scale",
        "whiten": "pca_whiten",
        "whitening": "pca_whiten",
        "mean_subtraction": "mean_image",
        "center": "mean_image",
    },
    "schedules": {
        "cosine_annealing": "cosine",
        "cosineannealing": "cosine",
        "steplr": "step",
        "reduce_on_plateau": "plateau",
        "reducelronplateau": "plateau",
        "onecycle": "one_cycle",
    },
}

# config values that are not catalogue entries but mean something (loss.name=auto, pretrain.method=none, ...)
SPECIAL: dict[str, tuple[str, ...]] = {"losses": ("auto",), "pretraining": ("none",), "models": ("baseline",)}

# key names a learner types, by their last part, and where they live
KEY_ALIASES: dict[str, str] = {
    "lr": "optim.lr",
    "learning_rate": "optim.lr",
    "epochs": "train.epochs",
    "epoch": "train.epochs",
    "n_epochs": "train.epochs",
    "max_epochs": "train.epochs",
    "batch_size": "optim.batch_size",
    "batch": "optim.batch_size",
    "bs": "optim.batch_size",
    "optimizer": "optim.name",
    "optim": "optim.name",
    "loss": "loss.name",
    "criterion": "loss.name",
    "dataset": "data.name",
    "data": "data.name",
    "model": "model.name",
    "activation": "model.act",
    "act": "model.act",
    "init": "model.init",
    "initialization": "model.init",
    "weight_init": "model.init",
    "hidden": "model.hidden",
    "hidden_sizes": "model.hidden",
    "layers": "model.hidden",
    "dropout": "model.dropout",
    "norm": "model.norm",
    "normalization": "model.norm",
    "wd": "optim.weight_decay",
    "weight_decay": "optim.weight_decay",
    "l2": "optim.weight_decay",
    "l1": "loss.l1",
    "scheduler": "optim.schedule",
    "schedule": "optim.schedule",
    "lr_schedule": "optim.schedule",
    "warmup": "optim.warmup",
    "patience": "train.patience",
    "early_stopping": "train.patience",
    "preprocess": "data.preprocess",
    "preprocessing": "data.preprocess",
    "augment": "data.augment",
    "augmentation": "data.augment",
    "val": "data.val",
    "validation": "data.val",
    "limit": "data.limit",
    "clip_grad": "optim.clip_grad",
    "gradient_clipping": "optim.clip_grad",
    "precision": "train.precision",
}
# optimizer parameters typed as keys: they belong inside optim.name's spec
SPEC_PARAMS: dict[str, tuple[str, str]] = {
    "momentum": ("optim.name", "sgd"),
    "nesterov": ("optim.name", "sgd"),
    "dampening": ("optim.name", "sgd"),
    "beta1": ("optim.name", "adam"),
    "beta2": ("optim.name", "adam"),
    "eps": ("optim.name", "adam"),
    "alpha": ("optim.name", "rmsprop"),
    "label_smoothing": ("loss.name", "cross_entropy"),
    "smoothing": ("loss.name", "cross_entropy"),
    "gamma": ("loss.name", "focal"),
}


def example(key: str, value: Any) -> str:
    """``key=value`` in the command line's syntax, quoted for a POSIX shell when it needs quotes."""
    return shlex.quote(f"{key}={written(value)}")


def _close(word: str, choices: Iterable[str]) -> str | None:
    """The choice equal up to case, separators and hyphens, else the closest spelling, else None."""
    choices = list(choices)
    squash = {c.lower().replace("-", "").replace("_", ""): c for c in choices}
    found = squash.get(word.lower().replace("-", "").replace("_", ""))
    if found is not None:
        return found
    close = difflib.get_close_matches(word.lower()[:100], choices, n=1, cutoff=0.6)
    return close[0] if close else None


def meant_name(kind: str, name: str) -> tuple[str, str] | None:
    """What ``name`` probably meant in catalogue ``kind``: (the working value, why), or None."""
    entries = [row[0] for row in CATALOGUES.get(kind, ())]
    alias = ALIASES.get(kind, {}).get(name.lower())
    if alias is not None:
        return alias, f"'{name}' is called {alias!r} here"
    found = _close(name, entries)
    if found is not None:
        return found, f"did you mean {found!r}?"
    return None


def check_name(key: str, kind: str, name: str, kwargs: Iterable[str], text: str) -> None:
    """Refuse a catalogue value whose name or inline parameter names are not in the light table.

    One line: the key, what is wrong, a close match and ``try: KEY=VALUE`` where one is found, and the
    valid choices. Positional arguments and parameter values are left to the registry (``build.check_names``).
    """
    table = {row[0]: row[1] for row in CATALOGUES.get(kind, ())}
    if not table or name in SPECIAL.get(kind, ()):
        return
    singular = SINGULAR.get(kind, kind)
    live = LIVE.get(singular)
    if name not in table and live is not None and name in live.names():
        return  # registered at run time (a plugin, a test): its parameters are bound by the registry
    if name not in table:
        meant = meant_name(kind, name)
        hint = f" ({meant[1]}); try: {example(key, meant[0])}" if meant else ""
        raise ConfigError(f"{key}: unknown {singular} {brief(name)}{hint}; choose one of: {', '.join(sorted(table))}")
    params = table[name]
    for given in kwargs:
        if given not in params:
            found = _close(given, params)
            fixed = text.replace(f"{given}=", f"{found}=", 1) if found else None
            hint = f" (did you mean {found!r}?); try: {example(key, fixed)}" if fixed else ""
            valid = ", ".join(params) if params else "none"
            raise ConfigError(
                f"{key}: {singular} {name!r} has no parameter {brief(given)}{hint}; its parameters: {valid}"
            )


def meant_key(prefix: str, key: str, value: Any, keys: Iterable[str]) -> str:
    """The hint for an unknown config key ``prefix + key``: ' (did you mean X?); try: X=VALUE', or ''."""
    full = prefix + key
    leaves = list(keys)
    # the sections too (``train``, ``optim``): a misspelt section is as likely as a misspelt key
    keys = sorted({*leaves, *(k.rsplit(".", 1)[0] for k in leaves if "." in k)})
    leaf = key.lower()
    if leaf in SPEC_PARAMS and not isinstance(value, dict):
        where, entry = SPEC_PARAMS[leaf]
        param = "label_smoothing" if leaf == "smoothing" else "momentum=0.9,nesterov" if leaf == "nesterov" else leaf
        spec = f"{entry}({param}={written(value)})"
        return f" ({leaf} is a parameter inside {where}'s spec); try: {example(where, spec)}"
    target = KEY_ALIASES.get(leaf)
    if target is None:
        by_leaf = [k for k in keys if k.rsplit(".", 1)[-1] == leaf]
        target = by_leaf[0] if len(by_leaf) == 1 else None
    if target is None:
        here = [k for k in keys if k.startswith(prefix) and "." not in k[len(prefix) :]]
        found = _close(full, here) or _close(full, keys)
        target = found
    if target is None or target == full:
        return ""
    if isinstance(value, dict):
        return f" (did you mean {target!r}?)"
    return f" (did you mean {target!r}?); try: {example(target, value)}"


def list_example(key: str, value: Any) -> str:
    """For a list key given a bare ``512,256`` or ``64``: '; try: KEY=[512,256]', else ''."""
    parts = str(value).replace(" ", "").strip("()").split(",")
    if all(p.strip().lstrip("-").isdigit() for p in parts if p) and any(parts):
        return f"; try: {example(key, [int(p) for p in parts if p])}"
    return ""


__all__ = ["ALIASES", "KEY_ALIASES", "check_name", "example", "list_example", "meant_key", "meant_name"]
