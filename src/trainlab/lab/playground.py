"""Playground mode: a small network on a 2-D or 1-D toy set, every switch in the URL's query string.

``settings`` reads the query (or a posted form) into checked values, each bounded, its names from
``names.CATALOGUES``; ``overrides`` turns them into the ``KEY=VALUE`` overrides of an ordinary run
(``trainlab train ...``), so a link reproduces the set-up and the page shows its command.
"""

from __future__ import annotations

from trainlab.names import CATALOGUES

DATASETS = ("xor", "circles", "moons", "spirals", "blobs", "line", "sine")
# setting -> (default, kind, low, high); kinds: a catalogue's names, a number range
DEFAULTS: dict[str, tuple[str, str, float, float]] = {
    "data": ("xor", "data", 0, 0),
    "act": ("tanh", "activations", 0, 0),
    "init": ("xavier_normal", "inits", 0, 0),
    "optim": ("adam", "optimizers", 0, 0),
    "norm": ("none", "norms", 0, 0),
    "lr": ("0.03", "float", 0.0, 10.0),
    "batch": ("16", "int", 1, 4096),
    "l1": ("0", "float", 0.0, 1.0),
    "l2": ("0", "float", 0.0, 1.0),
    "dropout": ("0", "float", 0.0, 0.9),
    "noise": ("0.1", "float", 0.0, 2.0),
    "depth": ("2", "int", 0, 6),
    "width": ("8", "int", 1, 64),
    "epochs": ("40", "int", 1, 500),
    "seed": ("0", "int", 0, 2**31 - 1),
}
# names a playground offers that need more than a name (maxout is a layer; these take parameters that matter)
_LEFT_OUT = {"activations": {"maxout"}, "inits": {"constant", "zeros"}, "optimizers": {"gd"}, "norms": {"group"}}


def choices() -> dict[str, tuple[str, ...]]:
    """The names each named setting may take."""
    out: dict[str, tuple[str, ...]] = {"data": DATASETS}
    for key, (_, kind, _, _) in DEFAULTS.items():
        if kind in CATALOGUES:
            out[key] = tuple(e[0] for e in CATALOGUES[kind] if e[0] not in _LEFT_OUT.get(kind, ()))
    return out


def settings(query: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The playground's settings from a query string or form (defaults for those missing), and errors by setting."""
    names = choices()
    out: dict[str, str] = {}
    errors: dict[str, str] = {}
    for key, (default, kind, low, high) in DEFAULTS.items():
        value = str(query.get(key, default)).strip()[:40] or default
        if key in names:
            if value not in names[key]:
                errors[key] = f"{key}={value!r} is not one of: {', '.join(names[key])}"
                value = default
        else:
            try:
                number = int(value) if kind == "int" else float(value)
            except ValueError:
                number = None
            if number is None or not low <= number <= high or number != number:
                what = "an integer" if kind == "int" else "a number"
                errors[key] = f"{key}={value!r} must be {what} in [{low:g}, {high:g}]"
                value = default
        out[key] = value
    return out, errors


def overrides(s: dict[str, str]) -> list[str]:
    """The ``KEY=VALUE`` overrides of the run a playground's settings describe."""
    depth, width = int(s["depth"]), int(s["width"])
    return [
        f"data.name={s['data']}(noise={s['noise']})",
        "model.name=mlp",
        f"model.hidden=[{','.join([str(width)] * depth)}]",
        f"model.act={s['act']}",
        f"model.init={s['init']}",
        f"model.norm={s['norm']}",
        f"model.dropout={s['dropout']}",
        f"optim.name={s['optim']}",
        f"optim.lr={s['lr']}",
        f"optim.batch_size={s['batch']}",
        f"optim.weight_decay={s['l2']}",
        f"loss.l1={s['l1']}",
        f"train.epochs={s['epochs']}",
        f"seed={s['seed']}",
        "threads=1",
    ]
