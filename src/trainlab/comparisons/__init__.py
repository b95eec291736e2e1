"""Comparisons: train every combination of config values (x seeds) and put the runs side by side.

``trainlab.compare(...)`` and ``trainlab.compare_runs(...)`` are the entry points; ``trainlab
compare`` is their command line.
"""

from trainlab.comparisons.core import (
    COMPARE_JSON,
    Comparison,
    Member,
    compare,
    compare_runs,
    format_table,
    load_comparison,
    parse_grid,
)
from trainlab.comparisons.options import CompareOptions
from trainlab.comparisons.page import COMPARE_HTML, write_compare_page

__all__ = [
    "COMPARE_HTML",
    "COMPARE_JSON",
    "CompareOptions",
    "Comparison",
    "Member",
    "compare",
    "compare_runs",
    "format_table",
    "load_comparison",
    "parse_grid",
    "write_compare_page",
]
