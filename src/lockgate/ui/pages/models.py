"""The Models page: registry versions, stages and aliases, gate history, model card and
evaluation charts, and the link from a model to the data it was trained on.

Registry data is read (read-only SQL) from the registry stage's tables, imported lazily
so the page still lists trained models (runs that logged a ``model`` artifact) when the
registry is absent.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from lockgate.artifacts import ArtifactStore
from lockgate.data.tables import rows_at
from lockgate.errors import LockgateError, NotFoundError
from lockgate.store import Store
from lockgate.store import schema as t
from lockgate.ui import charts
from lockgate.ui.html import (
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
)

MAX_TRAINED = 50


def render_list(store: Store) -> str:
    """Registered models with their versions, then recently trained models."""
    registered = _registry_rows(store)
    trained = _trained_runs(store)
    if not registered and not trained:
        return page("Models", empty(
            "No models yet.",
            "Train one with <code>lockgate.modeling.train(...)</code> (it logs a "
            "<code>model</code> artifact) and register it with <code>lockgate models "
            "register RUN_ID --name NAME</code>.",
        ), active="/models")
    parts = []
    if registered:
        rows = [[link(f"/models/{r['model_name']}/{r['version']}",
                      f"{r['model_name']}@{r['version']}"), status_badge(r["stage"]),
                 esc(", ".join(r["aliases"])), esc(r["details"].get("dataset")),
                 esc(_primary(r["details"])), esc(fmt_time(r["created_at"]))]
                for r in registered]
        parts.append(section("Registry", table(
            ["version", "stage", "aliases", "trained on", "primary metric", "created (UTC)"],
            rows, ident="registry-table")))
    else:
        parts.append(section("Registry", empty(
            "No registered model versions.",
            "Register a trained model with <code>lockgate models register</code>.")))
    if trained:
        rows = [[link(f"/models/run/{run.id}", run.name), esc(run.experiment),
                 status_badge(run.status), esc(fmt_time(run.start_time))] for run in trained]
        parts.append(section("Trained models (runs that logged a model)", table(
            ["training run", "experiment", "status", "started (UTC)"], rows,
            ident="trained-table")))
    return page("Models", "".join(parts), active="/models")


def render_version(store: Store, artifacts: ArtifactStore, name: str, version: int) -> str:
    """One registered version: stage, gates, card, evaluation and training data."""
    rows = [r for r in _registry_rows(store, name) if r["version"] == version]
    if not rows:
        raise NotFoundError(f"No registered model version `{name}@{version}`. See /models.")
    row = rows[0]
    parts = [kv_table({"stage": row["stage"], "aliases": ", ".join(row["aliases"]) or "-",
                       "created by": row["created_by"], "created (UTC)":
                       fmt_time(row["created_at"]), "trained on": row["details"].get("dataset")},
                      ident="model-version")]
    run_id = row["run_id"]
    if run_id:
        parts.append(f"<p>Training run {link(f'/runs/{run_id}', run_id)} · "
                     f"{link(f'/lineage?run={run_id}', 'lineage graph →')}</p>")
        parts.append(section("Training data", _training_data(store, row["run_id"])))
    parts.append(section("Gate history", _transitions(store, name, version)))
    evaluation = _evaluation(store, artifacts, row["run_id"]) or row["details"]
    parts.append(section("Evaluation", _evaluation_block(evaluation)))
    parts.append(section("Model card", _card(name, version, evaluation, row)))
    return page(f"Model {name}@{version}", "".join(parts), active="/models")


def render_trained(store: Store, artifacts: ArtifactStore, run_id: str) -> str:
    """A trained model that is not (necessarily) registered: evaluation and training data."""
    run = store.get_run(run_id)
    evaluation = _evaluation(store, artifacts, run.id)
    parts = [
        f"<p>Training run {link(f'/runs/{run.id}', run.name)} {status_badge(run.status)} · "
        f"{link(f'/lineage?run={run.id}', 'lineage graph →')}</p>",
        section("Training data", _training_data(store, run.id)),
        section("Evaluation", _evaluation_block(evaluation) if evaluation else empty(
            "This run logged no evaluation artifact.")),
    ]
    return page(f"Model from {run.name}", "".join(parts), active="/models")


def _training_data(store: Store, run_id: str) -> str:
    edges = [e for e in store.lineage(run_id=run_id)
             if e.direction == "consumed" and e.dataset_version_id is not None]
    if not edges:
        return empty("The training run recorded no dataset version it read.")
    rows = []
    for edge in edges:
        version = store.dataset_version_by_id(edge.dataset_version_id or 0)
        rows.append([link(f"/data/{version.table_name}/v/{version.version}", version.ref,
                          class_="training-data"), status_badge(version.validation_status),
                     f"{rows_at(store, version):,}", esc(edge.note)])
    return table(["dataset version", "validation", "rows", "note"], rows,
                 ident="training-data")


def _evaluation(store: Store, artifacts: ArtifactStore, run_id: str | None) -> dict[str, Any]:
    if not run_id:
        return {}
    for record in reversed(store.artifacts(run_id)):
        if record.name == "evaluation" and record.materializer == "json":
            try:
                value = artifacts.load(record)
            except LockgateError:
                return {}
            return value if isinstance(value, dict) else {}
    return {}


def _evaluation_block(evaluation: dict[str, Any]) -> str:
    metrics = {k: v for k, v in (evaluation.get("metrics") or {}).items()
               if isinstance(v, int | float)}
    if not metrics:
        return empty("No evaluation metrics recorded.")
    parts = [kv_table({"problem type": evaluation.get("problem_type"),
                       "primary metric": evaluation.get("primary_metric"),
                       "beats baseline": evaluation.get("beats_baseline"),
                       "leak free": evaluation.get("leak_free"),
                       "splitter": evaluation.get("splitter")})]
    parts.append(chart(charts.interval_figure("Holdout metrics with 95% intervals", metrics,
                                              evaluation.get("intervals") or {}),
                       ident="evaluation-chart"))
    baseline = evaluation.get("baseline_metrics") or {}
    rows = [[esc(k), esc(fmt_value(v)), esc(fmt_value(baseline.get(k))),
             esc(fmt_value((evaluation.get("intervals") or {}).get(k)))]
            for k, v in sorted(metrics.items())]
    parts.append(table(["metric", "holdout", "baseline", "95% interval"], rows,
                       ident="evaluation-table"))
    cv = {k: v for k, v in (evaluation.get("cv_metrics") or {}).items() if isinstance(v, list)}
    if cv:
        parts.append(chart({"data": [{"type": "box", "name": k, "y": v} for k, v in cv.items()],
                            "layout": charts.layout("Cross-validation folds")}, ident="cv-chart"))
    findings = evaluation.get("findings") or []
    if findings:
        parts.append(table(["severity", "code", "message"], [
            [status_badge(f.get("severity")), esc(f.get("code")), esc(f.get("message"))]
            for f in findings], ident="findings"))
    return "".join(parts)


def _card(name: str, version: int, evaluation: dict[str, Any], row: dict[str, Any]) -> str:
    from lockgate.registry.model_card import render_card

    # the card as the evaluation tells it; the package's own card also lists the inputs
    text = render_card(name, version, evaluation=evaluation, contract=None,
                       lineage={"dataset": row["details"].get("dataset"),
                                "run_id": row["run_id"]}, environment={})
    return f"<pre id='model-card'>{esc(text)}</pre>"


def _transitions(store: Store, name: str, version: int) -> str:
    # Store.open upgrades every stage's tables, so a failure here is a bug to see
    from lockgate.store.tables_registry import model_transitions as mt
    with store.read() as conn:
        rows = conn.execute(sa.select(mt).where(mt.c.model_name == name,
                                                mt.c.version == version)
                            .order_by(mt.c.id)).all()
    if not rows:
        return empty("No stage changes yet.")
    out = []
    for r in rows:
        m = r._mapping
        gates = json.loads(m["gates"] or "[]")
        gate_text = "; ".join(
            f"{g.get('name', '?')}: {'pass' if g.get('passed') else 'FAIL'}"
            + (f" ({g.get('reason') or g.get('message')})"
               if g.get("reason") or g.get("message") else "")
            for g in gates if isinstance(g, dict)) or "-"
        out.append([esc(fmt_time(m["created_at"])), esc(m["action"]),
                    esc(f"{m['from_stage'] or '-'} → {m['to_stage']}"), esc(m["actor"]),
                    esc(m["reason"]), esc(gate_text)])
    return table(["when (UTC)", "action", "stage", "actor", "reason", "gates"], out,
                 ident="gate-history")


def _registry_rows(store: Store, name: str | None = None) -> list[dict[str, Any]]:
    from lockgate.store.tables_registry import model_aliases as ma
    from lockgate.store.tables_registry import model_versions as mv
    query = sa.select(mv).order_by(mv.c.model_name, mv.c.version.desc())
    if name is not None:
        query = query.where(mv.c.model_name == name)
    with store.read() as conn:  # the registry's tables exist once Store.open ran
        versions = conn.execute(query).all()
        aliases = conn.execute(sa.select(ma.c.model_name, ma.c.alias, ma.c.version)).all()
    out = []
    for row in versions:
        m = dict(row._mapping)
        m["details"] = json.loads(m.get("details") or "{}")
        m["aliases"] = sorted(a for n, a, v in aliases if n == m["model_name"]
                              and v == m["version"])
        out.append(m)
    return out


def _trained_runs(store: Store) -> list[Any]:
    with store.read() as conn:
        ids = list(conn.execute(
            sa.select(t.artifacts.c.run_id).where(t.artifacts.c.name == "model",
                                                  t.artifacts.c.run_id.is_not(None))
            .group_by(t.artifacts.c.run_id).order_by(sa.func.max(t.artifacts.c.id).desc())
            .limit(MAX_TRAINED)).scalars())
    return [store.get_run(i) for i in ids]


def registered_count(store: Store) -> int:
    """How many model versions the registry holds (0 when the registry is absent)."""
    return len(_registry_rows(store))


def _primary(details: dict[str, Any]) -> str:
    key = details.get("primary_metric")
    value = (details.get("metrics") or {}).get(key) if key else None
    return f"{key} = {fmt_value(value)}" if key else "-"
