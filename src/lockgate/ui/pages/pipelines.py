"""The Pipelines page: pipeline runs, their step tree (status, duration, cache hits,
errors) and a duration chart. Built on core runs (kind ``pipeline`` / ``step``); the
pipelines stage's step ledger adds attempts and cache reuse."""

from __future__ import annotations

from typing import Any

from lockgate.pipelines.ledger import StepRow, steps_of
from lockgate.store import RunRecord, Store
from lockgate.ui import charts
from lockgate.ui.html import (
    chart,
    empty,
    esc,
    fmt_seconds,
    fmt_time,
    link,
    page,
    section,
    status_badge,
    table,
)

MAX_PIPELINES = 100
MAX_DEPTH = 6


def render_list(store: Store, within: tuple[str, ...] | None = None) -> str:
    """Recent pipeline runs with their step counts (of the experiments ``within``, if
    given)."""
    runs = store.list_runs(kind="pipeline", limit=MAX_PIPELINES, within=within)
    if not runs:
        return page("Pipelines", empty(
            "No pipeline runs yet.",
            "Run one with <code>lockgate run path/to/pipelines.py:name</code> or "
            "<code>lockgate quickstart</code>; each step becomes a child run shown here.",
        ), active="/pipelines")
    rows = []
    for run in runs:
        steps = store.list_runs(parent_id=run.id, limit=None)
        cached = sum(s.status == "CACHED" for s in steps)
        failed = sum(s.status in ("FAILED", "CRASHED", "TIMED_OUT", "KILLED") for s in steps)
        rows.append([link(f"/pipelines/{run.id}", run.name), status_badge(run.status),
                     esc(run.experiment), esc(fmt_time(run.start_time)),
                     esc(fmt_seconds(run.duration)), str(len(steps)), str(cached), str(failed)])
    grid = table(["pipeline run", "status", "experiment", "started (UTC)", "duration", "steps",
                  "cache hits", "failed"], rows, ident="pipelines-table")
    return page("Pipelines", grid, active="/pipelines")


def pipeline_count(store: Store) -> int:
    """How many pipeline runs the store holds."""
    return store.count_runs(kind="pipeline")


def render_pipeline(store: Store, run_id: str) -> str:
    """One pipeline run: its step tree, durations and errors."""
    run = store.get_run(run_id)
    extra = {row.step_run_id: row for row in steps_of(store, run.id)}
    tree = f"<ul class='tree' id='step-tree'>{_tree(store, run, extra, 0)}</ul>"
    steps = _descendants(store, run.id)
    body = [
        f"<p>{status_badge(run.status)} {esc(fmt_seconds(run.duration))} · "
        f"{link(f'/runs/{run.id}', 'run page')} · "
        f"{link(f'/lineage?run={run.id}', 'lineage graph →', id='lineage-link')}</p>",
        section("Steps", tree if steps else empty("This pipeline run has no steps.")),
    ]
    if steps:
        body.append(section("Durations", chart(_durations(steps), ident="step-durations",
                                               height=120 + 26 * len(steps))))
    errors = [s for s in steps if s.error]
    if errors:
        body.append(section("Errors", "".join(
            f"<h3>{link(f'/runs/{s.id}', s.name)}</h3><pre>{esc(s.error)}</pre>"
            for s in errors)))
    return page(f"Pipeline {run.name}", "".join(body), active="/pipelines")


def _tree(store: Store, run: RunRecord, extra: dict[str, StepRow], depth: int) -> str:
    children = list(reversed(store.list_runs(parent_id=run.id, limit=None)))
    items = []
    for child in children:
        info = extra.get(child.id)
        reused = info.reused_from if info else None
        notes = []
        if child.status == "CACHED" or reused:
            notes.append("cache hit" + (f" from {reused[:8]}" if reused else ""))
        if info and info.attempts > 1:
            notes.append(f"{info.attempts} attempts")
        if child.error:
            notes.append(child.error.strip().splitlines()[-1][:200])
        sub = _tree(store, child, extra, depth + 1) if depth < MAX_DEPTH else ""
        items.append(
            f"<li data-step='{esc(child.name)}'>{status_badge(child.status)} "
            f"{link(f'/runs/{child.id}', child.name)} "
            f"<span class='muted'>{esc(fmt_seconds(child.duration))}"
            f"{' · ' + esc('; '.join(notes)) if notes else ''}</span>"
            f"{f'<ul class=tree>{sub}</ul>' if sub else ''}</li>"
        )
    return "".join(items)


def _descendants(store: Store, run_id: str) -> list[RunRecord]:
    found: list[RunRecord] = []
    frontier = [run_id]
    for _ in range(MAX_DEPTH):
        nxt: list[Any] = []
        for parent in frontier:
            children = list(reversed(store.list_runs(parent_id=parent, limit=None)))
            found.extend(children)
            nxt.extend(c.id for c in children)
        if not nxt:
            break
        frontier = nxt
    return found


def _durations(steps: list[RunRecord]) -> dict[str, Any]:
    start = min(s.start_time for s in steps)
    colors = {"FINISHED": "#2e9d4f", "CACHED": "#7b5cd6", "FAILED": "#d23c2f",
              "CRASHED": "#8f1d15", "SKIPPED": "#c9a227", "RUNNING": "#2f6fd6",
              "TIMED_OUT": "#b5541c", "KILLED": "#6b3fa0"}
    trace = {
        "type": "bar", "orientation": "h", "y": [s.name for s in steps],
        "x": [max(s.duration or 0.0, 0.001) for s in steps],
        "base": [s.start_time - start for s in steps],
        "marker": {"color": [colors.get(s.status, "#888") for s in steps]},
        "customdata": [f"/runs/{s.id}" for s in steps],
        "hovertext": [f"{s.status} {fmt_seconds(s.duration)}" for s in steps],
    }
    return {"data": [trace], "layout": charts.layout(
        "Step timeline (seconds since the first step)", yaxis={"autorange": "reversed"})}
