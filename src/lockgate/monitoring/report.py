"""The monitoring report of a model over time: self-contained HTML (Plotly's JavaScript
inlined, no network) and the same content as JSON."""

from __future__ import annotations

import datetime as dt
import html
import json
from collections import Counter
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from lockgate.monitoring.duration import format_duration
from lockgate.monitoring.history import window_history
from lockgate.monitoring.incident import incidents
from lockgate.store import Store

_GROUPS = {
    "Traffic and labels": ["volume.predictions", "labels.coverage"],
    "Drift": ["drift.share_drifted", "drift.max_psi", "drift.important_drifted",
              "prediction_drift.psi"],
    "Live performance": ["performance.accuracy", "performance.roc_auc",
                         "performance.log_loss", "performance.brier", "performance.rmse",
                         "performance.mae", "performance.degradation"],
    "Contract checks": ["contract.violation_rate"],
    "Latency and cost": ["latency.p50_ms", "latency.p95_ms", "latency.p99_ms",
                         "cost.compute_ms_per_1k"],
}


def monitoring_report(store: Store, model_name: str, *, since: float | None = None,
                      window_seconds: float | None = None) -> dict[str, Any]:
    """The report's content: windows over time, the latest drift table, incidents.

    Args:
        store: the metadata store.
        model_name: the model.
        since: only windows ending at or after this epoch second.
        window_seconds: which window length to chart (rules may use several); default
            the length recorded most often.
    """
    windows = window_history(store, model_name, since=since)
    lengths = Counter(round(w["end"] - w["start"], 6) for w in windows)
    if window_seconds is None and lengths:
        window_seconds = lengths.most_common(1)[0][0]
    if window_seconds is not None:
        windows = [w for w in windows if abs(w["end"] - w["start"] - window_seconds) < 1e-6]
    found = incidents(store, model_name, limit=500)
    latest = windows[-1] if windows else None
    return {
        "model": model_name,
        "window_seconds": window_seconds,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(),
        "windows": windows,
        "latest": latest,
        "incidents": [i.to_dict() for i in found],
        "open_incidents": sum(i.status == "open" for i in found),
    }


def write_report(store: Store, model_name: str, folder: Path | str, *,
                 since: float | None = None, window_seconds: float | None = None
                 ) -> tuple[Path, Path]:
    """Write ``monitoring-<model>.html`` and ``.json`` into ``folder``.

    Returns:
        ``(html_path, json_path)``.
    """
    content = monitoring_report(store, model_name, since=since,
                                window_seconds=window_seconds)
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    json_path = target / f"monitoring-{model_name}.json"
    json_path.write_text(json.dumps(content, indent=2, default=str), encoding="utf-8")
    html_path = target / f"monitoring-{model_name}.html"
    html_path.write_text(render_html(content), encoding="utf-8")
    return html_path, json_path


def render_html(content: dict[str, Any]) -> str:
    """The report as one HTML page (Plotly's JavaScript inlined once)."""
    figures = [_timeline(content["windows"]), _drift_bars(content.get("latest"))]
    charts = []
    first = True
    for figure in figures:
        if figure is None:
            continue
        charts.append(pio.to_html(figure, include_plotlyjs=first, full_html=False))
        first = False
    if first:  # no chart at all: still inline plotly.js so the page never reaches out
        charts.append(pio.to_html(go.Figure(), include_plotlyjs=True, full_html=False))
    model = html.escape(content["model"])
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>lockgate monitoring: {model}</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}"
        "table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;"
        "padding:4px 8px;text-align:left;vertical-align:top}th{background:#f4f4f4}"
        ".open{color:#b00;font-weight:bold}.resolved{color:#070}</style></head><body>"
        f"<h1>Monitoring: {model}</h1>"
        f"<p>{len(content['windows'])} window(s) of {_length(content)} recorded; "
        f"{content['open_incidents']} open "
        f"incident(s). Generated {html.escape(content['generated_at'])}.</p>"
        + "".join(charts)
        + _incident_table(content["incidents"])
        + "</body></html>"
    )


def _length(content: dict[str, Any]) -> str:
    seconds = content.get("window_seconds")
    return format_duration(seconds) if seconds else "any length"


def _timeline(windows: list[dict[str, Any]]) -> go.Figure | None:
    if not windows:
        return None
    groups = {title: [m for m in names if any(w["measures"].get(m) is not None
                                              for w in windows)]
              for title, names in _GROUPS.items()}
    groups = {t: n for t, n in groups.items() if n}
    figure = make_subplots(rows=len(groups), cols=1, shared_xaxes=True,
                           subplot_titles=list(groups), vertical_spacing=0.06)
    x = [dt.datetime.fromtimestamp(w["end"], tz=dt.UTC) for w in windows]
    for row, names in enumerate(groups.values(), start=1):
        for name in names:
            figure.add_trace(go.Scatter(x=x, y=[w["measures"].get(name) for w in windows],
                                        mode="lines+markers", name=name), row=row, col=1)
    figure.update_layout(height=260 * len(groups), title="Measures per window over time",
                         legend={"orientation": "h"})
    return figure


def _drift_bars(latest: dict[str, Any] | None) -> go.Figure | None:
    if not latest or not latest["details"].get("drift"):
        return None
    rows = sorted(latest["details"]["drift"], key=lambda r: -r["psi"])
    colors = ["#c0392b" if r["drifted"] else "#7f8c8d" for r in rows]
    figure = go.Figure(go.Bar(x=[r["name"] for r in rows], y=[r["psi"] for r in rows],
                              marker_color=colors,
                              text=["drifted" if r["drifted"] else "" for r in rows]))
    figure.update_layout(title="Input drift in the latest window (PSI; red = drifted)",
                         yaxis_title="PSI", height=380)
    return figure


def _incident_table(found: list[dict[str, Any]]) -> str:
    if not found:
        return "<h2>Incidents</h2><p>No incidents.</p>"
    rows = []
    for item in found:
        cause = html.escape((item.get("root_cause") or {}).get("summary", ""))
        retraining = item.get("retraining") or {}
        decision = (retraining.get("decision") or {}).get("reason", "")
        retrain = html.escape(_retraining_text(retraining, decision))
        opened = dt.datetime.fromtimestamp(item["opened_at"], tz=dt.UTC).isoformat(
            timespec="seconds")
        value = "" if item["value"] is None else f"{item['value']:.4g}"
        rows.append(
            f"<tr><td>{item['id']}</td><td>{html.escape(item['rule'])}</td>"
            f"<td>{html.escape(item['measure'])}</td><td>{value}</td>"
            f"<td>{item['threshold']:g}</td><td class='{item['status']}'>{item['status']}</td>"
            f"<td>{opened}</td><td>{cause}</td><td>{retrain}</td></tr>")
    return ("<h2>Incidents</h2><table><tr><th>id</th><th>rule</th><th>measure</th>"
            "<th>value</th><th>threshold</th><th>status</th><th>opened (UTC)</th>"
            "<th>root cause</th><th>retraining</th></tr>" + "".join(rows) + "</table>")


def _retraining_text(retraining: dict[str, Any], decision: str) -> str:
    if not retraining:
        return ""
    if not retraining.get("triggered"):
        return f"not triggered: {decision}"
    if retraining.get("error"):
        return f"failed: {retraining['error']}"
    stage = retraining.get("promoted_to") or "refused by the gates (stays candidate)"
    return f"v{retraining.get('model_version')} -> {stage}; {decision}"
