"""The Compare page: 2 to 10 runs side by side, built on tracking.report.compare_runs."""

from __future__ import annotations

import math
from typing import Any

from lockgate.errors import LockgateError
from lockgate.store import Store
from lockgate.tracking.report import compare_runs
from lockgate.ui import charts
from lockgate.ui.html import (
    chart,
    empty,
    esc,
    fmt_value,
    link,
    page,
    section,
    status_badge,
    table,
)

MIN_RUNS, MAX_RUNS = 2, 10


class CompareError(LockgateError, ValueError):
    """Fewer than 2 or more than 10 runs were picked."""


def render(store: Store, run_ids: list[str]) -> str:
    """The comparison of ``run_ids`` (ids or unique prefixes)."""
    ids = [r for r in dict.fromkeys(i.strip() for i in run_ids) if r]
    if not ids:
        return page("Compare", empty(
            "Pick 2 to 10 runs to compare.",
            "Tick the boxes on the " + link("/", "Runs") + " page and press "
            "<em>Compare selected</em>, or open <code>/compare?run=ID&amp;run=ID</code>.",
        ), active="/compare")
    if not MIN_RUNS <= len(ids) <= MAX_RUNS:
        raise CompareError(f"Compare needs {MIN_RUNS} to {MAX_RUNS} distinct runs; "
                           f"{len(ids)} were given.")
    report = compare_runs(store, ids)
    runs = report["runs"]
    full_ids = [r["id"] for r in runs]
    labels = {r["id"]: f"{r['name']} ({r['id'][:6]})" for r in runs}
    body = [
        section("Runs", table(["run", "experiment", "status"], [
            [link(f"/runs/{r['id']}", labels[r["id"]]), esc(r["experiment"]),
             status_badge(r["status"])] for r in runs])),
        section("Parameters that differ", _params(report, full_ids, labels)),
        section("Metrics", _metrics(report, full_ids, labels)),
        section("Learning curves", _curves(store, full_ids, labels)),
        section("Parallel coordinates", _parallel(report, full_ids)),
    ]
    return page(f"Compare {len(ids)} runs", "".join(body), active="/compare")


def _params(report: dict[str, Any], ids: list[str], labels: dict[str, str]) -> str:
    differ = report["params_differ"]
    if not differ:
        return empty("These runs have identical parameters.")
    rows = [[esc(key), *(esc(fmt_value(values.get(i))) for i in ids)]
            for key, values in differ.items()]
    return table(["param", *(esc(labels[i]) for i in ids)], rows, ident="params-differ")


def _metrics(report: dict[str, Any], ids: list[str], labels: dict[str, str]) -> str:
    metrics, best = report["metrics"], report["best"]
    if not metrics:
        return empty("None of these runs logged a metric.")
    rows = []
    for key, values in metrics.items():
        cells = []
        for i in ids:
            text = esc(fmt_value(values.get(i)))
            cells.append(f"<strong class='best'>{text} ★</strong>" if best.get(key) == i
                         else text)
        rows.append([esc(key), *cells])
    return table(["metric (last)", *(esc(labels[i]) for i in ids)], rows,
                 ident="metrics-compare")


def _curves(store: Store, ids: list[str], labels: dict[str, str]) -> str:
    per_run = {i: charts.learning_curves(store.metrics(i)) for i in ids}
    keys = sorted({k for curves in per_run.values() for k in curves})
    if not keys:
        return empty("No metric was logged at more than one step in these runs.")
    blocks = [
        chart(charts.curve_figure(key, {labels[i]: per_run[i][key] for i in ids
                                        if key in per_run[i]}), ident=f"compare-curve-{n}")
        for n, key in enumerate(keys[:12])
    ]
    return f"<div class='charts'>{''.join(blocks)}</div>"


def _parallel(report: dict[str, Any], ids: list[str]) -> str:
    columns: dict[str, list[float | None]] = {}
    for key, values in report["params_differ"].items():
        numbers = [values.get(i) for i in ids]
        if all(_is_number(v) for v in numbers):
            columns[f"param {key}"] = [float(v) for v in numbers]
    color = None
    for key, values in report["metrics"].items():
        numbers = [values.get(i) for i in ids]
        if all(_is_number(v) and math.isfinite(v) for v in numbers):
            columns[key] = numbers
            color = color or key
    if len(columns) < 2:
        return empty("Parallel coordinates need at least two numeric params or metrics "
                     "shared by every run.")
    return chart(charts.parallel_coordinates(columns, color), ident="parallel", height=380)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
