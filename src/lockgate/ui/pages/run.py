"""A run's page: params, metrics, curves, figures, artifacts, console, hardware, code,
environment, lineage and notes."""

from __future__ import annotations

import json
from typing import Any

from lockgate.artifacts import ArtifactStore
from lockgate.errors import LockgateError, NotFoundError
from lockgate.store import ArtifactRecord, RunRecord, Store
from lockgate.ui import charts
from lockgate.ui.access import TOKEN_ENV, AccessPolicy
from lockgate.ui.html import (
    banner,
    chart,
    code,
    empty,
    esc,
    fmt_bytes,
    fmt_seconds,
    fmt_time,
    kv_table,
    link,
    page,
    section,
    status_badge,
    table,
    url,
)

MAX_CURVES = 16
MAX_FIGURE_BYTES = 8 * 2**20
CONSOLE_LINES = 2000


def render(store: Store, artifacts: ArtifactStore, run_id: str, policy: AccessPolicy,
           message: str | None = None) -> str:
    """The page of one run (``run_id`` may be a unique prefix)."""
    run = store.get_run(run_id)
    if run.deleted_at is not None:  # hidden from the dashboard as from every listing
        raise NotFoundError(f"Run {run.id} was deleted. Restore it with `lockgate runs "
                            f"restore {run.id}`.")
    parts = [banner(message, "info") if message else "", _header(store, run)]
    params = store.params(run.id)
    parts.append(section("Parameters", kv_table(params, ident="params")
                         if params else empty("No parameters logged.")))
    last = store.last_metrics([run.id])[run.id]
    parts.append(section("Metrics (last value)", kv_table(last, ident="metrics") if last
                         else empty("No metrics logged.")))
    tags = store.tags(run.id)
    if tags:
        parts.append(section("Tags", kv_table(tags, ident="tags")))
    points = store.metrics(run.id)
    parts.append(section("Learning curves", _curves(points), anchor="curves"))
    folds = _folds(points)
    if folds:
        parts.append(section("Cross-validation folds", folds, anchor="folds"))
    records = store.artifacts(run.id)
    parts.append(section("Charts", _figures(artifacts, records), anchor="figures"))
    parts.append(section("Artifacts", _artifacts(records), anchor="artifacts"))
    parts.append(_children(store, run))
    parts.append(section("Lineage", _lineage(store, run.id), anchor="lineage"))
    parts.append(section("Console", _console(store, run.id), anchor="console"))
    parts.append(section("Hardware", _hardware(store, run.id), anchor="hardware"))
    parts.append(section("Code and environment", _code_env(store, run.id), anchor="code"))
    parts.append(section("Notes", _notes(store, run.id, policy), anchor="notes"))
    return page(f"Run {run.name}", "".join(parts), active="/")


def _header(store: Store, run: RunRecord) -> str:
    items = [
        ("id", code(run.id)), ("experiment", link(f"/?experiment={run.experiment}",
                                                   run.experiment)),
        ("status", status_badge(run.status)), ("kind", esc(run.kind)),
        ("started (UTC)", esc(fmt_time(run.start_time))),
        ("duration", esc(fmt_seconds(run.duration))), ("host", esc(run.host)),
    ]
    if run.parent_id:
        items.append(("parent", link(f"/runs/{run.parent_id}", run.parent_id)))
    rows = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in items)
    actions = (
        f"<p>{link(f'/lineage?run={run.id}', 'Lineage graph →', id='lineage-link')} · "
        f"{link(url('/', q=_name_filter(run.name)), 'Runs with this name')}</p>"
    )
    error = f"<h3>Error</h3><pre class='error'>{esc(run.error)}</pre>" if run.error else ""
    return f"<table class='kv' id='run-header'>{rows}</table>{actions}{error}"


def _name_filter(name: str) -> str:
    quoted = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'name = "{quoted}"'


def _curves(points: list[Any]) -> str:
    """Metrics over training steps; ``cv_*`` (one value per fold) are not curves and are
    drawn apart, by :func:`_folds`."""
    curves = {k: v for k, v in charts.learning_curves(points).items()
              if not k.startswith("cv_")}
    if not curves:
        return empty("No metric was logged at more than one step.",
                     "Log per-epoch values with <code>run.log_metric(key, value, step=epoch)"
                     "</code>.")
    blocks = [
        chart(charts.curve_figure(key, {key: series}), ident=f"curve-{i}")
        for i, (key, series) in enumerate(list(curves.items())[:MAX_CURVES])
    ]
    return f"<div class='charts'>{''.join(blocks)}</div>"


def _folds(points: list[Any]) -> str:
    """Cross-validation scores, one point per fold (empty when none were logged)."""
    folds = {k: v for k, v in charts.learning_curves(points).items() if k.startswith("cv_")}
    blocks = [
        chart(_per_fold(key, charts.curve_figure(key, {key: series})), ident=f"folds-{i}")
        for i, (key, series) in enumerate(list(folds.items())[:MAX_CURVES])
    ]
    return f"<div class='charts'>{''.join(blocks)}</div>" if blocks else ""


def _per_fold(key: str, figure: dict[str, Any]) -> dict[str, Any]:
    """Cross-validation scores (``cv_*``) are one value per fold, not a curve over
    training steps: points on a fold axis, no line joining them."""
    if not key.startswith("cv_"):
        return figure
    for trace in figure["data"]:
        trace["mode"] = "markers"
    for trace in figure["data"]:
        trace["x"] = [step + 1 for step in trace["x"]]  # folds are counted from 1
    figure["layout"]["xaxis"] = {"title": {"text": "fold"}, "dtick": 1}
    figure["layout"]["title"] = {"text": f"{key}: one point per fold", "font": {"size": 14}}
    return figure


def _figures(artifacts: ArtifactStore, records: list[ArtifactRecord]) -> str:
    figures = [r for r in records if r.materializer == "plotly"]
    if not figures:
        return empty("No charts logged.", "Log a Plotly figure with "
                     "<code>run.log_figure(fig, \"name\")</code>.")
    blocks = []
    for i, record in enumerate(figures):
        if record.size > MAX_FIGURE_BYTES:
            blocks.append(banner(f"Chart {record.name} is {fmt_bytes(record.size)}; download "
                                 "it from the artifacts below.", "warning"))
            continue
        try:
            text = artifacts.read_bytes(record).decode("utf-8")
            json.loads(text)
        except (LockgateError, UnicodeDecodeError, ValueError) as exc:
            blocks.append(banner(f"Chart {record.name} cannot be shown: {exc}", "warning"))
            continue
        blocks.append(f"<div><h3>{esc(record.name)}</h3>"
                      f"{chart(text, ident=f'figure-{i}', height=380)}</div>")
    return f"<div class='charts'>{''.join(blocks)}</div>"


def _artifacts(records: list[ArtifactRecord]) -> str:
    if not records:
        return empty("No artifacts logged.", "Log files with <code>run.log_artifact(path)"
                     "</code> or values with <code>run.log_value(value, name)</code>.")
    rows = [
        [esc(r.name), esc(r.materializer or "file"), esc(r.media_type), esc(fmt_bytes(r.size)),
         code(r.sha256[:12]), link(f"/artifacts/{r.id}/download", "download")]
        for r in records
    ]
    return table(["name", "materializer", "media type", "size", "sha256", ""], rows,
                 ident="artifacts-table")


def _children(store: Store, run: RunRecord) -> str:
    children = store.list_runs(parent_id=run.id, limit=None)
    if not children:
        return ""
    rows = [[link(f"/runs/{c.id}", c.name), status_badge(c.status), esc(c.kind),
             esc(fmt_seconds(c.duration))] for c in reversed(children)]
    return section("Steps", table(["step", "status", "kind", "duration"], rows))


def _lineage(store: Store, run_id: str) -> str:
    edges = store.lineage(run_id=run_id)
    if not edges:
        return empty("This run recorded no inputs or outputs.",
                     "Record them with <code>run.consumed(dataset_version)</code> / "
                     "<code>run.produced(artifact)</code>.")
    rows = []
    for edge in edges:
        if edge.dataset_version_id is not None:
            version = store.dataset_version_by_id(edge.dataset_version_id)
            target = link(f"/data/{version.table_name}/v/{version.version}", version.ref)
        else:
            record = store.artifact(edge.artifact_id or 0)
            target = f"artifact {link(f'/artifacts/{record.id}/download', record.name)}"
        rows.append([esc(edge.direction), target, esc(edge.role), esc(edge.note)])
    return table(["direction", "item", "role", "note"], rows, ident="lineage-table") + \
        f"<p>{link(f'/lineage?run={run_id}', 'Open the lineage graph →')}</p>"


def _console(store: Store, run_id: str) -> str:
    text = store.console(run_id, tail_lines=CONSOLE_LINES)
    if not text:
        return empty("No console output captured.")
    return f"<p class='muted'>last {CONSOLE_LINES} lines at most</p><pre id='console-log'>" \
           f"{esc(text)}</pre>"


def _hardware(store: Store, run_id: str) -> str:
    samples = store.hardware(run_id)
    if not samples:
        return empty("No hardware samples (the run was too short or sampling was off).")
    return chart(charts.hardware_figure(samples), ident="hardware-chart")


def _code_env(store: Store, run_id: str) -> str:
    parts = []
    version = store.code_version(run_id)
    if version is None or version.commit is None:
        parts.append(empty("No git commit recorded (the run did not start in a git "
                           "checkout)."))
    else:
        diff = (link(f"/artifacts/{version.diff_artifact_id}/download", "uncommitted diff")
                if version.diff_artifact_id else "clean")
        parts.append(table(["commit", "branch", "dirty", "repository", "diff"], [[
            code(version.commit), esc(version.branch), esc(version.dirty),
            esc(version.repo_root), diff]]))
    env = store.environment(run_id)
    if env is None:
        parts.append(empty("No environment recorded."))
    else:
        packages = kv_table(env.packages)
        parts.append(
            kv_table({"python": env.python, "platform": env.platform}, ident="environment")
            + f"<details><summary>{len(env.packages)} installed packages</summary>"
            f"{packages}</details>"
            + (f"<details><summary>settings</summary>{kv_table(env.settings)}</details>"
               if env.settings else "")
        )
    return "".join(parts)


def _notes(store: Store, run_id: str, policy: AccessPolicy) -> str:
    notes = store.notes(run_id)
    listed = "".join(
        f"<li><span class='muted'>{esc(fmt_time(n.created_at))} {esc(n.author or '')}</span>"
        f"<br>{esc(n.text)}</li>" for n in notes
    )
    body = f"<ul id='notes-list'>{listed}</ul>" if notes else empty("No notes yet.")
    if not policy.can_edit:
        return body + (
            "<p class='hint muted' id='notes-how'>The dashboard is read-only. To add notes "
            f"here, start it with a token: <code>export {TOKEN_ENV}=$(python -c 'import "
            "secrets; print(secrets.token_urlsafe(24))')</code> then <code>lockgate ui</code>, "
            "and paste the token into the form. Or add one from Python: "
            "<code>run.note(text)</code>.</p>"
        )
    token_field = "" if policy.login_required else (
        "<label>token <input type='password' name='token' autocomplete='off' required></label> "
    )
    return body + (
        f"<form method='post' action='/runs/{esc(run_id)}/notes' id='note-form'>"
        "<textarea name='text' rows='3' required maxlength='20000'></textarea><br>"
        "<label>author <input name='author' maxlength='100'></label> "
        f"{token_field}<button type='submit'>Add note</button></form>"
        f"<p class='muted'>Adding a note needs the dashboard token ({TOKEN_ENV}).</p>"
    )
