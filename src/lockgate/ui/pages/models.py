"""The Models page: registry versions, stages and aliases, gate history, model card and
evaluation charts, and the link from a model to the data it was trained on.

Registry data comes from the registry's own reader (:class:`RegistryReader`) and trained
models from the store: the page renders records, it runs no SQL.
"""

from __future__ import annotations

from typing import Any

from lockgate.artifacts import ArtifactStore
from lockgate.data.tables import rows_at
from lockgate.errors import LockgateError, NotFoundError
from lockgate.registry.errors import ModelNotFoundError
from lockgate.registry.model_version import ModelVersion, RegistryReader
from lockgate.store import Store
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
from lockgate.ui.viewer import Viewer

MAX_TRAINED = 50


def render_list(store: Store, viewer: Viewer | None = None) -> str:
    """Registered models with their versions, then recently trained models (those the
    ``viewer`` may see)."""
    viewer = viewer or Viewer()
    registered = [v for v in RegistryReader(store).all_versions() if viewer.sees_model(v.name)]
    trained = store.runs_that_logged("model", limit=MAX_TRAINED, within=viewer.within(store))
    if not registered and not trained:
        return page("Models", empty(
            "No models yet.",
            "Train one with <code>lockgate.modeling.train(...)</code> (it logs a "
            "<code>model</code> artifact) and register it with <code>lockgate models "
            "register RUN_ID --name NAME</code>.",
        ), active="/models")
    parts = []
    if registered:
        rows = [[link(f"/models/{v.name}/{v.version}", v.ref), status_badge(v.stage),
                 esc(", ".join(v.aliases)), esc(v.details.get("dataset")),
                 esc(_primary(v.details)), esc(fmt_time(v.created_at))]
                for v in registered]
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
    reader = RegistryReader(store)
    try:
        mv = reader.get(name, version)
    except ModelNotFoundError:
        raise NotFoundError(f"No registered model version `{name}@{version}`. See /models."
                            ) from None
    parts = [kv_table({"stage": mv.stage, "aliases": ", ".join(mv.aliases) or "-",
                       "created by": mv.created_by, "created (UTC)": fmt_time(mv.created_at),
                       "trained on": mv.details.get("dataset")}, ident="model-version")]
    run_id = mv.run_id
    if run_id:
        parts.append(f"<p>Training run {link(f'/runs/{run_id}', run_id)} · "
                     f"{link(f'/lineage?run={run_id}', 'lineage graph →')}</p>")
        parts.append(section("Training data", _training_data(store, run_id)))
    parts.append(section("Gate history", _transitions(reader, name, version)))
    evaluation = _evaluation(store, artifacts, run_id) or mv.details
    parts.append(section("Evaluation", _evaluation_block(evaluation)))
    parts.append(section("Model card", _card(mv, evaluation)))
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


def _card(mv: ModelVersion, evaluation: dict[str, Any]) -> str:
    from lockgate.registry.model_card import render_card

    # the card as the evaluation tells it; the package's own card also lists the inputs
    text = render_card(mv.name, mv.version, evaluation=evaluation, contract=None,
                       lineage={"dataset": mv.details.get("dataset"), "run_id": mv.run_id},
                       environment={})
    return f"<pre id='model-card'>{esc(text)}</pre>"


def _transitions(reader: RegistryReader, name: str, version: int) -> str:
    transitions = reader.transitions(name, version)
    if not transitions:
        return empty("No stage changes yet.")
    out = []
    for tr in transitions:
        gate_text = "; ".join(
            f"{g.get('name', '?')}: {'pass' if g.get('passed') else 'FAIL'}"
            + (f" ({g.get('reason') or g.get('message')})"
               if g.get("reason") or g.get("message") else "")
            for g in tr.gates if isinstance(g, dict)) or "-"
        out.append([esc(fmt_time(tr.created_at)), esc(tr.action),
                    esc(f"{tr.from_stage or '-'} → {tr.to_stage}"), esc(tr.actor),
                    esc(tr.reason), esc(gate_text)])
    return table(["when (UTC)", "action", "stage", "actor", "reason", "gates"], out,
                 ident="gate-history")


def registered_count(store: Store) -> int:
    """How many model versions the registry holds (0 when the registry is absent)."""
    return RegistryReader(store).version_count()


def _primary(details: dict[str, Any]) -> str:
    key = details.get("primary_metric")
    value = (details.get("metrics") or {}).get(key) if key else None
    return f"{key} = {fmt_value(value)}" if key else "-"
