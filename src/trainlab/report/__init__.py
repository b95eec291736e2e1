"""Reports: plots (matplotlib, Agg) and self-contained HTML pages drawn from run directories."""

from trainlab.report import views  # noqa: F401  (fills runs.rundir.VIEWS: run.plot() and friends)
from trainlab.report.run_report import REPORT, report_at_end, write_run_report

__all__ = ["REPORT", "report_at_end", "write_run_report"]
