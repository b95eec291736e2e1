"""A way out of every typo (issue 31): 30+ plausible mistakes of a learner, each refused in one line,
before torch loads, with a `try: KEY=VALUE` that passes validation when pasted."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from trainlab.build import check_names
from trainlab.cli import main
from trainlab.config import load_config

# (what the learner typed, what the suggestion must be)
MISTAKES: list[tuple[str, str]] = [
    ("model.init=he", "model.init=kaiming_normal"),
    ("model.init=msra", "model.init=kaiming_normal"),
    ("model.init=He", "model.init=kaiming_normal"),
    ("model.init=kaiming", "model.init=kaiming_normal"),
    ("model.init=glorot", "model.init=xavier_normal"),
    ("model.init=xavier", "model.init=xavier_normal"),
    ("model.init=glorot_uniform", "model.init=xavier_uniform"),
    ("model.act=ReLU", "model.act=relu"),
    ("model.act=Tanh", "model.act=tanh"),
    ("model.act=LeakyReLU", "model.act=leaky_relu"),
    ("model.act=swish", "model.act=silu"),
    ("model.act=sigmod", "model.act=sigmoid"),
    ("optim.name=Adam", "optim.name=adam"),
    ("optim.name=SGD", "optim.name=sgd"),
    ("optim.name=momentum", "optim.name=sgd(momentum=0.9)"),
    ("optim.name=nesterov", "optim.name=sgd(momentum=0.9,nesterov=true)"),
    ("optim.name=RMSProp", "optim.name=rmsprop"),
    ("optim.name=adam(betas=0.9)", "optim.name=adam(beta2=0.9)"),
    ("loss.name=crossentropy", "loss.name=cross_entropy"),
    ("loss.name=CE", "loss.name=cross_entropy"),
    ("loss.name=bce_logits", "loss.name=bce_with_logits"),
    ("model.norm=batchnorm", "model.norm=batch"),
    ("model.norm=bn", "model.norm=batch"),
    ("model.norm=LayerNorm", "model.norm=layer"),
    ("data.name=fashion_mnist", "data.name=fashion-mnist"),
    ("data.name=MNIST", "data.name=mnist"),
    ("data.preprocess=normalize", "data.preprocess=standardize"),
    ("optim.schedule=cosine_annealing", "optim.schedule=cosine"),
    ("model.name=MLP", "model.name=mlp"),
    ("model.name=softmax_regression", "model.name=linear"),
    ("epochs=5", "train.epochs=5"),
    ("lr=0.01", "optim.lr=0.01"),
    ("learning_rate=0.001", "optim.lr=0.001"),
    ("batch_size=64", "optim.batch_size=64"),
    ("optim.momentum=0.9", "optim.name=sgd(momentum=0.9)"),
    ("model.lr=0.1", "optim.lr=0.1"),
    ("hidden=[64]", "model.hidden=[64]"),
    ("model.hidden=512,256", "model.hidden=[512,256]"),
    ("model.hidden=64", "model.hidden=[64]"),
    ("dropout=0.5", "model.dropout=0.5"),
    ("weight_decay=1e-4", "optim.weight_decay=0.0001"),
    ("model.activation=tanh", "model.act=tanh"),
    ("train.lr=0.1", "optim.lr=0.1"),
]


def suggestion(err: str) -> str:
    """The pasted text after `try:` (one shell word, maybe quoted)."""
    found = re.search(r"try: ('[^']*'|[^;\s]+)", err)
    assert found, err
    (word,) = shlex.split(found.group(1))
    return word


@pytest.mark.parametrize(("typed", "meant"), MISTAKES, ids=[m[0] for m in MISTAKES])
def test_each_mistake_is_one_line_with_a_suggestion_that_works(
    typed: str, meant: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", typed, f"output.dir={tmp_path}", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    fixed = suggestion(err)
    assert fixed == meant, err
    check_names(load_config(None, [fixed]))  # pasted, it passes every check a run makes before data loads
    assert not list(tmp_path.iterdir())


def test_at_least_thirty_mistakes_are_listed() -> None:
    assert len(MISTAKES) >= 30


def test_a_typo_is_reported_before_torch_is_imported() -> None:
    code = (
        "import sys\nfrom trainlab.cli import main\nrc = main(['train', 'model.act=ReLU', 'epochs=3'])\n"
        "print(rc, 'torch' in sys.modules)\n"
    )
    src = str(Path(__file__).resolve().parents[1] / "src")
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": src}, timeout=120
    )
    assert done.stdout.split() == ["2", "False"], done.stdout + done.stderr
