"""A local sweep worker process: ``python -m trainlab.sweeps.worker NAME URL DIR INDEX HEARTBEAT GRACE WORKERS STACK``.

``--workers N`` starts N of these as plain subprocesses (not multiprocessing), so a user's script
is never re-imported in the children, whatever its ``__main__`` looks like. Each runs one thread,
prints nothing, and exits 0 when the queue is empty, 130 when interrupted. WORKERS is N: where the
sweep stacks (STACK is ``stack``; ``no-stack`` for ``--no-stack``), each worker pops its fair share
of the trials left (``queue.batch_size``) and trains them as one stacked model.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from trainlab.sweeps.options import SweepOptions
from trainlab.sweeps.run import work
from trainlab.sweeps.storage import make_storage
from trainlab.sweeps.study import load_study


def main(argv: list[str]) -> int:
    """Join the study and work through its queue with one thread."""
    name, url, sweep_dir, index, heartbeat, grace, workers, stack = argv
    if stack not in ("stack", "no-stack"):
        raise SystemExit(f"trainlab.sweeps.worker: STACK must be 'stack' or 'no-stack', not {stack!r}")
    torch.set_num_threads(1)
    options = SweepOptions(
        workers=int(workers),
        heartbeat=float(heartbeat),
        grace=float(grace) if grace != "-" else None,
        stack=stack == "stack",
    )
    storage = make_storage(url, options.heartbeat, options.grace)
    study, spec = load_study(name, storage, worker=int(index))
    try:
        work(study, spec, Path(sweep_dir), options, threads=1)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
