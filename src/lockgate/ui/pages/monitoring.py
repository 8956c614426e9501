"""The Monitoring page: windows over time, drift per feature, live performance and
alerts with their root-cause summaries, as the monitoring stage's records
(:func:`recorded_windows`, :func:`incidents`): the page runs no SQL."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from lockgate.monitoring.history import RecordedWindow, monitored_models, recorded_windows
from lockgate.monitoring.incident import Incident, incidents
from lockgate.store import Store
from lockgate.ui import charts
from lockgate.ui.html import (
    chart,
    empty,
    esc,
    fmt_time,
    fmt_value,
    link,
    page,
    section,
    status_badge,
    table,
)
from lockgate.ui.pages.data import drift_report
from lockgate.ui.viewer import Viewer

MAX_WINDOWS = 500
MAX_INCIDENTS = 200
PERFORMANCE = ("accuracy", "roc_auc", "f1", "mae", "rmse", "log_loss", "brier", "r2")


def render(store: Store, model: str | None = None, viewer: Viewer | None = None) -> str:
    """Monitored models (those the ``viewer`` may see); for one model its windows,
    drift, performance and alerts."""
    viewer = viewer or Viewer()
    models = [m for m in monitored_models(store) if viewer.sees_model(m)]
    if not models:
        return page("Monitoring", empty(
            "No monitored model yet.",
            "Serve a registered model with <code>lockgate serve NAME@production</code>, then "
            "run <code>lockgate monitor NAME</code>: each evaluated window and alert "
            "appears here.",
        ), active="/monitoring")
    model = model if model in models else models[0]
    picker = " · ".join(link(f"/monitoring?model={m}", m, class_="active" if m == model else "")
                        for m in models)
    windows = recorded_windows(store, model, limit=MAX_WINDOWS)
    alerts = incidents(store, model, limit=MAX_INCIDENTS)
    body = [
        f"<p>Models: {picker}</p>",
        section("Windows over time", _measures(windows)),
        section("Live performance", _performance(windows)),
        section("Drift per feature (latest window)", _drift(windows)),
        section("Alerts", _alerts(alerts)),
    ]
    return page(f"Monitoring {model}", "".join(body), active="/monitoring")


def _measures(windows: list[RecordedWindow]) -> str:
    if not windows:
        return empty("No window has been evaluated for this model yet.")
    x = [fmt_time(w.window_end) for w in windows]
    volume = {"data": [{"type": "bar", "name": "predictions", "x": x,
                        "y": [w.n_predictions for w in windows]},
                       {"type": "bar", "name": "labelled", "x": x,
                        "y": [w.n_labeled for w in windows]}],
              "layout": charts.layout("Predictions per window", barmode="group")}
    blocks = [chart(volume, ident="window-volume")]
    groups: dict[str, list[str]] = defaultdict(list)
    for key in sorted({k for w in windows for k, v in w.measures.items()
                       if _number(v) is not None and not _is_performance(k)}):
        groups[key.split(".", 1)[0] if "." in key else "other"].append(key)
    for n, (group, keys) in enumerate(sorted(groups.items())):
        if group == "volume":
            continue
        figure = {"data": [{"type": "scatter", "mode": "lines+markers", "name": k, "x": x,
                            "y": [_number(w.measures.get(k)) for w in windows]}
                           for k in keys], "layout": charts.layout(f"{group} per window")}
        blocks.append(chart(figure, ident=f"window-measures-{n}"))
    return f"<div class='charts'>{''.join(blocks)}</div>"


def _is_performance(key: str) -> bool:
    return key.startswith("performance.") or key in PERFORMANCE


def _performance(windows: list[RecordedWindow]) -> str:
    keys = sorted({k for w in windows for k, v in w.measures.items()
                   if _is_performance(k) and _number(v) is not None})
    if not keys:
        return empty("No labelled feedback yet, so live performance is unknown.",
                     "Send ground truth to the serving API's <code>/feedback</code> endpoint.")
    x = [fmt_time(w.window_end) for w in windows]
    figure = {"data": [{"type": "scatter", "mode": "lines+markers", "name": k, "x": x,
                        "y": [_number(w.measures.get(k)) for w in windows]} for k in keys],
              "layout": charts.layout("Live performance per window")}
    return chart(figure, ident="live-performance")


def _drift(windows: list[RecordedWindow]) -> str:
    """The monitor stores per-feature rows (``details.drift``: a list, or a DriftReport
    dict with ``features``); the newest window that has them is shown."""
    for window in reversed(windows):
        found = window.details.get("drift")
        rows = found.get("features") if isinstance(found, dict) else found
        if isinstance(rows, list) and rows:
            share = _number(window.measures.get("drift.share_drifted"))
            drifted = [r for r in rows if isinstance(r, dict) and r.get("drifted")]
            if share is None:
                share = len(drifted) / len(rows)
            return drift_report({"features": rows, "drifted": bool(drifted),
                                 "share_drifted": share})
    return empty("No drift has been computed for this model's windows.")


def _alerts(incidents: list[Incident]) -> str:
    if not incidents:
        return empty("No alert has fired for this model.")
    rows = []
    for i in incidents:
        summary = i.root_cause.get("summary")
        rows.append([status_badge(i.status), esc(i.severity), esc(i.rule),
                     esc(f"{i.measure} = {fmt_value(i.value)} (threshold "
                         f"{fmt_value(i.threshold)})"),
                     esc(fmt_time(i.opened_at)), esc(fmt_time(i.resolved_at)),
                     esc(summary or "-")])
    return table(["status", "severity", "rule", "measure", "opened (UTC)", "resolved (UTC)",
                  "root cause"], rows, ident="alerts")


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None
