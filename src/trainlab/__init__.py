"""trainlab: neural-network fundamentals as software you run, on PyTorch."""

from trainlab import cpu as _cpu
from trainlab.version import __version__

# Before torch loads its OpenMP runtime: idle OpenMP threads sleep until the first use of the API
# decides (trainlab/cpu.py: spin on an idle machine, sleep beside busy cores; BENCHMARKS.md,
# "Threads"), so torch imported by the user's code in between never spins beside a busy core.
# A value the user set wins.
_cpu.protect()

_PUBLIC = (
    "Config",
    "Run",
    "TrainlabError",
    "baselines",
    "compare",
    "compare_runs",
    "evaluate_run",
    "list_runs",
    "load_config",
    "load_run",
    "notes",
    "reproduce",
    "resume",
    "runs_table",
    "sweep",
    "train",
)


def __getattr__(name: str) -> object:
    """The public API (``trainlab.train``, ...), imported on first use: ``import trainlab.cli`` and
    ``trainlab --help`` do not pay for torch."""
    if name in _PUBLIC:
        _cpu.prepare()  # threads and OpenMP waiting for this process, before the API loads torch
        from trainlab import api  # lazy: torch and the library load on first use of the API

        return getattr(api, name)
    raise AttributeError(f"module 'trainlab' has no attribute {name!r}")


__all__ = ["__version__", *_PUBLIC]
