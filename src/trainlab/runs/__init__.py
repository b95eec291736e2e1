"""Run directories: create, write, list, load."""

from trainlab.runs.rundir import Run, create_run_dir, list_runs, load_run

__all__ = ["Run", "create_run_dir", "list_runs", "load_run"]
