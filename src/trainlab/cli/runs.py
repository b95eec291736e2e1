"""``trainlab runs``: list run directories."""

from __future__ import annotations

import argparse

from trainlab.registry import parse_spec  # light: no torch


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``runs`` subcommand."""
    p = sub.add_parser("runs", help="list runs (name, data, model, test accuracy, time)", description="List run directories under DIR (default runs/).")
    p.add_argument("dir", nargs="?", default="runs", help="parent directory of runs (default: runs)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print one line per run."""
    # lazy: the CLI imports only what this command needs, so `trainlab --help` stays fast
    from trainlab.runs import list_runs

    runs = list_runs(args.dir)
    if not runs:
        print(f"no runs in {args.dir}")
        return 0
    rows = [("run", "data", "model", "status", "test acc", "fit s")]
    for r in runs:
        s = r.summary
        acc = s.get("test_accuracy")
        rows.append((
            r.name,
            parse_spec(r.config.data.name).name,
            _model(r.config.model),
            str(s.get("status", "?")),
            f"{acc:.4f}" if isinstance(acc, float) else "-",
            f"{s['fit_seconds']:.1f}" if "fit_seconds" in s else "-",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    return 0


def _model(m: object) -> str:
    """The model column: ``mlp [256]``, ``cnn``, or a baseline's spec (``baseline svc(C=10)``)."""
    spec = parse_spec(m.name)
    if spec.name == "baseline" and spec.args:  # a scikit-learn baseline run (trainlab baselines)
        return f"baseline {spec.args[0]}"
    return f"{spec.name} {m.hidden if spec.name == 'mlp' else ''}".strip()
