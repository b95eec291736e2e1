"""Reports: plots (matplotlib, Agg) and self-contained HTML pages drawn from run directories."""

from trainlab.report.run_report import REPORT, build_report, report_at_end

__all__ = ["REPORT", "build_report", "report_at_end"]
