"""Plotly figures for the dashboard, built as plain dicts (the browser draws them).

Dicts rather than ``plotly.graph_objects`` keep page rendering cheap; the figures use
only stable trace types (scatter, bar, parcoords, heatmap).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from lockgate.store import HardwareSample, MetricPoint


def layout(title: str, **extra: Any) -> dict[str, Any]:
    """A compact layout with a title."""
    base: dict[str, Any] = {"title": {"text": title, "font": {"size": 14}},
                            "margin": {"t": 40, "r": 20, "b": 40, "l": 55}}
    base.update(extra)
    return base


def learning_curves(points: Sequence[MetricPoint]) -> dict[str, list[MetricPoint]]:
    """Metric points grouped by key, only keys logged at two or more steps."""
    grouped: dict[str, list[MetricPoint]] = defaultdict(list)
    for point in points:
        grouped[point.key].append(point)
    return {k: v for k, v in sorted(grouped.items()) if len(v) >= 2}


def curve_figure(key: str, series: Mapping[str, Sequence[MetricPoint]]) -> dict[str, Any]:
    """One metric over steps, one line per run (``series``: label -> points)."""
    data = [
        {"type": "scatter", "mode": "lines+markers" if len(points) < 60 else "lines",
         "name": label, "x": [p.step for p in points], "y": [p.value for p in points]}
        for label, points in series.items()
    ]
    return {"data": data, "layout": layout(key, xaxis={"title": {"text": "step"}},
                                           showlegend=len(series) > 1)}


def hardware_figure(samples: Sequence[HardwareSample]) -> dict[str, Any]:
    """CPU % and resident memory of a run over its lifetime."""
    start = samples[0].timestamp if samples else 0.0
    x = [round(s.timestamp - start, 2) for s in samples]
    data: list[dict[str, Any]] = [
        {"type": "scatter", "mode": "lines", "name": "CPU %", "x": x,
         "y": [s.cpu_percent for s in samples]},
        {"type": "scatter", "mode": "lines", "name": "RSS MB", "x": x, "yaxis": "y2",
         "y": [None if s.rss_bytes is None else s.rss_bytes / 2**20 for s in samples]},
    ]
    if any(s.gpu_utilization is not None for s in samples):
        data.append({"type": "scatter", "mode": "lines", "name": "GPU %", "x": x,
                     "y": [s.gpu_utilization for s in samples]})
    return {"data": data, "layout": layout(
        "Hardware", xaxis={"title": {"text": "seconds since start"}},
        yaxis={"title": {"text": "%"}},
        yaxis2={"title": {"text": "MB"}, "overlaying": "y", "side": "right"},
    )}


def bar_figure(title: str, labels: Sequence[str], values: Sequence[float | None], *,
               horizontal: bool = False, links: Sequence[str] | None = None) -> dict[str, Any]:
    """A single bar series; ``links`` make bars clickable (app.js follows customdata)."""
    trace: dict[str, Any] = {"type": "bar", "x": list(values), "y": list(labels),
                             "orientation": "h"} if horizontal else \
        {"type": "bar", "x": list(labels), "y": list(values)}
    if links:
        trace["customdata"] = list(links)
    return {"data": [trace], "layout": layout(title)}


def stacked_bars(title: str, categories: Sequence[str],
                 series: Mapping[str, Sequence[float]]) -> dict[str, Any]:
    """Bars stacked per category (e.g. quarantined rows by reason per version)."""
    data = [{"type": "bar", "name": name, "x": list(categories), "y": list(values)}
            for name, values in series.items()]
    return {"data": data, "layout": layout(title, barmode="stack")}


def parallel_coordinates(columns: Mapping[str, Sequence[float | None]],
                         color_key: str | None) -> dict[str, Any]:
    """Runs as lines across params and metrics (numeric columns only)."""
    dimensions = [{"label": name, "values": list(values)} for name, values in columns.items()]
    line: dict[str, Any] = {}
    if color_key and color_key in columns:
        line = {"color": list(columns[color_key]), "colorscale": "Viridis", "showscale": True}
    return {"data": [{"type": "parcoords", "dimensions": dimensions, "line": line}],
            "layout": layout("Parallel coordinates", margin={"t": 70, "r": 40, "b": 30,
                                                              "l": 60})}


def interval_figure(title: str, metrics: Mapping[str, float],
                    intervals: Mapping[str, Sequence[float]]) -> dict[str, Any]:
    """Point estimates with their confidence intervals as error bars."""
    keys = sorted(metrics)
    plus, minus = [], []
    for key in keys:
        low, high = [*list(intervals.get(key, ())), None, None][:2]
        value = metrics[key]
        plus.append(None if high is None else high - value)
        minus.append(None if low is None else value - low)
    trace = {"type": "scatter", "mode": "markers", "x": keys, "y": [metrics[k] for k in keys],
             "error_y": {"type": "data", "symmetric": False, "array": plus,
                         "arrayminus": minus}, "name": "holdout"}
    return {"data": [trace], "layout": layout(title)}
