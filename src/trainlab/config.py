"""The one validated ``Config``: a YAML preset plus dotted ``key=value`` overrides.

Every default is written out in the resolved config saved with each run, so the saved file alone
reproduces the run. Sections are dataclasses; a field's type annotation is its validation rule, and
``metadata`` may add a range (``min``/``max``) or a fixed set of ``choices``.

A catalogue value (``model.act: leaky_relu(0.1)``, ``optim.name``, ...) is marked ``catalogue=KIND``
(the ``trainlab list KIND`` it names an entry of). Validation parses it once into a ``Spec`` (bad
syntax fails at load, naming the key); the field keeps the text the user wrote (it is what
config.yaml holds) and ``cfg.spec("model.act")`` / ``cfg.model.spec("act")`` give the parsed form.
Whether the name exists is checked against the live registries by ``build.check_names``, since
the registries import torch and this module must not.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import functools
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, Union

import yaml

from trainlab.bounded import MAX_CONFIG_BYTES, load_yaml
from trainlab.errors import ConfigError, brief, clip, close_match, unknown
from trainlab.registry import Spec, parse_spec, parse_value
from trainlab.suggest import check_name, list_example, meant_key

_T = TypeVar("_T")  # an options dataclass (build_options)

SEED_MAX = 2**63 - 1  # torch.manual_seed takes a signed 64-bit seed (seeds are also stored in int64 tensors)
# OpenMP aborts (segfault, exit 139) when asked for 100000 threads; no CPU torch runs on has 1024
# cores, and more threads than cores only slows training down
THREADS_MAX = 1024


def _f(default: Any = dataclasses.MISSING, *, help: str = "", factory: Any = None, **rules: Any) -> Any:
    """A config field with a help line and optional ``min``/``max``/``choices`` rules."""
    meta = {"help": help, **rules}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@functools.lru_cache(maxsize=4096)
def _parsed(text: str) -> Spec:
    """``parse_spec`` of a catalogue value, parsed once per distinct text (call sites ask many times)."""
    return parse_spec(text)


class _Section:
    """What every config section offers: its catalogue values as parsed specs."""

    def spec(self, name: str) -> Spec:
        """The parsed ``Spec`` of the catalogue field ``name`` (e.g. ``cfg.model.spec("act").name``)."""
        f = {f.name: f for f in dataclasses.fields(self)}.get(name)  # type: ignore[arg-type]
        if f is None or "catalogue" not in f.metadata:
            raise KeyError(f"{type(self).__name__}.{name} is not a catalogue value")
        return _parsed(getattr(self, name))


@dataclass
class DataConfig(_Section):
    """Which data, how it is split and preprocessed."""

    name: str = _f(
        "fashion-mnist",
        help="data set by name, e.g. fashion-mnist, mnist, digits, spirals(size=500,noise=0.2)",
        catalogue="datasets",
    )
    dir: str | None = _f(None, help="directory holding the IDX files (else $TRAINLAB_DATA, cache, /usr/share/datasets)")
    val: float = _f(
        0.1,
        help="validation split from train: a fraction in (0, 1), or a whole count of examples (>= 1); 0 for none",
        min=0,
    )
    limit: int | None = _f(None, help="use only the first N training examples (after shuffling), for quick runs", min=1)
    preprocess: str = _f(
        "scale", help="preprocessing fitted on train: none, scale, standardize, ...", catalogue="preprocess"
    )
    augment: list = _f(factory=list, help="augmentations applied to training batches, e.g. [shift(2), flip]")
    imbalance: str = _f(
        "none",
        help="long-tailed train split (val/test untouched): none, exp(ratio=100), step(ratio=10,minority=5)",
        catalogue="imbalance",
    )
    resample: str = _f(
        "none",
        help="resample the train split once: none, over (up to the largest class), under (down to the smallest)",
        choices=("none", "over", "under"),
    )
    sampler: str = _f(
        "uniform",
        help="each epoch's order: uniform (shuffle), balanced or sqrt (class-weighted draws on the device)",
        catalogue="data-samplers",
    )
    label_noise: float = _f(
        0.0,
        help="fraction of training labels replaced by a random other class, "
        "after the val split (val/test untouched), seeded; in [0, 1)",
        min=0.0,
        below=1.0,
    )


@dataclass
class ModelConfig(_Section):
    """The network."""

    name: str = _f("mlp", help="model by name: perceptron, linear, mlp, cnn, ...", catalogue="models")
    hidden: list = _f(factory=lambda: [256], help="hidden layer widths of an mlp, e.g. [512,256]")
    act: str = _f("relu", help="activation by name, e.g. relu, tanh, leaky_relu(0.1)", catalogue="activations")
    init: str = _f(
        "kaiming_normal", help="weight init by name, e.g. default, xavier_normal, normal(std=0.01)", catalogue="inits"
    )
    bias_init: str = _f("zeros", help="bias init by name (zeros, constant(0.1), default)", catalogue="bias-inits")
    dropout: float = _f(0.0, help="dropout probability after each hidden activation", min=0.0, max=0.99)
    norm: str = _f("none", help="normalization layer: none, batch, layer, instance, group(groups)", catalogue="norms")
    norm_position: str = _f("before", help="norm before or after each hidden activation", choices=("before", "after"))
    blocks: list = _f(factory=list, help="cnn blocks (see docs/models.md)")
    pretrained: str | None = _f(
        None,
        help="start the encoder (every layer but the output layer) from this run's model.safetensors, "
        "e.g. a pretrain.method run (docs/self-supervised.md)",
    )


@dataclass
class LossConfig(_Section):
    """The objective."""

    name: str = _f(
        "auto",
        help="loss by name; auto = cross_entropy (classes), bce_with_logits (perceptron), mse (regression)",
        catalogue="losses",
    )
    l1: float = _f(0.0, help="L1 penalty strength on weights, added to the loss", min=0.0)


@dataclass
class OptimConfig(_Section):
    """Optimizer, learning rate, batch size and schedule."""

    name: str = _f(
        "adam", help="optimizer by name, e.g. sgd, sgd(momentum=0.9,nesterov=true), adam, adamw", catalogue="optimizers"
    )
    lr: float = _f(1e-3, help="learning rate", min=0.0)
    batch_size: int | str = _f(256, help="examples per step; 'full' for full-batch gradient descent", min=1)
    weight_decay: float = _f(0.0, help="L2 penalty / decoupled weight decay (adamw)", min=0.0)
    schedule: str = _f(
        "none", help="learning-rate schedule by name, e.g. cosine, step(step_size=5)", catalogue="schedules"
    )
    clip_grad: float | None = _f(None, help="clip the global gradient norm to this value", min=0.0)
    warmup: float = _f(
        0.0, help="linear learning-rate warmup over this many epochs, then optim.schedule (0 = none)", min=0.0
    )


@dataclass
class TrainConfig(_Section):
    """The loop."""

    epochs: int = _f(10, help="passes over the training set", min=1)
    patience: int = _f(0, help="early stopping: epochs without val improvement before stopping (0 = off)", min=0)
    monitor: str = _f(
        "val_loss",
        help="metric early stopping watches (falls back to train_loss without a val split)",
        choices=("val_loss", "val_accuracy", "val_mse", "val_mae", "val_r2", "train_loss"),
    )
    min_delta: float = _f(
        0.0, help="early stopping: the smallest change of the monitored metric that counts as an improvement", min=0.0
    )
    restore_best: bool = _f(True, help="early stopping: load the best epoch's weights when training stops")
    checkpoint: bool = _f(True, help="write checkpoint.pt at the end of every epoch")
    checkpoint_every: int = _f(
        0, help="also write checkpoint.pt every N optimizer steps, mid-epoch (0 = epoch ends only)", min=0
    )
    eval_batch_size: int = _f(4096, help="batch size for evaluation passes", min=1)
    nan_guard: bool = _f(
        True,
        help="stop at the first non-finite loss or gradient, name the layer (exit code 3); "
        "warn when the LR looks too high or too low",
    )
    freeze: str = _f(
        "none",
        help="encoder: train only the output layer (a linear probe on the encoder's features, "
        "e.g. with model.pretrained); none: train every layer",
        choices=("none", "encoder"),
    )
    sync_bn: bool = _f(
        False,
        help="data-parallel (--nproc): BatchNorm statistics over the whole global batch, "
        "all-reduced across processes (torch.nn.SyncBatchNorm; CUDA only)",
    )
    precision: str = _f(
        "fp32",
        help="bf16: forward pass and loss under torch.autocast(bfloat16), weights and optimizer stay float32 "
        "(for CUDA GPUs; slower on most CPUs)",
        choices=("fp32", "bf16"),
    )


@dataclass
class PretrainConfig(_Section):
    """Learning without labels (docs/self-supervised.md)."""

    method: str = _f(
        "none",
        help="none (supervised), simclr(temperature=0.5,proj=[128,64]) or "
        "autoencoder: the model without its output layer is the encoder",
        catalogue="pretraining",
    )
    views: list = _f(
        factory=list,
        help="simclr: augmentations making each view, e.g. [resized_crop,noise(0.1)]; "
        "empty = the default family for the data's shape",
    )
    knn_k: int = _f(
        20,
        help="neighbours of the per-epoch kNN monitor (val_knn_accuracy) and of the final kNN probes; 0 = no monitor",
        min=0,
    )


@dataclass
class DiagnosticsConfig(_Section):
    """Per-layer statistics during training (docs/babysitting.md)."""

    every: int = _f(
        0,
        help="record per-layer activation/gradient/update statistics every K steps into stats.csv + plots (0 = off)",
        min=0,
    )
    bins: int = _f(40, help="histogram bins per layer for the activation-histogram plot", min=2, max=1000)


@dataclass
class EvalConfig(_Section):
    """How a trained model's outputs are read at evaluation (docs/imbalance.md)."""

    logit_adjust: float = _f(
        0.0,
        help="post hoc logit adjustment: predict argmax f(x) - tau*log(train class prior) with tau = this (0 = off; "
        "at most 10: Menon et al. use about 1, and a huge tau overflows the logits to NaN)",
        min=0.0,
        max=10.0,
    )


@dataclass
class OutputConfig(_Section):
    """Where runs go."""

    dir: str = _f("runs", help="parent directory of run directories")
    name: str | None = _f(None, help="run name (default: <model>-<data>)")
    report: bool = _f(True, help="write report.html (curves, confusion matrix, mistakes, weights) after training")


@dataclass
class LoggingConfig(_Section):
    """Optional logging to other tools."""

    tensorboard: bool = _f(
        False,
        help="write TensorBoard event files (scalars, weight and activation histograms) "
        "into the run directory; needs trainlab[tensorboard]",
    )
    histogram_every: int = _f(1, help="epochs between TensorBoard histograms of weights and activations", min=1)


@dataclass
class Config(_Section):
    """A whole run, fully resolved."""

    seed: int = _f(0, help="seeds Python, NumPy and torch", min=0, max=SEED_MAX)
    device: str = _f("auto", help="auto, cpu, cuda, cuda:N or mps", choices=None)
    threads: int = _f(
        0,
        help="torch CPU threads (0 = the usable cores of this machine, "
        "decided when a new run starts and written into its config; docs/threads.md)",
        min=0,
        max=THREADS_MAX,
    )
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    diagnostics: DiagnosticsConfig = field(default_factory=DiagnosticsConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (what config.yaml holds)."""
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        """The resolved config as YAML text."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def spec(self, dotted: str) -> Spec:
        """The parsed ``Spec`` of a catalogue value at a dotted key: ``cfg.spec("model.act").name``."""
        section, _, name = dotted.rpartition(".")
        return self.get(section).spec(name) if section else _Section.spec(self, name)

    def get(self, dotted: str) -> Any:
        """Value at a dotted key, e.g. ``cfg.get('optim.lr')``."""
        obj: Any = self
        for part in dotted.split("."):
            obj = getattr(obj, part)
        return obj

    def replace(self, **dotted: Any) -> Config:
        """A copy with dotted overrides applied and validated: ``cfg.replace(**{'optim.lr': 0.1})``."""
        return apply_overrides(self.to_dict(), dotted)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Config:
        """Validate a nested dict into a Config; unknown keys and bad values raise ConfigError."""
        cfg = _build(cls, data or {}, "")
        _check_cross(cfg)
        return cfg


def _check_cross(cfg: Config) -> None:
    """Rules that span one value's type: the string forms that are allowed."""
    if isinstance(cfg.optim.batch_size, str) and cfg.optim.batch_size != "full":
        raise ConfigError(
            f"optim.batch_size={brief(cfg.optim.batch_size)} is not allowed; use a positive integer or 'full'"
        )
    val = cfg.data.val
    if 0 < val < 1 or val == 0:
        pass  # a fraction of the training examples, or no validation split
    elif not float(val).is_integer():
        raise ConfigError(
            f"data.val={brief(val)} is neither a fraction in (0, 1) nor a whole number of examples;"
            f" use e.g. 0.1 (10% of train) or 5000 (examples), or 0 for no validation split"
        )
    if any(not isinstance(h, int) or isinstance(h, bool) or h < 1 for h in cfg.model.hidden):
        raise ConfigError(f"model.hidden={brief(cfg.model.hidden)} must be a list of positive integers, e.g. [256]")


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be a mapping of keys to values, got {brief(data)}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            hint = meant_key(prefix, str(key), data[key], (k for k, _, _ in describe_keys()))
            raise ConfigError(
                f"unknown config key {brief(prefix + str(key))}{hint};"
                f" valid keys here: {', '.join(prefix + n for n in names)}"
            )
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        hint = hints[f.name]
        key = prefix + f.name
        if dataclasses.is_dataclass(hint):
            kwargs[f.name] = _build(hint, data[f.name], key + ".")
        else:
            kwargs[f.name] = _check(key, data[f.name], hint, f.metadata)
    return cls(**kwargs)


def _check(key: str, value: Any, hint: Any, rules: Any) -> Any:
    """Coerce ``value`` to the annotated type or raise a ConfigError naming key, value and type."""
    options = typing.get_args(hint) if typing.get_origin(hint) in (Union, types.UnionType) else (hint,)
    if value is None:
        if type(None) in options:
            return None
        raise ConfigError(f"{key} must not be empty; expected {_type_name(hint)}")
    for opt in options:
        if opt is type(None):
            continue
        ok, coerced = _coerce(value, opt)
        if ok:
            value = coerced
            break
    else:
        wants_list = any(o is list or typing.get_origin(o) is list for o in options)
        fix = list_example(key, value) if wants_list and not isinstance(value, (dict, list)) else ""
        raise ConfigError(f"{key}={brief(value)} has the wrong type; expected {_type_name(hint)}{fix}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "min" in rules and value < rules["min"]:
            raise ConfigError(f"{key}={brief(value)} is out of range; must be >= {rules['min']}")
        if "max" in rules and value > rules["max"]:
            raise ConfigError(f"{key}={brief(value)} is out of range; must be <= {rules['max']}")
        if "below" in rules and value >= rules["below"]:
            raise ConfigError(f"{key}={brief(value)} is out of range; must be < {rules['below']}")
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(f"{key}={brief(value)} must be a finite number")
    if "catalogue" in rules and isinstance(value, str):
        try:  # parsed once here, so bad syntax fails at load; cached for every later .spec()
            spec = _parsed(value)
        except ConfigError as exc:
            raise ConfigError(f"{key}: {exc}") from None
        # the name and its parameter names, from the light table: a typo is one line before torch loads
        check_name(key, rules["catalogue"], spec.name, spec.kwargs, value)
    if rules.get("choices") and value not in rules["choices"]:
        raise ConfigError(
            f"{key}={brief(value)} is not "
            f"allowed{close_match(value if isinstance(value, str) else brief(value), rules['choices'])};"
            f" choose one of: {', '.join(map(str, rules['choices']))}"
        )
    return value


def _coerce(value: Any, typ: Any) -> tuple[bool, Any]:
    if typ is bool:
        return (True, value) if isinstance(value, bool) else (False, None)
    if typ is int:
        if isinstance(value, bool):
            return False, None
        if isinstance(value, int):
            return True, value
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            return True, int(value)
        return False, None
    if typ is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return True, float(value)
        return False, None
    if typ is str:
        if isinstance(value, str):
            return True, value
        if isinstance(value, dict) and len(value) == 1:  # {name: {k: v}} spec form
            return True, str(parse_spec(value))
        return False, None
    if typ is list or typing.get_origin(typ) is list:
        if isinstance(value, (list, tuple)):
            return True, list(value)
        return False, None
    return (True, value) if isinstance(value, typ) else (False, None)


def _type_name(hint: Any) -> str:
    options = typing.get_args(hint) if typing.get_origin(hint) in (Union, types.UnionType) else (hint,)
    names = ["null" if o is type(None) else getattr(o, "__name__", str(o)) for o in options]
    return " or ".join(names)


def build_options(cls: type[_T], kind: str, options: _T | None, keywords: dict[str, Any]) -> _T:
    """An options dataclass (``SweepOptions``, ``CompareOptions``): ``options`` (or the defaults) with
    ``keywords`` replacing its fields; an unknown keyword fails naming the close match and the fields."""
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    for key in keywords:
        if key not in names:
            raise unknown(f"{kind} option", key, names)
    if options is not None and not isinstance(options, cls):
        raise ConfigError(
            f"options={type(options).__name__} must be a {cls.__name__} ({cls.__module__}.{cls.__name__})"
        )
    return dataclasses.replace(options or cls(), **keywords)  # type: ignore[type-var]


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """Turn ``['optim.lr=3e-4', 'model.hidden=[512,256]']`` into ``{'optim.lr': 0.0003, ...}``."""
    out = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"cannot read override {brief(item)}: expected key=value, e.g. optim.lr=3e-4")
        out[key.strip()] = parse_value(raw, clip(key.strip(), 80))
    return out


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file into a dict, with a one-line error on a missing or broken file."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)  # a bound whatever the file is (a device, a huge file)
        text = raw.decode()
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"config file {str(path)!r} is too big (more than {MAX_CONFIG_BYTES:,} bytes); a config is a few KB"
        )
    try:
        data = load_yaml(text, f"config file {str(path)!r}")
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where else ""
        raise ConfigError(f"config file {str(path)!r} is not valid YAML{line}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping of keys, got {type(data).__name__}")
    return data


# the presets: YAML files shipped inside the package, so `--config seed-mlp` works from any folder
PRESETS = Path(__file__).parent / "presets"


def presets() -> dict[str, str]:
    """Each preset's name and its one line of help (the first comment line at the top of its file)."""
    out = {}
    for path in sorted(PRESETS.glob("*.yaml")):
        with path.open(encoding="utf-8") as fh:
            first = fh.readline().strip()
        out[path.stem] = first.lstrip("#").strip() if first.startswith("#") else ""
    return out


def config_path(path: str | Path, use: str = "--config") -> Path:
    """The YAML file ``--config`` names: the file itself when it exists, else the preset it names
    (``seed-mlp``, ``seed-mlp.yaml`` or ``configs/seed-mlp.yaml``), else a one-line error listing the
    presets (its example: ``use NAME``)."""
    given = Path(path)
    if given.exists():
        return given
    name = given.name.removesuffix(".yaml").removesuffix(".yml")
    preset = PRESETS / f"{name}.yaml"
    if (len(given.parts) == 1 or given.parent.name == "configs") and preset.is_file():
        return preset
    names = list(presets())
    meant = difflib.get_close_matches(name[:100], names, n=1, cutoff=0.6)
    hint = f" (did you mean {meant[0]!r}?); try: {use} {meant[0]}" if meant else ""
    raise ConfigError(
        f"config file {str(path)!r} not found{hint}; presets (`trainlab list presets`, in {PRESETS}): "
        f"{', '.join(names)}"
    )


def load_config(path: str | Path | None = None, overrides: list[str] | dict[str, Any] | None = None) -> Config:
    """The validated Config from an optional YAML file (or preset name) and dotted overrides (strings or a dict)."""
    return apply_overrides(read_yaml(config_path(path)) if path is not None else {}, overrides)


def apply_overrides(data: dict[str, Any], overrides: list[str] | dict[str, Any] | None = None) -> Config:
    """Validate ``data`` (a nested dict, not modified) with dotted overrides applied on top."""
    data = copy.deepcopy(data)
    if isinstance(overrides, list):
        overrides = parse_overrides(overrides)
    for key, value in (overrides or {}).items():
        _set_dotted_lenient(data, key, value)
    return Config.from_dict(data)


def _set_dotted_lenient(data: dict[str, Any], key: str, value: Any) -> None:
    """Set a dotted key, creating sections; validation happens in from_dict."""
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            if part in node and node[part] is not None:
                raise ConfigError(f"{brief(key)}: {brief(part)} is a value, not a section")
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value


def flat_keys(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config dict as ``{"optim.lr": 0.001, ...}`` (dotted keys, leaves only)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flat_keys(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def describe_keys() -> list[tuple[str, str, Any]]:
    """(dotted key, help, default) for every config key, for --help and docs."""
    rows = []

    def walk(cls: type, prefix: str) -> None:
        hints = typing.get_type_hints(cls)
        default = cls()
        for f in dataclasses.fields(cls):
            if dataclasses.is_dataclass(hints[f.name]):
                walk(hints[f.name], prefix + f.name + ".")
            else:
                rows.append((prefix + f.name, f.metadata.get("help", ""), getattr(default, f.name)))

    walk(Config, "")
    return rows


def as_config(
    config: Config | dict[str, Any] | str | Path | None, overrides: list[str] | dict[str, Any] | None = None
) -> Config:
    """Accept a Config, a nested dict, a YAML path or None (the built-in defaults), plus overrides."""
    if config is None or isinstance(config, (str, Path)):
        return load_config(config, overrides)
    return apply_overrides(config.to_dict() if isinstance(config, Config) else config, overrides)
