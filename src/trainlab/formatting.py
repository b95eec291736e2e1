"""How values are written for people: table numbers, short numbers, and values in config syntax.

A foundation module (standard library only), so every layer can use it: the registry for its spec
strings, the page engine as Jinja filters, the CLI for its tables.

>>> number(0.91234567), number(None), number(float("nan")), number(3)
('0.9123', '-', '-', '3')
>>> sig(0.000123456), sig(1234.5678), sig(2e6), sig(None)
('0.000123', '1235', '2e+06', '—')
>>> value([256, 128]), value(True), value(0.1), value(1e-3, ".3g"), value(None)
('[256,128]', 'true', '0.1', '0.001', 'null')
"""

from __future__ import annotations

import math
from typing import Any


def number(v: Any, digits: int = 4) -> str:
    """A table number: floats with ``digits`` decimals, None and NaN as '-', anything else as text."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def sig(v: Any) -> str:
    """A measurement: 4 significant digits, 3 in scientific notation when tiny or huge; None as '—'."""
    if v is None:
        return "—"
    if isinstance(v, bool) or not isinstance(v, float):
        return str(v)
    if not math.isfinite(v):
        return str(v)  # nan, inf, -inf: a lesson reports a diverged run as it is
    if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
        return f"{v:.3g}"
    return f"{v:.4g}"


def value(v: Any, floats: str = "") -> str:
    """A value as a config override or spec argument writes it: true/false, null, [a,b], numbers.

    Floats are written exactly (so the text parses back to the same value) unless ``floats`` gives
    a format spec such as ``"g"`` or ``".4g"`` for a shorter label.
    """
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(value(x, floats) for x in v) + "]"
    if isinstance(v, float) and floats:
        return format(v, floats)
    return str(v)


def percent(p: float) -> str:
    """A probability as a percentage; one decimal near certainty, so 99.6% does not read as 100%."""
    if 0.995 <= p < 1:
        return f"{math.floor(p * 1000) / 10:.1f}%"  # floor: never round up to 100
    return f"{p:.0%}"


def seconds(s: float, digits: int = 1) -> str:
    """A duration in seconds: ``12.3 s``."""
    return f"{s:.{digits}f} s"
