"""``trainlab runs``: list run directories."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the config module loads YAML: --help needs none of it
    from trainlab.config import ModelConfig


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``runs`` subcommand."""
    p = sub.add_parser(
        "runs",
        help="list runs (name, data, model, status, the answer of each run kind, fit time)",
        description="List run directories under DIR (default runs/).",
    )
    p.add_argument(
        "dir", nargs="*", metavar="DIR", help="parent directory of runs (default: runs; same as output.dir=DIR)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print one line per run."""
    # lazy: the CLI imports only what this command needs, so `trainlab --help` stays fast
    from trainlab.cli.common import keys_apart, merged
    from trainlab.cli.headline import headline, is_imbalanced
    from trainlab.errors import ConfigError, TrainlabError
    from trainlab.runs import list_runs

    given, keys = keys_apart(args.dir, "runs", ("output.dir",))
    if len(given) > 1:
        raise ConfigError(f"trainlab runs takes one DIR, got {len(given)}: {' '.join(given)}")
    args.dir = merged(given[0] if given else None, keys, "output.dir", "DIR") or "runs"
    unreadable: list[tuple[Path, str]] = []
    runs = list_runs(args.dir, unreadable)
    if not runs and not unreadable:
        print(f"no runs in {args.dir}")
        return 0
    rows = [("run", "data", "model", "status", "answer", "fit s")]
    listed = [(r.path, r) for r in runs] + [(path, None) for path, _ in unreadable]
    for path, r in sorted(listed, key=lambda item: item[0].name):
        if r is None:  # one bad run is listed as such; it does not hide the others
            rows.append((path.name, "-", "-", "unreadable", "-", "-"))
            continue
        s = r.summary
        fit = s.get("fit_seconds")
        try:
            data = r.config.spec("data.name").name
            _model(r.config.model)
        except TrainlabError as exc:
            unreadable.append((path, f"{path}: {exc}"))
            rows.append((path.name, "-", "-", "unreadable", "-", "-"))
            continue
        rows.append(
            (
                r.name,
                data,
                _model(r.config.model),
                str(s.get("status", "?")),
                headline(s, is_imbalanced(r.config), short=True),
                f"{fit:.1f}" if isinstance(fit, (int, float)) else "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    for _, why in unreadable:
        print(f"unreadable: {why}")
    return 0


def _model(m: ModelConfig) -> str:
    """The model column: ``mlp [256]``, ``cnn``, or a baseline's spec (``baseline svc(C=10)``)."""
    spec = m.spec("name")
    if spec.name == "baseline" and spec.args:  # a scikit-learn baseline run (trainlab baselines)
        return f"baseline {spec.args[0]}"
    return f"{spec.name} {m.hidden if spec.name == 'mlp' else ''}".strip()
