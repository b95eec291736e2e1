"""Lessons with their runs stacked (the default) against every run alone (``--no-stack``).

    PYTHONPATH=src .venv/bin/python benchmarks/lessons.py imbalance learning-rate --rounds 2
    PYTHONPATH=src .venv/bin/python benchmarks/lessons.py init --quick --rounds 3

Each round runs every lesson once stacked and once alone, in an order alternating from round to
round, each in a fresh process (``trainlab lesson NAME -q --out TMP``), so data caches and thread
pools never carry over. Reported per lesson: the medians of the lesson's own time (the report's
"measured in"), the ratio alone / stacked, the report's "Runs:" line, and whether the two reports
reach the same verdicts (the numbers agree within float tolerance, not bit for bit:
docs/lessons.md, "Stacked runs").
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from machine import header


def run(name: str, stack: bool, quick: bool, out: Path) -> tuple[float, list[str], str]:
    """One lesson in a fresh process: its own time, its verdicts in order, its Runs line."""
    cmd = [
        sys.executable,
        "-m",
        "trainlab",
        "lesson",
        name,
        "-q",
        "--out",
        str(out),
        *(["--quick"] if quick else []),
        *([] if stack else ["--no-stack"]),
    ]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    md = (out / "report.md").read_text()
    seconds = float(re.search(r"measured in ([0-9.]+) s", md).group(1))  # type: ignore[union-attr]
    verdicts = re.findall(r"\| (holds|does not hold) \|$", md, flags=re.M)
    plan = re.search(r" Runs: (.*?)\. Re-run:", md)
    return seconds, verdicts, plan.group(1) if plan else ""


def main() -> None:
    """Time each lesson stacked and alone over interleaved rounds; print a Markdown table."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("lessons", nargs="+", help="lesson names (trainlab lesson list)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument(
        "--quick", action="store_true", help="the lessons' --quick form (tiny data: stacking has little to win there)"
    )
    a = p.parse_args()
    print(header())
    print(f"command: python benchmarks/lessons.py {' '.join(sys.argv[1:])}\n")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.lessons:
            times: dict[bool, list[float]] = {True: [], False: []}
            verdicts: dict[bool, list[str]] = {}
            plan = ""
            for r in range(a.rounds):
                for stack in (True, False) if r % 2 == 0 else (False, True):
                    seconds, verdicts[stack], line = run(name, stack, a.quick, Path(tmp) / f"{name}-{stack}-{r}")
                    times[stack].append(seconds)
                    plan = line if stack else plan
                    print(f"  {name} {'stacked' if stack else 'alone'} round {r + 1}: {seconds:.1f} s", flush=True)
            on, off = statistics.median(times[True]), statistics.median(times[False])
            same = "same" if verdicts[True] == verdicts[False] else f"differ: {verdicts[True]} vs {verdicts[False]}"
            rows.append((name, on, off, off / on, same, plan))
    print("\n| lesson | stacked s | alone s | alone / stacked | verdicts | runs (stacked form) |")
    print("|---|---|---|---|---|---|")
    for name, on, off, ratio, same, plan in rows:
        print(f"| `{name}`{' --quick' if a.quick else ''} | {on:.1f} | {off:.1f} | {ratio:.2f}x | {same} | {plan} |")


if __name__ == "__main__":
    main()
