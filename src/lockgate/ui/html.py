"""HTML building for the dashboard: the page layout and small escaped fragments.

Every value that reaches a page goes through :func:`esc` (or :func:`json_script` for
chart data), so stored text — run names, notes, console output — can never inject
markup or script. Pages load only ``/static/*`` files served by the package itself.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

NAV = (
    ("/", "Runs"), ("/compare", "Compare"), ("/pipelines", "Pipelines"), ("/data", "Data"),
    ("/models", "Models"), ("/monitoring", "Monitoring"),
)


def esc(value: Any) -> str:
    """Escape any value for HTML text or a quoted attribute."""
    return html.escape("" if value is None else str(value), quote=True)


def url(path: str, **query: Any) -> str:
    """A local URL with an encoded query string (``None`` values dropped)."""
    pairs: list[tuple[str, str]] = []
    for key, value in query.items():
        if value is None or value == "":
            continue
        if isinstance(value, list | tuple):
            pairs.extend((key, str(v)) for v in value)
        else:
            pairs.append((key, str(value)))
    return path + ("?" + urllib.parse.urlencode(pairs) if pairs else "")


def link(href: str, text: Any, **attrs: str) -> str:
    """An ``<a>`` element with escaped text and attributes."""
    extra = "".join(f' {k.rstrip("_")}="{esc(v)}"' for k, v in attrs.items())
    return f'<a href="{esc(href)}"{extra}>{esc(text)}</a>'


def page(title: str, body: str, *, active: str = "/", status_line: str = "") -> str:
    """A whole HTML page: navigation, title and body; scripts and styles from /static."""
    nav = "".join(
        f'<a href="{href}" class="{"active" if href == active else ""}">{name}</a>'
        for href, name in NAV
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{esc(title)} · lockgate</title>"
        "<link rel='icon' type='image/svg+xml' href='/static/favicon.svg'>"
        "<link rel='stylesheet' href='/static/style.css'>"
        "<script src='/static/plotly.min.js'></script>"
        "<script src='/static/app.js' defer></script>"
        f"</head><body><header><span class='brand'>lockgate</span><nav>{nav}</nav>"
        f"<span class='status-line'>{esc(status_line)}</span></header>"
        f"<main><h1>{esc(title)}</h1>{body}</main></body></html>"
    )


def section(title: str, body: str, *, anchor: str | None = None) -> str:
    """A titled section of a page."""
    ident = f' id="{esc(anchor)}"' if anchor else ""
    return f"<section{ident}><h2>{esc(title)}</h2>{body}</section>"


def empty(message: str, hint: str | None = None) -> str:
    """The empty state: what is missing and the command or call that fills it."""
    tip = f"<p class='hint'>{hint}</p>" if hint else ""
    return f"<div class='empty'><p>{esc(message)}</p>{tip}</div>"


def banner(message: str, kind: str = "error") -> str:
    """A message box (error, warning or info)."""
    return f"<div class='banner {esc(kind)}' role='alert'>{esc(message)}</div>"


def code(text: str) -> str:
    """Inline code, escaped."""
    return f"<code>{esc(text)}</code>"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, raw: bool = True,
          css: str = "grid", ident: str | None = None) -> str:
    """A table; cells are pre-escaped HTML when ``raw`` (the caller built them)."""
    head = "".join(f"<th>{h if raw else esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{c if raw else esc(c)}</td>" for c in row) + "</tr>"
        for row in rows
    )
    attr = f' id="{esc(ident)}"' if ident else ""
    return f"<table class='{css}'{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def kv_table(items: Mapping[str, Any], *, ident: str | None = None) -> str:
    """A two-column key / value table with escaped values."""
    rows = [(esc(k), esc(fmt_value(v))) for k, v in items.items()]
    return table(["key", "value"], rows, css="kv", ident=ident)


def status_badge(status: str | None) -> str:
    """A coloured status label (FINISHED, FAILED, passed, failed...)."""
    text = status or "-"
    return f"<span class='badge s-{esc(text.lower())}'>{esc(text)}</span>"


def chart(figure: Mapping[str, Any] | str, *, ident: str, height: int = 320) -> str:
    """A Plotly chart: the figure travels as inert JSON and /static/app.js draws it."""
    data = figure if isinstance(figure, str) else json.dumps(
        _finite(figure), default=_json_default, allow_nan=False
    )
    return (
        f"<div class='chart' id='{esc(ident)}' style='height:{int(height)}px' "
        f"data-figure='{esc(ident)}-data'></div>"
        f"<script type='application/json' id='{esc(ident)}-data'>{safe_json(data)}</script>"
    )


def safe_json(text: str) -> str:
    """JSON text made safe inside a ``<script>`` element (no ``</script>`` breakout)."""
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def fmt_time(ts: float | None) -> str:
    """An epoch time as ``YYYY-MM-DD HH:MM:SS`` UTC."""
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def fmt_seconds(seconds: float | None) -> str:
    """A duration as ``1.2s``, ``3m 04s`` or ``2h 01m``."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m {int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h {int(seconds % 3600 // 60):02d}m"


def fmt_value(value: Any) -> str:
    """A param or metric value for a table cell (floats to 4 significant digits)."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return f"{value:.4g}"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def fmt_bytes(size: float | None) -> str:
    """A byte count as B, KB, MB or GB."""
    if size is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def _finite(value: Any) -> Any:
    """NaN and inf become null: JSON.parse in the browser refuses them."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if hasattr(value, "tolist"):
        return _finite(value.tolist())
    return value


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
