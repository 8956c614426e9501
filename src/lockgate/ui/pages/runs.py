"""The Runs page: filters, sortable columns, pagination and the compare picker."""

from __future__ import annotations

from typing import Any

from lockgate.store import Store
from lockgate.ui.html import (
    banner,
    empty,
    esc,
    fmt_seconds,
    fmt_time,
    fmt_value,
    link,
    page,
    status_badge,
    table,
    url,
)
from lockgate.ui.run_query import RunPage, RunQuery, query_runs

STATUSES = ("", "RUNNING", "FINISHED", "FAILED", "CRASHED", "SKIPPED", "CACHED", "KILLED",
            "TIMED_OUT")


def render(store: Store, query: RunQuery, error: str | None = None) -> str:
    """The runs page for ``query`` (an invalid filter shows its message, not a crash)."""
    experiments = store.experiments()
    form = _filters(query, experiments)
    if error:
        return page("Runs", form + banner(error), active="/")
    if store.count_runs() == 0:
        return page("Runs", empty(
            "No runs recorded yet.",
            "Record one with <code>lockgate quickstart</code> or in Python: "
            "<code>with lockgate.tracking.start_run(\"baseline\") as run: "
            "run.log_metric(\"loss\", 0.3)</code>.",
        ), active="/")
    result = query_runs(store, query)
    if not result.runs:
        body = form + empty("No runs match these filters.",
                            f"{link('/', 'Clear the filters')} to see every run.")
        return page("Runs", body, active="/")
    return page("Runs", form + _results(result, query), active="/",
                status_line=f"{result.total}{'+' if result.total_capped else ''} runs")


def _filters(query: RunQuery, experiments: list[str]) -> str:
    exp_options = "".join(
        f"<option value='{esc(e)}'{' selected' if e == query.experiment else ''}>{esc(e)}</option>"
        for e in ["", *experiments]
    )
    status_options = "".join(
        f"<option value='{s}'{' selected' if s == (query.status or '').upper() else ''}>"
        f"{s or 'any'}</option>" for s in STATUSES
    )
    tags = " ".join(f"{k}={v}" for k, v in query.tags)
    steps = " checked" if query.include_steps else ""
    return (
        "<form class='filters' method='get' action='/' id='run-filters'>"
        f"<label>experiment<select name='experiment'>{exp_options}</select></label>"
        f"<label>status<select name='status'>{status_options}</select></label>"
        f"<label>tags (k=v, space separated)<input name='tag' value='{esc(tags)}'></label>"
        "<label>filter<input name='q' placeholder='params.lr &gt; 0.01 and metrics.auc &gt;= 0.9' "
        f"value='{esc(query.q)}'></label>"
        f"<label>steps<input type='checkbox' name='steps' value='1'{steps}></label>"
        f"<input type='hidden' name='sort' value='{esc(query.sort)}'>"
        f"<input type='hidden' name='order' value='{'desc' if query.descending else 'asc'}'>"
        "<button type='submit'>Apply</button></form>"
    )


def _results(result: RunPage, query: RunQuery) -> str:
    headers = ["", _sort_header("run", "name", query), _sort_header("experiment", "experiment",
               query), _sort_header("status", "status", query),
               _sort_header("started (UTC)", "start_time", query),
               _sort_header("duration", "duration", query)]
    headers += [_sort_header(k, f"metrics.{k}", query) for k in result.metric_keys]
    headers += [_sort_header(f"param {k}", f"params.{k}", query) for k in result.param_keys]
    rows = []
    for run in result.runs:
        metrics, params = result.metrics.get(run.id, {}), result.params.get(run.id, {})
        rows.append([
            f"<input type='checkbox' name='run' value='{esc(run.id)}' aria-label='compare'>",
            link(f"/runs/{run.id}", run.name) + f" <span class='muted'>{esc(run.id[:8])}</span>",
            esc(run.experiment), status_badge(run.status), esc(fmt_time(run.start_time)),
            esc(fmt_seconds(run.duration)),
            *(esc(fmt_value(metrics.get(k))) for k in result.metric_keys),
            *(esc(fmt_value(params.get(k))) for k in result.param_keys),
        ])
    grid = table(headers, rows, ident="runs-table")
    return (
        "<form method='get' action='/compare' id='compare-form'>"
        f"{grid}<button type='submit'>Compare selected (2–10)</button></form>"
        + _pager(result, query)
    )


def _params_of(query: RunQuery, **change: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "experiment": query.experiment, "status": query.status,
        "tag": " ".join(f"{k}={v}" for k, v in query.tags) or None, "q": query.q or None,
        "steps": "1" if query.include_steps else None, "sort": query.sort,
        "order": "desc" if query.descending else "asc", "page": query.page,
        "per_page": query.per_page if query.per_page != 50 else None,
    }
    values.update(change)
    return values


def _sort_header(label: str, key: str, query: RunQuery) -> str:
    current = query.sort == key
    descending = not query.descending if current else key in ("start_time", "duration") \
        or key.startswith("metrics.")
    arrow = (" ▼" if query.descending else " ▲") if current else ""
    href = url("/", **_params_of(query, sort=key, order="desc" if descending else "asc", page=1))
    css = "sorted" if current else ""
    return f'<a href="{esc(href)}" class="{css}" data-sort="{esc(key)}">{esc(label)}{arrow}</a>'


def _pager(result: RunPage, query: RunQuery) -> str:
    more = "+" if result.total_capped else ""
    parts = [f"<span>page {result.page} of {result.pages}{more} · {result.total}{more} runs"
             "</span>"]
    if result.page > 1:
        parts.insert(0, link(url("/", **_params_of(query, page=result.page - 1)), "← previous",
                             id="prev-page"))
    if result.page < result.pages:
        parts.append(link(url("/", **_params_of(query, page=result.page + 1)), "next →",
                          id="next-page"))
    return f"<div class='pager'>{''.join(parts)}</div>"
