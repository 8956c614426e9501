"""The Data page: tables, versions, quality reports (checks), quarantine by reason and
drift between versions. Versions and checks come from the core ``dataset_versions``
table; drift uses the quality stage (imported lazily) when it is present."""

from __future__ import annotations

from typing import Any

from lockgate.config import Settings
from lockgate.data.check_result import check_results, failed_checks
from lockgate.errors import LockgateError
from lockgate.store import DatasetVersion, Store
from lockgate.ui import charts
from lockgate.ui.html import (
    banner,
    chart,
    empty,
    esc,
    fmt_time,
    fmt_value,
    kv_table,
    link,
    page,
    section,
    status_badge,
    table,
    url,
)


def render_tables(store: Store) -> str:
    """Every table with its newest version and verdict."""
    names = store.dataset_tables()
    if not names:
        return page("Data", empty(
            "No dataset versions yet.",
            "Ingest a table with <code>lockgate ingest FILE --table NAME --contract "
            "CONTRACT.yaml</code>; every batch becomes a validated version listed here.",
        ), active="/data")
    rows = []
    for name in names:
        versions = store.dataset_versions(name)
        newest = versions[-1]
        rows.append([link(f"/data/{name}", name), str(len(versions)), esc(newest.ref),
                     status_badge(newest.validation_status),
                     str(sum(v.rows_accepted for v in versions)),
                     str(sum(v.rows_quarantined for v in versions)),
                     esc(fmt_time(newest.created_at))])
    grid = table(["table", "versions", "newest", "validation", "rows accepted",
                  "rows quarantined", "updated (UTC)"], rows, ident="tables")
    return page("Data", grid, active="/data")


def render_table(store: Store, name: str) -> str:
    """One table: versions, quarantine by reason, and the drift picker."""
    versions = store.dataset_versions(name)
    if not versions:
        store.dataset_version(name)  # raises NotFoundError with close matches
    rows = [[link(f"/data/{name}/v/{v.version}", v.ref), status_badge(v.validation_status),
             str(v.rows_ingested), str(v.rows_accepted), str(v.rows_quarantined),
             esc(v.contract_version), esc(v.source), esc(fmt_time(v.created_at)),
             _failed_checks(v)] for v in reversed(versions)]
    body = [section("Versions", table(
        ["version", "validation", "ingested", "accepted", "quarantined", "contract", "source",
         "created (UTC)", "failed checks"], rows, ident="versions"))]
    body.append(section("Quarantine by reason", _quarantine(versions)))
    body.append(section("Drift between versions", _drift_form(name, versions)))
    return page(f"Table {name}", "".join(body), active="/data")


def render_version(store: Store, name: str, version: int) -> str:
    """One version: its checks, quarantine reasons, details and the runs that used it."""
    item = store.dataset_version(name, version)
    reasons = item.details.get("reasons") or {}
    body = [
        f"<p>{status_badge(item.validation_status)} {item.rows_accepted} accepted, "
        f"{item.rows_quarantined} quarantined of {item.rows_ingested} ingested · "
        f"{link(f'/lineage?dataset={item.id}', 'lineage graph →', id='lineage-link')}</p>",
        section("Quality report", _checks(item)),
        section("Quarantined rows by reason", chart(charts.bar_figure(
            "Quarantined rows by reason", list(reasons), list(reasons.values())),
            ident="reasons-chart") + kv_table(reasons) if reasons
            else empty("No row was quarantined in this version.")),
        section("Used by", _users(store, item)),
        section("Details", kv_table({k: v for k, v in item.details.items() if k != "reasons"})
                if item.details else empty("No details recorded.")),
    ]
    if item.run_id:
        body.insert(1, f"<p>Written by run {link(f'/runs/{item.run_id}', item.run_id)}</p>")
    return page(f"{item.ref}", "".join(body), active="/data")


def render_drift(store: Store, settings: Settings, name: str, base: int, current: int) -> str:
    """Drift of every feature between two versions (the quality stage computes it)."""
    store.dataset_version(name, base)
    store.dataset_version(name, current)
    title = f"Drift {name}@v{base} → v{current}"
    try:
        from lockgate.quality import drift
        from lockgate.quality.stored_profile import profile_for
    except ImportError as exc:  # a library the quality stage needs is not installed
        return page(title, banner(f"Drift needs the quality stage (lockgate.quality), which "
                                  f"cannot be imported here: {exc}", "warning"), active="/data")
    try:
        report = drift(profile_for(name, base, settings=settings),
                       profile_for(name, current, settings=settings))
    except LockgateError as exc:
        return page(title, banner(str(exc)), active="/data")
    return page(title, drift_report(report.to_dict()), active="/data")


def drift_report(report: dict[str, Any]) -> str:
    """A drift report (``DriftReport.to_dict()``) as a bar chart and a table."""
    features = report.get("features") or []
    if not features:
        return empty("The two versions share no features to compare.")
    names = [f.get("name") for f in features]
    stats = [f.get("statistic") for f in features]
    verdict = "drifted" if report.get("drifted") else "stable"
    rows = [[esc(f.get("name")), esc(f.get("kind")), esc(fmt_value(f.get("psi"))),
             esc(fmt_value(f.get("p_value"))), esc(fmt_value(f.get("statistic"))),
             esc(fmt_value(f.get("threshold"))),
             status_badge("failed" if f.get("drifted") else "passed")] for f in features]
    return (
        f"<p>Dataset verdict: {status_badge(verdict)} · share of drifted features "
        f"{esc(fmt_value(report.get('share_drifted')))}</p>"
        + chart(charts.bar_figure("Drift statistic per feature", names, stats),
                ident="drift-chart")
        + table(["feature", "kind", "psi", "p-value", "statistic", "threshold", "drift"], rows,
                ident="drift-table")
    )


def _failed_checks(version: DatasetVersion) -> str:
    failed = failed_checks(version.checks)
    return esc(", ".join(failed)) if failed else "<span class='muted'>none</span>"


def _checks(item: DatasetVersion) -> str:
    if not item.checks:
        return empty("No checks recorded for this version.")
    rows = []
    for name, result in sorted(check_results(item.checks).items()):
        rows.append([esc(name), esc(result.level), esc(result.passed), esc(result.failed),
                     status_badge(result.status)])
    return table(["check", "level", "passed", "failed", "verdict"], rows, ident="checks")


def _quarantine(versions: list[DatasetVersion]) -> str:
    reasons = sorted({r for v in versions for r in (v.details.get("reasons") or {})})
    if not reasons:
        return empty("No row of this table has been quarantined.")
    refs = [v.ref for v in versions]
    series = {r: [float((v.details.get("reasons") or {}).get(r, 0)) for v in versions]
              for r in reasons}
    return chart(charts.stacked_bars("Quarantined rows by reason and version", refs, series),
                 ident="quarantine-chart")


def _drift_form(name: str, versions: list[DatasetVersion]) -> str:
    if len(versions) < 2:
        return empty("Drift needs two versions of the table.")
    options = "".join(f"<option value='{v.version}'>{esc(v.ref)}</option>" for v in versions)
    newest = versions[-1].version
    current = options.replace(f"value='{newest}'", f"value='{newest}' selected")
    return (
        f"<form method='get' action='{esc(url(f'/data/{name}/drift'))}' id='drift-form'>"
        f"<label>reference <select name='base'>{options}</select></label> "
        f"<label>current <select name='current'>{current}</select></label> "
        "<button type='submit'>Compare</button></form>"
    )


def _users(store: Store, item: DatasetVersion) -> str:
    edges = store.lineage(dataset_version_id=item.id)
    if not edges:
        return empty("No run has read this version yet.")
    rows = []
    for edge in edges:
        run = store.get_run(edge.run_id)
        rows.append([link(f"/runs/{run.id}", run.name), esc(edge.direction), esc(edge.role),
                     esc(edge.note)])
    return table(["run", "direction", "role", "note"], rows, ident="used-by")
