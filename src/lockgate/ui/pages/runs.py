"""The Runs page: filters, sortable columns, pagination and the compare picker."""

from __future__ import annotations

import json
from typing import Any

from lockgate.store import Store
from lockgate.store.run_query import RunPage, RunQuery, query_runs
from lockgate.tracking.saved_view import SavedView, list_views
from lockgate.tracking.search import params_that_differ
from lockgate.ui import charts
from lockgate.ui.html import (
    banner,
    chart,
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

MAX_CELL = 40
STATUSES = ("", "RUNNING", "FINISHED", "FAILED", "CRASHED", "SKIPPED", "CACHED", "KILLED",
            "TIMED_OUT")


def render(store: Store, query: RunQuery, error: str | None = None,
           view: SavedView | None = None, can_save: bool = False,
           token_field: bool = False, message: str | None = None) -> str:
    """The runs page for ``query`` (an invalid filter shows its message, not a crash);
    ``view`` is the saved view it was opened with (its columns are the table's)."""
    experiments = store.experiments() if query.within is None else list(query.within)
    form = _filters(query, experiments) + _views_menu(store, query, view, can_save,
                                                      token_field)
    if message:
        form += f"<p class='flash' id='view-message'>{esc(message)}</p>"
    if error:
        return page("Runs", form + banner(error), active="/")
    if (not store.has_runs()) if query.within is None else not query.within:
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
    return page("Runs", form + _results(result, query, view), active="/",
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
        + (f"<input type='hidden' name='view' value='{esc(query.view)}'>" if query.view else "")
        + "<button type='submit'>Apply</button></form>"
    )


def _results(result: RunPage, query: RunQuery, view: SavedView | None = None) -> str:
    """The table: the sort metric first, params that differ on this page (the identical
    ones listed above it), long values shortened with the full text on hover; or the
    columns of a saved view. A column chooser (app.js; kept by saving a view) and a
    metric-vs-param scatter."""
    metric_keys = primary_first(result.metric_keys, query.sort)
    differ = params_that_differ({r.id: result.params.get(r.id, {}) for r in result.runs}) \
        if len(result.runs) > 1 else list(result.param_keys)
    param_keys = [k for k in result.param_keys if k in differ]
    same = [k for k in result.param_keys if k not in differ]
    base = list(BASE_COLUMNS)
    if view is not None and view.columns:
        metric_keys = [c[len("metrics."):] for c in view.columns if c.startswith("metrics.")]
        param_keys = [c[len("params."):] for c in view.columns if c.startswith("params.")]
        base = [c for c in BASE_COLUMNS if c in view.columns]
        same = []
    headers = ["", _sort_header("run", "name", query),
               *(_sort_header(*BASE_HEADERS[c], query) for c in base)]
    headers += [_sort_header(k, f"metrics.{k}", query) for k in metric_keys]
    headers += [_sort_header(f"param {k}", f"params.{k}", query) for k in param_keys]
    rows = []
    for run in result.runs:
        metrics, params = result.metrics.get(run.id, {}), result.params.get(run.id, {})
        cells = {"experiment": esc(run.experiment), "status": status_badge(run.status),
                 "started": esc(fmt_time(run.start_time)),
                 "duration": esc(fmt_seconds(run.duration))}
        rows.append([
            f"<input type='checkbox' name='run' value='{esc(run.id)}' aria-label='compare'>",
            link(f"/runs/{run.id}", run.name) + f" <span class='muted'>{esc(run.id[:8])}</span>",
            *(cells[c] for c in base),
            *(esc(fmt_value(metrics.get(k))) for k in metric_keys),
            *(_short(params[k]) if k in params else "—" for k in param_keys),
        ])
    grid = table(headers, rows, ident="runs-table")
    scope = esc(query.experiment or "all")
    return (
        _identical(same, result) + f"<div class='runs-tools' data-experiment='{scope}'>"
        "<details id='column-chooser'><summary>columns</summary></details></div>"
        "<form method='get' action='/compare' id='compare-form'>"
        f"<div class='table-scroll'>{grid}</div>"
        "<button type='submit'>Compare selected (2–10)</button></form>"
        + _pager(result, query) + _scatter(result, metric_keys, param_keys)
    )


#: Run columns of the table after the run's name, in a saved view's vocabulary, with the
#: header text and sort key each is drawn with.
BASE_COLUMNS = ("experiment", "status", "started", "duration")
BASE_HEADERS = {"experiment": ("experiment", "experiment"), "status": ("status", "status"),
                "started": ("started (UTC)", "start_time"),
                "duration": ("duration", "duration")}


def _views_menu(store: Store, query: RunQuery, view: SavedView | None, can_save: bool,
                token_field: bool) -> str:
    """The saved views (shared by everyone using this store) and a form saving the
    current columns, sort, filter and experiment as one (app.js fills in the columns)."""
    views = [v for v in list_views(store=store) if query.within is None
             or v.experiment is None or v.experiment in query.within]
    links = " ".join(
        link(url("/", view=v.name), v.name, **({"class": "active"} if view and
                                               view.name == v.name else {}))
        for v in views) or "<span class='muted'>none yet</span>"
    current = view.name if view else ""
    if not can_save:
        how = ("<span class='muted' id='views-how'>Saving a view needs the dashboard token "
               "(LOCKGATE_UI_TOKEN), or: <code>lockgate runs view save NAME --columns ... "
               "--sort ...</code></span>")
        return f"<div class='views' id='views'>views: {links} · {how}</div>"
    token = ("<input type='password' name='token' placeholder='token' autocomplete='off' "
             "required> " if token_field else "")
    columns = ",".join(view.columns) if view else ""
    return (
        f"<div class='views' id='views'>views: {links} "
        "<form method='post' action='/views' id='save-view' class='inline'>"
        f"<input name='name' placeholder='view name' value='{esc(current)}' required> "
        f"<input type='hidden' name='columns' value='{esc(columns)}'>"
        f"<input type='hidden' name='sort' value='{esc(query.sort)}'>"
        f"<input type='hidden' name='order' value='{'desc' if query.descending else 'asc'}'>"
        f"<input type='hidden' name='q' value='{esc(query.q)}'>"
        f"<input type='hidden' name='experiment' value='{esc(query.experiment or '')}'>"
        f"{token}<button type='submit'>Save view</button></form></div>")


def primary_first(keys: list[str], sort: str) -> list[str]:
    """Metric keys with the one sorted by first (people sort by what they care about)."""
    primary = sort[len("metrics."):] if sort.startswith("metrics.") else None
    return sorted(keys, key=lambda k: (k != primary, k))


def _short(value: Any) -> str:
    text = fmt_value(value) if not isinstance(value, dict | list) else json.dumps(value)
    if len(text) <= MAX_CELL:
        return esc(text)
    return f"<span title='{esc(text)}'>{esc(text[:MAX_CELL - 1])}…</span>"


def _identical(keys: list[str], result: RunPage) -> str:
    if not keys or not result.runs:
        return ""
    first = result.params.get(result.runs[0].id, {})
    shown = ", ".join(f"{k} = {_plain(first.get(k))}" for k in keys)
    return f"<p class='muted' id='same-params'>Same on every run shown: {esc(shown)}</p>"


def _plain(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, dict | list) else fmt_value(value)
    return text if len(text) <= MAX_CELL else text[:MAX_CELL - 1] + "…"


def _scatter(result: RunPage, metric_keys: list[str], param_keys: list[str]) -> str:
    """The first metric against each numeric param that differs (a menu switches the
    param): how a setting moved the result, one point per run, clickable."""
    if not metric_keys:
        return ""
    metric = metric_keys[0]
    numeric = [k for k in param_keys if all(
        isinstance(result.params.get(r.id, {}).get(k), int | float)
        and not isinstance(result.params.get(r.id, {}).get(k), bool)
        for r in result.runs if k in result.params.get(r.id, {}))
        and any(k in result.params.get(r.id, {}) for r in result.runs)]
    if not numeric:
        return ""
    y = [result.metrics.get(r.id, {}).get(metric) for r in result.runs]
    xs = {k: [result.params.get(r.id, {}).get(k) for r in result.runs] for k in numeric}
    trace = {"type": "scatter", "mode": "markers", "x": xs[numeric[0]], "y": y,
             "text": [r.name for r in result.runs], "marker": {"size": 9},
             "customdata": [f"/runs/{r.id}" for r in result.runs],
             "hovertemplate": "%{text}<br>%{x} → %{y}<extra></extra>"}
    buttons = [{"label": k, "method": "update",
                "args": [{"x": [xs[k]]}, {"xaxis": {"title": {"text": k}}}]} for k in numeric]
    figure = {"data": [trace], "layout": charts.layout(
        f"{metric} vs param", xaxis={"title": {"text": numeric[0]}},
        yaxis={"title": {"text": metric}},
        updatemenus=[{"buttons": buttons, "x": 1, "xanchor": "right", "y": 1.18}]
        if len(numeric) > 1 else [])}
    return chart(figure, ident="metric-vs-param", height=360)


def _params_of(query: RunQuery, **change: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "experiment": query.experiment, "status": query.status,
        "tag": " ".join(f"{k}={v}" for k, v in query.tags) or None, "q": query.q or None,
        "steps": "1" if query.include_steps else None, "sort": query.sort,
        "order": "desc" if query.descending else "asc", "page": query.page,
        "per_page": query.per_page if query.per_page != 50 else None,
        "view": query.view or None, "after": None, "before": None,
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
    column = VIEW_COLUMN.get(key, key)
    return (f'<a href="{esc(href)}" class="{css}" data-sort="{esc(key)}" '
            f'data-column="{esc(column)}">{esc(label)}{arrow}</a>')


#: A sort key's name in a saved view's column list, where they differ.
VIEW_COLUMN = {"start_time": "started"}


def _pager(result: RunPage, query: RunQuery) -> str:
    more = "+" if result.total_capped else ""
    parts = [f"<span>page {result.page} of {result.pages}{more} · {result.total}{more} runs"
             "</span>"]
    # the links carry where their page starts (a cursor), so page N is read from there
    # instead of past the N - 1 pages before it; page 1 needs none
    if result.page > 1:
        back = _params_of(query, page=result.page - 1, before=result.previous_page)
        parts.insert(0, link(url("/", **back), "← previous", id="prev-page"))
    if result.page < result.pages and result.next_page:
        forward = _params_of(query, page=result.page + 1, after=result.next_page)
        parts.append(link(url("/", **forward), "next →", id="next-page"))
    return f"<div class='pager'>{''.join(parts)}</div>"
