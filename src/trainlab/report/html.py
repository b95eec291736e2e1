"""Self-contained HTML pages: inline CSS, images as ``data:`` URIs, no scripts, no network.

The page follows the browser's light or dark theme (``prefers-color-scheme``); the figures are
drawn to read on both (see plots.py).
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from typing import Any

CSS = """
:root{color-scheme:light dark;--bg:#ffffff;--fg:#1f2328;--muted:#656d76;--card:#f6f8fa;--line:#d0d7de;--accent:9,105,218;--good:#1a7f37;--bad:#cf222e}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#8d96a0;--card:#161b22;--line:#30363d;--accent:88,166,255;--good:#3fb950;--bad:#f85149}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:1180px;margin:0 auto;padding:24px 20px 48px}
h1{font-size:22px;margin:0 0 4px;word-break:break-all}h2{font-size:16px;margin:0 0 12px}
.sub{color:var(--muted);margin:0 0 18px}
.kpis{display:flex;flex-wrap:wrap;gap:12px;margin:0 0 18px}
.kpi{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 16px;min-width:130px}
.kpi b{display:block;font-size:22px;font-variant-numeric:tabular-nums}.kpi span{color:var(--muted);font-size:12px}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:16px 18px;margin:0 0 16px;overflow-x:auto}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(340px,1fr));gap:16px;margin:0 0 16px}
table.facts{margin:0 0 10px}
.grid2>section{margin:0}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
td,th{padding:3px 10px 3px 0;text-align:left;vertical-align:top}th{color:var(--muted);font-weight:600}
table.lines td,table.lines th{border-bottom:1px solid var(--line);padding:4px 12px 4px 0}
td.num,th.num{text-align:right}
pre.cols{columns:4 230px;column-gap:24px}
pre{margin:0;font:12px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;white-space:pre-wrap}
img{max-width:100%;height:auto}
.cm td{text-align:center;min-width:38px;padding:4px 6px;border:1px solid var(--line);font-size:12px}
.cm th{font-size:12px;padding:4px 6px;white-space:nowrap}.cm th.rot{writing-mode:vertical-rl;transform:rotate(180deg);text-align:left;padding:6px 2px}
.bar{height:10px;border-radius:3px;background:rgb(var(--accent))}
.bartrack{width:200px;background:rgba(var(--accent),.12);border-radius:3px}
.mistakes{display:grid;grid-template-columns:repeat(auto-fill,minmax(104px,1fr));gap:10px}
.mistakes figure{margin:0;text-align:center;font-size:11px;line-height:1.3}
.mistakes img{width:84px;height:84px;image-rendering:pixelated;border-radius:4px;border:1px solid var(--line)}
.mistakes .t{color:var(--good)}.mistakes .p{color:var(--bad)}
.weights{image-rendering:pixelated}
.note{color:var(--muted);font-size:12px;margin:8px 0 0}
details summary{cursor:pointer;color:var(--muted)}
a{color:rgb(var(--accent))}
"""


def esc(value: Any) -> str:
    """HTML-escape any value's text."""
    return html.escape(str(value), quote=True)


def page(title: str, body: str) -> str:
    """A complete HTML document around ``body``."""
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
        "<meta name=\"color-scheme\" content=\"light dark\">"
        f"<title>{esc(title)}</title><style>{CSS}</style></head>\n<body><main>\n{body}\n</main></body></html>\n"
    )


def section(title: str, inner: str, note: str = "") -> str:
    """A titled card."""
    return f"<section><h2>{esc(title)}</h2>{inner}{f'<p class=note>{note}</p>' if note else ''}</section>\n"


def img(uri: str, alt: str, width: int | None = None, cls: str = "") -> str:
    """An inline image (``uri`` is a data: URI)."""
    w = f' width="{width}"' if width else ""
    c = f' class="{cls}"' if cls else ""
    return f'<img src="{uri}" alt="{esc(alt)}"{w}{c}>'


def table(rows: Iterable[Sequence[Any]], header: Sequence[str] | None = None, numeric: Sequence[int] = (), cls: str = "lines") -> str:
    """A plain table; columns listed in ``numeric`` are right-aligned."""
    def cell(tag: str, i: int, v: Any) -> str:
        return f"<{tag}{' class=num' if i in numeric else ''}>{esc(v)}</{tag}>"

    head = "<tr>" + "".join(cell("th", i, h) for i, h in enumerate(header)) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>" for r in rows)
    return f"<table{f' class={cls}' if cls else ''}>{head}{body}</table>"


def kpis(items: Sequence[tuple[str, str]]) -> str:
    """Big numbers with small labels."""
    return "<div class=kpis>" + "".join(f"<div class=kpi><b>{esc(v)}</b><span>{esc(k)}</span></div>" for k, v in items) + "</div>"


def fmt(value: Any, digits: int = 4) -> str:
    """Numbers with ``digits`` decimals, None and NaN as '-'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def confusion_table(cm: Sequence[Sequence[int]], classes: Sequence[str]) -> str:
    """The confusion matrix as a heat-map table: rows true class, columns predicted; shade = row share."""
    head = "<tr><th>true \\ predicted</th>" + "".join(f"<th class=rot title='{esc(c)}'>{esc(c)}</th>" for c in classes) + "</tr>"
    rows = []
    for i, row in enumerate(cm):
        total = max(sum(row), 1)
        cells = []
        for j, n in enumerate(row):
            share = n / total
            style = f"background:rgba(var(--accent),{0.08 + 0.82 * share:.2f})" if n else ""
            if share > 0.55:
                style += ";color:#fff"
            weight = ";font-weight:600" if i == j else ""
            cells.append(f"<td style='{style}{weight}' title='{esc(classes[i])} → {esc(classes[j])}: {n} ({share:.1%})'>{n}</td>")
        rows.append(f"<tr><th>{esc(classes[i])}</th>{''.join(cells)}</tr>")
    return f"<table class=cm>{head}{''.join(rows)}</table>"


def accuracy_bars(per_class: dict[str, float]) -> str:
    """Per-class accuracy as a table of horizontal bars, worst first."""
    items = sorted(per_class.items(), key=lambda kv: (kv[1] if kv[1] == kv[1] else 2.0))
    rows = []
    for name, acc in items:
        width = 0 if acc != acc else max(0.0, min(1.0, acc)) * 100
        rows.append(
            f"<tr><td>{esc(name)}</td><td class=num>{fmt(acc, 3)}</td>"
            f"<td><div class=bartrack><div class=bar style='width:{width:.1f}%'></div></div></td></tr>"
        )
    return f"<table>{''.join(rows)}</table>"


def _pct(p: float) -> str:
    """A probability as a percentage; one decimal near certainty, so 99.6% does not read as 100%."""
    return f"{math.floor(p * 1000) / 10:.1f}%" if 0.995 <= p < 1 else f"{p:.0%}"  # floor: never round up to 100


def mistakes_grid(items: Sequence[tuple[str, str, str, float, int]]) -> str:
    """Cards of (image uri, true label, predicted label, confidence, test index)."""
    cards = [
        f"<figure>{img(uri, f'test #{idx}: true {t}, predicted {p}', 84)}"
        f"<figcaption><span class=t>{esc(t)}</span><br><span class=p>{esc(p)}</span> {_pct(conf)}</figcaption></figure>"
        for uri, t, p, conf, idx in items
    ]
    return f"<div class=mistakes>{''.join(cards)}</div>"
