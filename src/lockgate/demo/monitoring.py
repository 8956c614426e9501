"""Quickstart section: watch the demo model in production. Clean traffic raises
nothing; drifted traffic raises one alert with its root cause; ground truth showing the
model was wrong raises a performance alert, whose rule starts a retraining that goes
through the promotion gates (never straight to production). Ends with the monitoring
report (HTML + JSON) in the quickstart folder.

Windows here are seconds long (buckets of 1 s) so the section runs in real time; in
production they are minutes to hours (`lockgate monitor NAME --window 1h`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import polars as pl
from rich.table import Table
from sklearn.base import clone

from lockgate.data.table import scan as scan_table
from lockgate.demo.context import DemoContext
from lockgate.errors import LockgateError
from lockgate.monitoring import (
    JsonlSink,
    MemorySink,
    MonitorConfig,
    MonitorRun,
    WatchedModel,
    feature_importance,
    parse_config,
    run_monitor,
    watch,
    write_report,
)
from lockgate.monitoring.labeled_table import update_labeled
from lockgate.pipelines import Pipeline, node, step
from lockgate.quality import Profile
from lockgate.registry import Registry
from lockgate.serving import BackgroundServer, ServeConfig

TRAFFIC_ROWS = 300
SHIFTED_FEATURES = 2


def run(ctx: DemoContext) -> None:
    """Send clean then drifted traffic and bad news to the production model, and show
    what the monitor says and does."""
    ctx.heading("Monitoring: drift, live performance, alerts, root cause, gated retraining")
    name = _production_model(ctx)
    model = watch(f"{name}@production", ctx.settings)
    rows = _traffic(ctx, model)
    sink = MemorySink()
    with _server(ctx, name) as url, httpx.Client(base_url=url, timeout=60) as client:
        clean_start = _next_second()
        _predict(client, rows)
        _wait_rows(ctx, name, "_predictions", clean_start)
        drift_start = _next_second()
        config = _config(ctx, sink, drift_start - clean_start, name)
        clean = run_monitor(model, settings=ctx.settings, config=config,
                            end=drift_start - 0.5)
        _show(ctx, "clean traffic", clean)
        answers = _predict(client, _shift(model, rows))
        _wait_rows(ctx, name, "_predictions", drift_start)
        end = time.time()
        config = _config(ctx, sink, math.ceil(end) - drift_start, name)
        drifted = run_monitor(model, settings=ctx.settings, config=config, end=end)
        _show(ctx, "drifted traffic", drifted)
        _feedback(client, model, answers)
        _wait_rows(ctx, name, "_feedback", drift_start)
        labeled = run_monitor(model, settings=ctx.settings, config=config, end=end)
        _show(ctx, "ground truth arrived", labeled)
        _expect_no_new_data(ctx, labeled)
        _show_shadow(ctx, labeled)
    _labels_become_data(ctx, model)
    html_path, json_path = write_report(ctx.store, name, ctx.workdir)
    ctx.results.update(monitoring_model=name, monitoring_report_html=str(html_path),
                       monitoring_report_json=str(json_path),
                       monitoring_alerts=[(e.rule, e.kind) for e in sink.events])
    ctx.console.print(f"  Alerts sent: {len(sink.events)} (also in "
                      f"{ctx.workdir / 'alerts.jsonl'}); report: {html_path}")
    ctx.hint("Watch it continuously", f"lockgate monitor {name} --window 1h --every 5m")
    ctx.hint("Write the report", f"lockgate monitor report {name}")


@contextlib.contextmanager
def _server(ctx: DemoContext, name: str) -> Iterator[str]:
    """The registry section's running server, else one started here (and stopped)."""
    url = ctx.results.get("serving_url")
    if isinstance(url, str):
        yield url
        return
    config = ServeConfig(f"{name}@production", port=0, log_flush_seconds=0.2)
    with BackgroundServer(config, ctx.settings) as server:
        yield server.url


def _production_model(ctx: DemoContext) -> str:
    registry = Registry(ctx.store, ctx.settings)
    hinted = [ctx.results.get(k) for k in ("registry_model", "model_name", "serving_model")]
    names = [n for n in hinted if isinstance(n, str)] + registry.models()
    for name in names:
        if registry.alias_version(name, "production") is not None:
            return name
    raise LockgateError("No model is in production yet: run the registry section of the "
                        "quickstart first (`lockgate quickstart`).")


def _traffic(ctx: DemoContext, model: WatchedModel) -> pl.DataFrame:
    """Rows shaped like production requests: the model's own training table."""
    from lockgate.data import read

    table = model.lineage.get("table") or ctx.results.get("data_table", "churn")
    frame = read(str(table), model.lineage.get("dataset_version"), settings=ctx.settings)
    frame = frame.select(model.features).drop_nulls()
    return frame.sample(min(TRAFFIC_ROWS, frame.height), seed=0,
                        with_replacement=frame.height < TRAFFIC_ROWS)


def _shift(model: WatchedModel, rows: pl.DataFrame) -> pl.DataFrame:
    """Move the most important numeric features by two reference standard deviations
    (within the contract's bounds): the drift a changed upstream source would cause."""
    importance = feature_importance(model)
    reference = Profile.from_dict(model.reference_profile)
    numeric = [f for f in sorted(importance, key=lambda f: -importance[f])
               if model.contract.column(f).is_numeric and f in reference.columns]
    out = rows
    for feature in numeric[:SHIFTED_FEATURES]:
        spec, column = model.contract.column(feature), reference[feature]
        moved = pl.col(feature) + 2 * (column.std or 1.0)
        moved = moved.clip(spec.min, spec.max)
        typed = moved.round(0).cast(pl.Int64) if spec.type == "int" else moved
        out = out.with_columns(typed.alias(feature))
    return out


def _config(ctx: DemoContext, sink: MemorySink, window: float, name: str) -> MonitorConfig:
    config = parse_config({
        "bucket": "1s", "window": f"{int(window)}s", "baseline": f"{int(window)}s",
        "rules": [
            {"name": "input-drift", "measure": "drift.share_drifted", "threshold": 0.2,
             "min_samples": 100},
            {"name": "live-performance", "measure": "performance.degradation",
             "threshold": 0.1, "min_samples": 100,
             "retrain": {"pipeline": "lockgate.demo.monitoring:retrain_pipeline",
                         "params": {"retrain_churn": {
                             "table": name, "location": _location(ctx)}}}},
            {"name": "latency", "measure": "latency.p99_ms", "threshold": 1000,
             "min_samples": 100},
        ]})
    return dataclasses.replace(config, sinks=(sink, JsonlSink(ctx.workdir / "alerts.jsonl")))


@step
def retrain_churn(table: str = "churn", location: dict[str, Any] | None = None
                  ) -> tuple[Any, dict[str, Any]]:
    """Train the production model's estimator again on the newest validated version of
    the table (lockgate.modeling: the training gate, leak checks and evaluation apply).

    ``location`` (home, db_url, artifact_root, data_root) says which lockgate to use:
    passed explicitly because a step runs in a worker process.
    """
    from lockgate.config import Settings
    from lockgate.modeling.training import TrainConfig, train

    settings = Settings(**(location or {}))
    estimator = clone(watch(f"{table}@production", settings).pipeline.steps[-1][1])
    result = train(table, estimator, settings=settings, experiment="quickstart",
                   name="churn-retrained", config=TrainConfig(
                       n_splits=3, inner_splits=2, charts=False, naive=(), bootstrap=100))
    return result.pipeline, result.evaluation.to_dict()


def retrain_pipeline() -> Pipeline:
    """The retraining pipeline a monitoring rule names:
    ``lockgate.demo.monitoring:retrain_pipeline``."""
    return Pipeline("retrain-churn", [node(retrain_churn, outputs=["model", "evaluation"])])


def _location(ctx: DemoContext) -> dict[str, Any]:
    s = ctx.settings
    return {"home": str(Path(s.home).resolve()), "db_url": s.resolved_db_url,
            "artifact_root": str(s.resolved_artifact_root),
            "data_root": str(s.resolved_data_root)}


def _predict(client: httpx.Client, rows: pl.DataFrame) -> list[dict[str, Any]]:
    answers = []
    for chunk in _jsonable(rows).iter_slices(100):
        response = client.post("/predict", json={"records": chunk.to_dicts()})
        if response.status_code != 200:
            raise LockgateError(f"The demo server refused traffic: {response.text[:300]}")
        answers += response.json()["predictions"]
    return answers


def _feedback(client: httpx.Client, model: WatchedModel, answers: list[dict[str, Any]]
              ) -> None:
    """Ground truth saying the model was wrong on four predictions out of five."""
    classes = [str(c.item() if hasattr(c, "item") else c)
               for c in getattr(model.pipeline, "classes_", [])]
    items = []
    for i, answer in enumerate(answers):
        wrong = [c for c in classes if c != answer["prediction"]]
        label = wrong[0] if wrong and i % 5 else answer["prediction"]
        items.append({"request_id": answer["request_id"], "label": label})
    for i in range(0, len(items), 100):
        response = client.post("/feedback", json={"items": items[i:i + 100]})
        if response.status_code != 200:
            raise LockgateError(f"The demo server refused feedback: {response.text[:300]}")


def _jsonable(rows: pl.DataFrame) -> pl.DataFrame:
    casts = []
    for name, dtype in rows.schema.items():
        if dtype == pl.Date:
            casts.append(pl.col(name).dt.strftime("%Y-%m-%d"))
        elif isinstance(dtype, pl.Datetime):
            casts.append(pl.col(name).dt.strftime("%Y-%m-%dT%H:%M:%S+00:00"))
    return rows.with_columns(casts) if casts else rows


def _wait_rows(ctx: DemoContext, name: str, table: str, since: float,
               expected: int = TRAFFIC_ROWS) -> None:
    import datetime as dt

    path = ctx.settings.resolved_data_root / table / name
    start = dt.datetime.fromtimestamp(since, tz=dt.UTC)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (path / "_delta_log").is_dir():
            count = (scan_table(path).filter(pl.col("timestamp") >= start)
                     .select(pl.len()).collect().item())
            if count >= expected:
                return
        time.sleep(0.1)
    raise LockgateError(f"The server did not log {expected} rows to {path} within 60 s.")


def _next_second() -> float:
    boundary = math.floor(time.time()) + 1.0
    time.sleep(max(0.0, boundary - time.time()) + 0.01)
    return boundary


def _show(ctx: DemoContext, title: str, result: MonitorRun) -> None:
    window = next(iter(result.windows.values()))
    rules = ", ".join(f"{r.rule.name}: {r.outcome.state}" for r in result.rules)
    ctx.console.print(f"[bold]{title}[/]: {window.n_predictions} predictions, "
                      f"{window.n_labeled} labeled - {rules}")
    if not result.alerts:
        ctx.console.print("  no new alert")
    for report in result.alerts:
        cause = report.incident.root_cause if report.incident else {}
        ctx.console.print(f"  [bold red]ALERT[/] {report.rule.name}: "
                          f"{report.outcome.describe(report.rule.measure)}")
        ctx.console.print(f"  root cause: {cause.get('summary', '')}")
        _feature_table(ctx, cause.get("features", [])[:5])
        if report.retraining:
            _show_retraining(ctx, report.retraining)


def _show_shadow(ctx: DemoContext, result: MonitorRun) -> None:
    """The shadow version on the same requests, when the registry section set one."""
    if "batch_scoring" not in ctx.results:  # the section ran alone, without a shadow
        return
    window = next(iter(result.windows.values()))
    shadow = window.shadow
    ctx.expect(shadow is not None and shadow["n"] > 0, "monitoring",
               "the shadow version scored on live traffic", f"shadow report {shadow}")
    if shadow is None:
        return
    line = (f"  Shadow v{shadow['shadow_versions'][0]} on the same {shadow['n']} requests: "
            f"agrees with production on {shadow['agreement']:.0%}")
    paired = shadow["labeled"]
    if paired and paired["interval"]:
        low, high = paired["interval"]
        line += (f"; on {paired['n']} labeled requests accuracy {paired['shadow_accuracy']:.3f}"
                 f" vs {paired['primary_accuracy']:.3f} (difference "
                 f"{paired['difference']:+.3f}, 95% CI [{low:+.3f}, {high:+.3f}])")
    ctx.console.print(line)


def _expect_no_new_data(ctx: DemoContext, result: MonitorRun) -> None:
    """The model got worse, but nothing was ingested since it was trained: retraining on
    the same rows would only reproduce it, so it is not started."""
    decisions = [r.retraining["decision"] for r in result.alerts if r.retraining]
    ctx.expect(bool(decisions) and decisions[0]["basis"] == "no_new_data", "monitoring",
               "the performance alert's retraining refused for lack of new data",
               f"retraining decisions {decisions}")


def _labels_become_data(ctx: DemoContext, model: WatchedModel) -> None:
    """Ground truth lands as a validated, versioned table training can read."""
    update = update_labeled(model, settings=ctx.settings)
    ctx.console.print(
        f"  Labels became data: {update.ref} holds {update.rows_landed} labeled "
        f"predictions ({update.rows_quarantined} quarantined), each with its request_id, "
        "model version and times: new evidence a retraining may use "
        f"(`lockgate data show {update.table}`)")
    ctx.expect(update.version is not None and update.rows_landed >= TRAFFIC_ROWS,
               "monitoring", f"at least {TRAFFIC_ROWS} labeled rows landed as a version",
               f"{update.rows_landed} rows, version {update.version}")
    ctx.results["labeled_table"] = update.ref


def _feature_table(ctx: DemoContext, features: list[dict[str, Any]]) -> None:
    if not features:
        return
    table = Table(title="Features by drift x importance")
    for column in ("feature", "PSI", "importance", "score", "drifted"):
        table.add_column(column)
    for f in features:
        table.add_row(f["name"], f"{f['psi']:.3f}", f"{f['importance']:.1%}",
                      f"{f['score']:.3f}", "yes" if f["drifted"] else "")
    ctx.console.print(table)


def _show_retraining(ctx: DemoContext, retraining: dict[str, Any]) -> None:
    decision = retraining["decision"]
    ctx.console.print(f"  retraining recommended: {decision['recommended']} "
                      f"({decision['reason']})")
    if retraining.get("error"):
        ctx.console.print(f"  retraining did not finish: {retraining['error']}")
        return
    if not retraining.get("triggered"):
        return
    for gate in retraining["gates"]:
        mark = "[green]pass[/]" if gate["passed"] else "[red]fail[/]"
        ctx.console.print(f"    gate {gate['name']}: {mark} {gate['reason'][:110]}")
    ctx.console.print(f"  pipeline {retraining['pipeline']} ran as run "
                      f"{retraining['pipeline_run_id']} (`lockgate pipelines show "
                      f"{retraining['pipeline_run_id']}`)")
    stage = retraining.get("promoted_to") or "candidate (refused by the gates)"
    ctx.console.print(f"  new version v{retraining['model_version']} -> {stage}; "
                      "production is unchanged until `lockgate models promote`.")


