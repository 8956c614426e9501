"""Quality reports per dataset version: JSON for scripts, self-contained HTML for people.

A report holds the version's checks with pass / fail counts, the quarantine summary by
reason, per-column statistics and distributions, and drift of the rows the version
added against the table as it was before (the previous version).
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go

from lockgate.config import Settings, load_settings
from lockgate.data.check_result import ValidationStatus, check_results
from lockgate.quality.drift import DriftConfig, drift
from lockgate.quality.profile import ColumnProfile, Profile, default_edges
from lockgate.quality.stored_profile import profile_for, stored_profile
from lockgate.store import DatasetVersion, Store

REPORT_FORMAT = "lockgate.quality-report/1"
_TOP_CATEGORIES = 20
_COLOURS = {"reference": "#8c8c8c", "current": "#1f77b4"}


@dataclass(frozen=True, slots=True)
class QualityReport:
    """A dataset version's quality report.

    Attributes:
        ref: the version, e.g. ``orders@v3``.
        data: the JSON report.
        html: the self-contained HTML report.
    """

    ref: str
    data: dict[str, Any]
    html: str

    def write(self, folder: Path | str) -> tuple[Path, Path]:
        """Write ``quality.html`` and ``quality.json`` into ``folder``; return their paths."""
        target = Path(folder)
        target.mkdir(parents=True, exist_ok=True)
        html_path, json_path = target / "quality.html", target / "quality.json"
        html_path.write_text(self.html, encoding="utf-8")
        json_path.write_text(json.dumps(self.data, indent=2, sort_keys=True, allow_nan=False),
                             encoding="utf-8")
        return html_path, json_path

    def __repr__(self) -> str:
        return f"QualityReport({self.ref}; .write(folder) saves quality.html and .json)"

    def _repr_html_(self) -> str:
        from lockgate.quality.display import report_html

        return report_html(self)


def default_folder(settings: Settings, found: DatasetVersion) -> Path:
    """Where reports are written by default: ``<home>/reports/<table>/v<version>``."""
    return settings.home.resolve() / "reports" / found.table_name / f"v{found.version}"


def quality_report(table: str, version: int | None = None, *,
                   settings: Settings | None = None,
                   config: DriftConfig | None = None) -> QualityReport:
    """Build the quality report of a dataset version (the newest by default).

    Raises:
        NotFoundError: no such table or version.
    """
    settings = settings or load_settings()
    found = Store.open(settings).dataset_version(table, version)
    # Drift first: it stores the previous snapshot and this batch, from which the
    # snapshot is then merged instead of scanning the whole table again.
    drift_section, reference, current = _drift_section(found, settings, config)
    snapshot = stored_profile(found, "snapshot", settings)
    data = {
        "format": REPORT_FORMAT,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "dataset": _dataset(found),
        "gate": _gate(found),
        "checks": _checks(found),
        "quarantine": _quarantine(found),
        "columns": _columns(snapshot),
        "drift": drift_section,
    }
    data = _json_safe(data)
    return QualityReport(found.ref, data, render_html(data, snapshot, reference, current))


def _dataset(found: DatasetVersion) -> dict[str, Any]:
    return {
        "ref": found.ref, "table": found.table_name, "version": found.version,
        "source": found.source, "batch_id": found.batch_id,
        "created_at": found.created_at, "contract_version": found.contract_version,
        "rows_ingested": found.rows_ingested, "rows_accepted": found.rows_accepted,
        "rows_quarantined": found.rows_quarantined,
        "validation_status": found.validation_status,
    }


def _gate(found: DatasetVersion) -> dict[str, Any]:
    passed = found.validation_status == ValidationStatus.PASSED
    return {
        "trainable": passed,
        "message": "training may read this version" if passed else
        f"read_for_training refuses {found.ref} (validation {found.validation_status}) "
        "unless allow_unvalidated=\"<why>\" is given",
    }


def _checks(found: DatasetVersion) -> dict[str, Any]:
    items = [{"name": name, "level": str(check.level), "passed": check.passed,
              "failed": check.failed, "ok": check.ok, "message": check.message}
             for name, check in sorted(check_results(found.checks).items())]
    return {"total": len(items), "ok": sum(c["ok"] for c in items),
            "not_ok": sum(not c["ok"] for c in items),
            "rows_failed": sum(c["failed"] for c in items if c["level"] == "row"),
            "items": items}


def _quarantine(found: DatasetVersion) -> dict[str, Any]:
    reasons = found.details.get("reasons") or {}
    ordered = dict(sorted(((str(k), int(v)) for k, v in reasons.items()),
                          key=lambda kv: (-kv[1], kv[0])))
    return {"rows": found.rows_quarantined, "reasons": ordered,
            "share": found.rows_quarantined / found.rows_ingested
            if found.rows_ingested else 0.0}


def _columns(snapshot: Profile) -> list[dict[str, Any]]:
    out = []
    for row, column in zip(snapshot.summary(), snapshot.columns.values(), strict=True):
        item = dict(row)
        item["quantiles"] = {str(q): v for q, v in column.quantiles().items()}
        item["distribution"] = _distribution(column)
        if column.kind == "temporal" and column.valid:
            item["min_time"], item["max_time"] = _iso(column.minimum), _iso(column.maximum)
        out.append(item)
    return out


def _distribution(column: ColumnProfile, edges: np.ndarray | None = None) -> dict[str, Any]:
    if column.kind == "categorical":
        top = sorted(column.categories.items(), key=lambda kv: -kv[1])[:_TOP_CATEGORIES]
        rest = column.valid - sum(v for _, v in top)
        return {"type": "categories", "labels": [k for k, _ in top] + (["(other)"] if rest
                                                                       else []),
                "counts": [v for _, v in top] + ([rest] if rest else [])}
    if column.valid == 0:
        return {"type": "histogram", "edges": [], "counts": []}
    edges, counts = column.histogram(edges if edges is not None else default_edges(column))
    return {"type": "histogram", "edges": edges.tolist(), "counts": counts.tolist()}


def _drift_section(found: DatasetVersion, settings: Settings, config: DriftConfig | None,
                   ) -> tuple[dict[str, Any], Profile | None, Profile | None]:
    if found.version == 0:
        return {"compared": False, "why": "first version: nothing to compare with"}, None, None
    previous = found.version - 1
    try:
        reference = profile_for(found.table_name, previous, settings=settings)
    except LookupError:
        return {"compared": False, "why": f"version {previous} is not registered"}, None, None
    current = stored_profile(found, "batch", settings)
    if current.rows == 0:
        return {"compared": False, "why": f"{found.ref} added no rows"}, reference, None
    report = drift(reference, current, config)
    return {
        "compared": True,
        "reference": f"{found.table_name}@v{previous} (the table before this version)",
        "current": f"rows added by {found.ref}",
        **report.to_dict(),
    }, reference, current


def render_html(data: dict[str, Any], snapshot: Profile, reference: Profile | None,
                current: Profile | None) -> str:
    """The self-contained HTML page (plotly.js inlined once; no network needed)."""
    figures = [_checks_figure(data["checks"]), _quarantine_figure(data["quarantine"])]
    figures += [_column_figure(name, snapshot, reference, current)
                for name in snapshot.columns]
    charts = []
    first = True
    for figure in figures:
        if figure is None:
            continue
        charts.append(figure.to_html(full_html=False, include_plotlyjs=first,
                                     config={"displaylogo": False}))
        first = False
    body = "\n".join([
        _header(data), _checks_table(data["checks"]), _quarantine_table(data["quarantine"]),
        _drift_table(data["drift"]), _columns_table(data["columns"]),
        "<h2>Charts</h2>", *charts,
    ])
    title = html.escape(f"Quality report: {data['dataset']['ref']}")
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{title}</title><style>{_CSS}</style></head><body>{body}</body></html>")


def _header(data: dict[str, Any]) -> str:
    d, gate = data["dataset"], data["gate"]
    status = d["validation_status"]
    badge = "ok" if status == "passed" else "bad"
    created = dt.datetime.fromtimestamp(d["created_at"], dt.UTC).isoformat(timespec="seconds")
    return (
        f"<h1>Quality report: {_e(d['ref'])}</h1>"
        f"<p><span class=\"badge {badge}\">validation {_e(status)}</span> "
        f"{_e(gate['message'])}</p>"
        f"<p>{d['rows_ingested']} rows ingested, {d['rows_accepted']} accepted, "
        f"{d['rows_quarantined']} quarantined · contract {_e(d['contract_version'])} · "
        f"batch {_e(d['batch_id'])} · source {_e(d['source'])} · landed {created}</p>"
        f"<p class=\"muted\">Generated {_e(data['generated_at'])}. Show it again with "
        f"<code>lockgate data report {_e(d['table'])}@{d['version']}</code>.</p>"
    )


def _checks_table(checks: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr class=\"{'' if c['ok'] else 'fail'}\"><td>{_e(c['name'])}</td>"
        f"<td>{_e(c['level'])}</td><td>{c['passed']}</td><td>{c['failed']}</td>"
        f"<td>{'ok' if c['ok'] else 'FAILED'}</td><td>{_e(c['message'] or '')}</td></tr>"
        for c in checks["items"])
    return (f"<h2>Checks ({checks['ok']} ok, {checks['not_ok']} failed)</h2>"
            "<p class=\"muted\">Row-level checks quarantine failing rows (the version still "
            "passes); a failed batch-level check fails the version.</p>"
            "<table><tr><th>check</th><th>level</th><th>passed</th><th>failed</th>"
            f"<th>verdict</th><th>message</th></tr>{rows}</table>")


def _quarantine_table(quarantine: dict[str, Any]) -> str:
    if not quarantine["reasons"]:
        return "<h2>Quarantine</h2><p>No rows quarantined.</p>"
    rows = "".join(f"<tr><td>{_e(k)}</td><td>{v}</td></tr>"
                   for k, v in quarantine["reasons"].items())
    return (f"<h2>Quarantine ({quarantine['rows']} rows, {quarantine['share']:.1%})</h2>"
            f"<table><tr><th>reason</th><th>rows</th></tr>{rows}</table>")


def _drift_table(section: dict[str, Any]) -> str:
    if not section.get("compared"):
        return f"<h2>Drift</h2><p>Not compared: {_e(section.get('why', ''))}.</p>"
    rows = "".join(
        f"<tr class=\"{'fail' if f['drifted'] else ''}\"><td>{_e(f['name'])}</td>"
        f"<td>{_e(f['kind'])}</td><td>{_num(f['psi'])}</td><td>{_num(f['js'])}</td>"
        f"<td>{_num(f['ks'])}</td><td>{_num(f['wasserstein'])}</td>"
        f"<td>{_num(f['p_value'])}</td><td>{'DRIFTED' if f['drifted'] else 'ok'}</td>"
        f"<td>{_e(', '.join(f['new_categories']))}</td><td>{_e(f['reason'])}</td></tr>"
        for f in section["features"])
    verdict = "drifted" if section["drifted"] else "not drifted"
    skipped = "".join(f"<li>{_e(k)}: {_e(v)}</li>" for k, v in section["skipped"].items())
    skipped = f"<p>Not compared:</p><ul>{skipped}</ul>" if skipped else ""
    return (f"<h2>Drift: {_e(section['current'])} vs {_e(section['reference'])}</h2>"
            f"<p>Dataset {verdict}: {section['share_drifted']:.0%} of compared columns "
            f"drifted (threshold {section['config']['dataset_share']:.0%}).</p>"
            "<table><tr><th>column</th><th>kind</th><th>PSI</th><th>JS</th><th>KS</th>"
            "<th>Wasserstein</th><th>p-value</th><th>verdict</th><th>new categories</th>"
            f"<th>why</th></tr>{rows}</table>{skipped}")


def _columns_table(columns: list[dict[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td>{_e(c['column'])}</td><td>{_e(c['kind'])}</td><td>{_e(c['role'] or '')}"
        f"</td><td>{c['count']}</td><td>{c['null_fraction']:.1%}</td><td>{c['distinct']}</td>"
        f"<td>{_e(c.get('min_time')) or _num(c['min'])}</td><td>{_num(c['median'])}</td>"
        f"<td>{_e(c.get('max_time')) or _num(c['max'])}</td>"
        f"<td>{_num(c['mean'])}</td><td>{_num(c['std'])}</td><td>{_e(c['top'] or '')}</td></tr>"
        for c in columns)
    return ("<h2>Columns (the table as of this version)</h2><table><tr><th>column</th>"
            "<th>kind</th><th>role</th><th>rows</th><th>missing</th><th>distinct</th>"
            "<th>min</th><th>median</th><th>max</th><th>mean</th><th>std</th><th>top</th>"
            f"</tr>{rows}</table>")


def _checks_figure(checks: dict[str, Any]) -> go.Figure | None:
    if not checks["items"]:
        return None
    names = [c["name"] for c in checks["items"]]
    figure = go.Figure([
        go.Bar(name="passed", x=names, y=[c["passed"] for c in checks["items"]],
               marker_color="#2ca02c"),
        go.Bar(name="failed", x=names, y=[c["failed"] for c in checks["items"]],
               marker_color="#d62728"),
    ])
    figure.update_layout(title="Checks: rows passed / failed", barmode="stack", height=360)
    return figure


def _quarantine_figure(quarantine: dict[str, Any]) -> go.Figure | None:
    if not quarantine["reasons"]:
        return None
    figure = go.Figure(go.Bar(x=list(quarantine["reasons"]),
                              y=list(quarantine["reasons"].values()), marker_color="#ff7f0e"))
    figure.update_layout(title="Quarantined rows by reason", height=320)
    return figure


def _column_figure(name: str, snapshot: Profile, reference: Profile | None,
                   current: Profile | None) -> go.Figure | None:
    column = snapshot.columns[name]
    if column.valid == 0:
        return None
    pairs = [("table as of this version", column, "current")]
    if reference is not None and current is not None and name in reference.columns \
            and name in current.columns and current.columns[name].valid:
        pairs = [("before this version", reference.columns[name], "reference"),
                 ("rows added by this version", current.columns[name], "current")]
    figure = go.Figure()
    edges = default_edges(pairs[0][1]) if column.kind != "categorical" else None
    labels = None
    for label, item, colour in pairs:
        dist = _distribution(item, edges)
        if dist["type"] == "categories":
            labels = labels or dist["labels"]
            counts = dict(zip(dist["labels"], dist["counts"], strict=True))
            y = [counts.get(k, 0) / max(item.valid, 1) for k in labels]
            figure.add_bar(name=label, x=labels, y=y, marker_color=_COLOURS[colour])
        else:
            centres = [(a + b) / 2 for a, b in zip(dist["edges"], dist["edges"][1:],
                                                   strict=False)]
            if column.kind == "temporal":
                centres = [_iso(c) for c in centres]
            total = max(sum(dist["counts"]), 1)
            figure.add_bar(name=label, x=centres, y=[c / total for c in dist["counts"]],
                           marker_color=_COLOURS[colour], opacity=0.7)
    figure.update_layout(title=f"{name} ({column.kind})", barmode="overlay"
                         if column.kind != "categorical" else "group",
                         yaxis_title="share of rows", height=300)
    return figure


def _iso(epoch_seconds: float | None) -> str | None:
    if epoch_seconds is None:
        return None
    return dt.datetime.fromtimestamp(epoch_seconds, dt.UTC).isoformat(timespec="seconds")


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _num(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return _e(value)


_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem;font-size:.9rem}
td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f4} tr.fail td{background:#fde8e8}
.badge{padding:.15rem .5rem;border-radius:.3rem;color:#fff;font-weight:600}
.badge.ok{background:#2ca02c} .badge.bad{background:#d62728} .muted{color:#777}
"""
