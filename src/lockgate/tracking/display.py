"""Rich display in notebooks: small, escaped HTML building blocks shared by every record
that shows itself (runs, comparisons, evaluations, findings, profiles, drift, model
versions).

Why one module: every ``_repr_html_`` escapes the same way, looks the same, and embeds
Plotly offline. Plotly's JavaScript is inlined in the first chart a process renders and
referenced by later ones, so a notebook works without a network (no CDN) and does not
carry 3 MB per chart. :func:`reset_plotly` makes the next chart inline it again (a new
notebook in the same kernel).
"""

from __future__ import annotations

import datetime as dt
import html
import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

_STYLE = (
    "<style>.lg-box{font-family:system-ui,sans-serif;font-size:13px;max-width:100%}"
    ".lg-box table{border-collapse:collapse;margin:4px 0 10px}"
    ".lg-box th,.lg-box td{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left;"
    "vertical-align:top}.lg-box th{background:#f4f4f6}.lg-box .num{text-align:right;"
    "font-variant-numeric:tabular-nums}.lg-box .bad{color:#b00020;font-weight:600}"
    ".lg-box .ok{color:#1b7f3b;font-weight:600}.lg-box h4{margin:8px 0 4px}"
    ".lg-box .muted{color:#666}</style>"
)
_PLOTLY_SENT = threading.Event()
MAX_ROWS = 50


def esc(value: Any) -> str:
    """Text for HTML, escaped."""
    return html.escape("" if value is None else str(value), quote=True)


def fmt(value: Any) -> str:
    """A value as a short human string (numbers to 4 significant digits)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return str(value) if not math.isfinite(value) else f"{value:.4g}"
    return str(value)


def when(epoch: float | None) -> str:
    """UTC time of an epoch, to the second."""
    if epoch is None:
        return "—"
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def box(title: str, *parts: str) -> str:
    """A titled block: the outer element of every rich display."""
    return f'<div class="lg-box">{_STYLE}<h4>{esc(title)}</h4>{"".join(parts)}</div>'


def heading(text: str) -> str:
    """A sub-heading inside a box."""
    return f"<h4>{esc(text)}</h4>"


def paragraph(text: str, css: str = "") -> str:
    """A line of escaped text."""
    return f'<p class="{css}">{esc(text)}</p>'


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *,
          limit: int = MAX_ROWS) -> str:
    """An HTML table of formatted cells; numbers right-aligned; at most ``limit`` rows
    (the rest counted, never silently cut)."""
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = []
    total = 0
    for row in rows:
        total += 1
        if total <= limit:
            body.append("<tr>" + "".join(_cell(v) for v in row) + "</tr>")
    more = "" if total <= limit else paragraph(f"… and {total - limit} more rows", "muted")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}"


def mapping_table(values: Mapping[str, Any], key: str = "key", value: str = "value") -> str:
    """A two-column table of a mapping (empty mapping: a muted 'none')."""
    if not values:
        return paragraph("none", "muted")
    return table([key, value], values.items())


def figure(fig: Any) -> str:
    """A Plotly figure as offline HTML: plotly.js inlined once per process."""
    include = not _PLOTLY_SENT.is_set()
    _PLOTLY_SENT.set()
    return str(fig.to_html(full_html=False, include_plotlyjs=bool(include),
                           config={"displaylogo": False}))


def reset_plotly() -> None:
    """Inline plotly.js again in the next chart (e.g. for a fresh notebook)."""
    _PLOTLY_SENT.clear()


def text_lines(title: str, lines: Iterable[str]) -> str:
    """A plain ``__repr__`` body: a title and indented lines."""
    return "\n".join([title, *(f"  {line}" for line in lines)])


def _cell(value: Any) -> str:
    css = ' class="num"' if isinstance(value, int | float) and not isinstance(value, bool) else ""
    return f"<td{css}>{esc(fmt(value))}</td>"
