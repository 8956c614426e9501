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
import datetime as dt
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import numpy as np
import polars as pl
from rich.table import Table
from sklearn.base import clone

from lockgate.data.table import scan as scan_table
from lockgate.demo.context import DemoContext
from lockgate.demo.dataset import churn_frame
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
from lockgate.monitoring.root_cause import model_importance
from lockgate.monitoring.shadow_report import shadow_evidence
from lockgate.pipelines import Pipeline, node, step
from lockgate.quality import Profile
from lockgate.registry import GateConfig, Registry, promote
from lockgate.registry.gates import ShadowPolicy
from lockgate.registry.shadow_period import ShadowEvidence, shadow_period
from lockgate.serving import BackgroundServer, ServeConfig
from lockgate.serving.prediction_log import context_columns

TRAFFIC_ROWS = 300
REGIME_ROWS = 600
REGIME_DAYS = 184
#: The retraining's window of event time: about the time since the world changed (the
#: new regime plus the old regime's last days), so the old answers do not outvote it.
RETRAIN_WINDOW = "140d"
#: What the staged challenger must show as NAME@shadow before production.
SHADOW_POLICY = ShadowPolicy(min_predictions=200, min_labeled=100)
_NO_SHADOW = ShadowEvidence(0, 0, 0.0, None, 0)
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
        ctx.expect(not clean.alerts, "monitoring", "no alert on clean traffic",
                   f"alerts {[r.rule.name for r in clean.alerts]}")
        regime = _new_regime(ctx, model, rows)
        target = str(model.contract.target)
        answers = _predict(client, regime.drop(target))
        _wait_rows(ctx, name, "_predictions", drift_start, regime.height)
        end = time.time()
        config = _config(ctx, sink, math.ceil(end) - drift_start, name)
        drifted = run_monitor(model, settings=ctx.settings, config=config, end=end)
        _show(ctx, "the world changed (drifted traffic)", drifted)
        fired = [r.rule.name for r in drifted.alerts]
        ctx.expect("input-drift" in fired, "monitoring",
                   "the input-drift alert on the drifted traffic", f"alerts fired: {fired}")
        _feedback(client, answers, regime[target])
        _wait_rows(ctx, name, "_feedback", drift_start, regime.height)
        labeled = run_monitor(model, settings=ctx.settings, config=config, end=end)
        _show(ctx, "ground truth arrived", labeled)
        _expect_champion_degraded(ctx, labeled)
        _expect_no_new_data(ctx, labeled)
        _show_shadow(ctx, labeled)
        _labels_become_data(ctx, model, regime.height)
        retrained = run_monitor(model, settings=ctx.settings, config=config, end=end)
        _show(ctx, "labels became training data", retrained)
        _expect_challenger_won(ctx, retrained, name)
        _shadow_period(ctx, client, model, rows)
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
    """Rows shaped like production requests: the model's own training table, with the
    customer id and event time a real request carries (logged, so a labeled prediction
    can become a training row)."""
    frame = _training_rows(ctx, model)
    frame = frame.select(*model.features, *context_columns(model.contract, model.features)
                         ).drop_nulls()
    return frame.sample(min(TRAFFIC_ROWS, frame.height), seed=0,
                        with_replacement=frame.height < TRAFFIC_ROWS)


def _training_rows(ctx: DemoContext, model: WatchedModel) -> pl.DataFrame:
    from lockgate.data import read

    table = model.lineage.get("table") or ctx.results.get("data_table", "churn")
    return read(str(table), model.lineage.get("dataset_version"), settings=ctx.settings)


def _new_regime(ctx: DemoContext, model: WatchedModel, rows: pl.DataFrame, *,
                n: int = REGIME_ROWS, skip: int = 0) -> pl.DataFrame:
    """The world changes: new customers, in the six months after the training data,
    whose most important features moved (drift), and who now churn for a different
    reason (a competitor's offer takes the basic-plan customers, with 10% noise): the
    champion never saw this, the labels that come back teach it. Returns the requests
    and (as the target column) the truth; ``skip`` continues after that many new
    customers."""
    history = _training_rows(ctx, model)
    target, entity = str(model.contract.target), model.contract.entity
    event_time = model.contract.event_time
    first = int(cast(int, history[entity].max())) + 1 + skip if entity else 1
    fresh = _typed(churn_frame(n, seed=17 + skip, start_id=first), history)
    shifted = _shift(model, fresh.select(rows.columns))
    rng = np.random.default_rng(17 + skip)
    noise = rng.random(n) < 0.1
    churned = (shifted["plan"] == "basic").to_numpy() ^ noise
    columns = [pl.Series(target, churned)]
    if event_time:
        latest = cast(dt.datetime, history[event_time].max())
        step = dt.timedelta(days=REGIME_DAYS) / REGIME_ROWS
        columns.append(pl.Series(event_time, [latest + step * (skip + i + 1)
                                              for i in range(n)]))
    return shifted.with_columns(columns)


def _typed(text: pl.DataFrame, like: pl.DataFrame) -> pl.DataFrame:
    """New customers (text columns, as the demo's source files hold them) in the types of
    the landed table."""
    casts = []
    for name, dtype in like.schema.items():
        if name not in text.columns:
            continue
        column = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            casts.append(column.str.to_datetime(time_zone="UTC").cast(dtype))
        elif dtype == pl.Date:
            casts.append(column.str.to_date())
        elif dtype == pl.Boolean:
            casts.append(column == "true")
        else:
            casts.append(column.cast(dtype))
    return text.with_columns(casts)


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
                             "table": name, "location": _location(ctx),
                             "window": RETRAIN_WINDOW}}}},
            {"name": "latency", "measure": "latency.p99_ms", "threshold": 1000,
             "min_samples": 100},
        ]})
    return dataclasses.replace(config, sinks=(sink, JsonlSink(ctx.workdir / "alerts.jsonl")))


@step
def retrain_churn(table: str = "churn", location: dict[str, Any] | None = None,
                  window: str | None = None) -> tuple[Any, dict[str, Any]]:
    """Train the production model's estimator again on its training data plus the
    labeled feedback that came back since (both through the training gate; the newest
    labels held back for the replay); leak checks and evaluation apply. ``window``
    keeps only the rows of that last stretch of event time: after the world changed,
    the old regime's rows would mostly teach the old answers.

    ``location`` (home, db_url, artifact_root, data_root, and the server's
    tracking_uri when there is one) says which lockgate to use: passed explicitly
    because a step runs in a worker process.
    """
    from lockgate.config import Settings
    from lockgate.modeling.training import TrainConfig, train_frame
    from lockgate.monitoring.retraining_data import retraining_data

    settings = Settings(**(location or {}))
    champion = watch(f"{table}@production", settings)
    estimator = clone(champion.pipeline.steps[-1][1])
    data = retraining_data(champion.contract, str(champion.lineage["table"]),
                           champion.lineage.get("dataset_version"), champion.name,
                           settings=settings, window=window)
    result = train_frame(data.frame, champion.contract, estimator,
                         settings=settings, experiment="quickstart", name="churn-retrained",
                         dataset=data.dataset(), config=TrainConfig(
                             n_splits=3, inner_splits=2, charts=False, naive=(),
                             bootstrap=100))
    return result.pipeline, result.evaluation.to_dict()


def retrain_pipeline() -> Pipeline:
    """The retraining pipeline a monitoring rule names:
    ``lockgate.demo.monitoring:retrain_pipeline``."""
    return Pipeline("retrain-churn", [node(retrain_churn, outputs=["model", "evaluation"])])


def _location(ctx: DemoContext) -> dict[str, Any]:
    """Which lockgate the retraining step uses: the quickstart's, server included (a
    step without the server's address would write beside it, to the shared home)."""
    s = ctx.settings
    found = {"home": str(Path(s.home).resolve()), "db_url": s.resolved_db_url,
             "artifact_root": str(s.resolved_artifact_root),
             "data_root": str(s.resolved_data_root)}
    return {**found, "tracking_uri": s.tracking_uri} if s.tracking_uri else found


def _predict(client: httpx.Client, rows: pl.DataFrame) -> list[dict[str, Any]]:
    answers = []
    for chunk in _jsonable(rows).iter_slices(100):
        response = client.post("/predict", json={"records": chunk.to_dicts()})
        if response.status_code != 200:
            raise LockgateError(f"The demo server refused traffic: {response.text[:300]}")
        answers += response.json()["predictions"]
    return answers


def _feedback(client: httpx.Client, answers: list[dict[str, Any]], truth: pl.Series
              ) -> None:
    """The ground truth of the new regime, as it comes back for each request."""
    items = [{"request_id": answer["request_id"], "label": str(label)}
             for answer, label in zip(answers, truth.to_list(), strict=True)]
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
    for report in result.rules:  # an open incident whose retraining waited for new data
        if report.retraining and report not in result.alerts:
            ctx.console.print(f"  {report.rule.name} still firing; new data arrived:")
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


def _labels_become_data(ctx: DemoContext, model: WatchedModel, expected: int) -> None:
    """Ground truth lands as a validated, versioned table training can read."""
    update = update_labeled(model, settings=ctx.settings)
    ctx.console.print(
        f"  Labels became data: {update.ref} holds {update.rows_landed} labeled "
        f"predictions ({update.rows_quarantined} quarantined), each with its features, "
        "customer id and event time (a training row), request_id, model version and "
        f"times: new evidence a retraining may use (`lockgate data show {update.table}`)")
    ctx.expect(update.version is not None and update.rows_landed >= expected,
               "monitoring", f"at least {expected} labeled rows landed as a version",
               f"{update.rows_landed} rows, version {update.version}")
    ctx.results["labeled_table"] = update.ref


def _expect_champion_degraded(ctx: DemoContext, result: MonitorRun) -> None:
    """The labels show the champion got worse on the new regime: the performance rule
    fires."""
    fired = [r.rule.name for r in result.alerts] + [
        r.rule.name for r in result.rules if r.outcome.firing]
    ctx.expect("live-performance" in fired, "monitoring",
               "the champion's live performance alert on the new regime",
               f"rules firing: {fired}")


def _expect_challenger_won(ctx: DemoContext, result: MonitorRun, name: str) -> None:
    """Retrained on the champion's data plus the new labels, the challenger beats the
    champion on the holdout and on held-back live traffic, with intervals above 0, and
    the gates move it to staging."""
    runs = [r.retraining for r in result.rules if r.retraining]
    outcome = runs[0] if runs else {}
    _expect_trained_on_labels(ctx, name, outcome)
    gates = {g["name"]: g for g in outcome.get("gates", [])}
    versus = gates.get("champion_challenger", {})
    low = (versus.get("details") or {}).get("ci_low")
    ctx.expect(low is not None and low > 0 and versus.get("passed"), "monitoring",
               "the challenger beats the champion on the holdout (CI above 0)",
               f"champion_challenger gate {versus}")
    interval = ((gates.get("replay") or {}).get("evidence") or {}).get("interval")
    ctx.expect(interval is not None and interval[0] > 0, "monitoring",
               "the challenger beats the champion on replayed live traffic (CI above 0)",
               f"replay {gates.get('replay')}")
    ctx.expect(outcome.get("promoted_to") == "staging", "monitoring",
               "the retrained challenger passed every gate and moved to staging",
               f"retraining outcome {outcome}")
    ctx.results["retrained_version"] = outcome.get("model_version")


def _expect_trained_on_labels(ctx: DemoContext, name: str, outcome: dict[str, Any]
                              ) -> None:
    """The challenger's lineage names the labeled table version that landed, with rows
    trained on and rows held back for the replay: the new evidence, not the champion's
    data again."""
    version = outcome.get("model_version")
    labeled = (watch(f"{name}@{version}", ctx.settings).lineage.get("labeled") or {}
               if isinstance(version, int) else {})
    ref = f"{labeled.get('table')}@v{labeled.get('version')}"
    shown = {k: v for k, v in labeled.items() if k != "replay_request_ids"}
    ctx.expect(ref == ctx.results.get("labeled_table") and labeled.get("rows", 0) > 0
               and labeled.get("replay_rows", 0) > 0, "monitoring",
               f"the retrained version trained on {ctx.results.get('labeled_table')} "
               "(rows trained on, rows held back for the replay)",
               f"v{version} lineage labeled={shown}")
    ctx.console.print(f"  v{version} trained on {labeled.get('rows')} labeled rows of {ref}; "
                      f"{labeled.get('replay_rows')} newer ones held back for the replay")


def _shadow_period(ctx: DemoContext, client: httpx.Client, model: WatchedModel,
                   rows: pl.DataFrame) -> None:
    """Production needs a shadow period: the staged challenger is refused until it has
    served as NAME@shadow on enough live (and labeled) requests; the running server picks
    the alias up without a restart; then the gates let it into production."""
    name, version = model.name, ctx.results.get("retrained_version")
    if not isinstance(version, int):
        return
    registry = Registry(ctx.store, ctx.settings)
    gates = GateConfig(n_bootstrap=500, shadow=SHADOW_POLICY)
    before = shadow_period(name, version, shadow_evidence(ctx.settings, name, version),
                           SHADOW_POLICY)
    ctx.console.print(f"  Production needs a shadow period first: {before.reason[:150]}")
    ctx.expect(not before.passed and "not served in shadow" in before.reason, "monitoring",
               "promotion to production refused before any shadow period",
               f"shadow gate {before.to_dict()}")
    registry.set_alias(name, "shadow", version, reason="shadow period before production")
    _wait_until(lambda: client.get("/model").json().get("shadow_version") == version,
                f"the running server to score v{version} in shadow")
    ctx.console.print(f"  {name}@shadow -> v{version}: the running server follows the "
                      "alias (no restart) and scores every request with it too")
    start = time.time()
    traffic = _new_regime(ctx, model, rows, n=SHADOW_POLICY.min_predictions,
                          skip=REGIME_ROWS)
    target = str(model.contract.target)
    answers = _predict(client, traffic.drop(target))
    _feedback(client, answers, traffic[target])
    _wait_rows(ctx, name, "_feedback", start, traffic.height)
    _wait_until(lambda: (shadow_evidence(ctx.settings, name, version) or _NO_SHADOW
                         ).predictions >= traffic.height, "the shadow log to be written")
    evidence = shadow_evidence(ctx.settings, name, version)
    result = promote(registry, name, version, to="production", config=gates,
                     shadow=evidence, reason="won on holdout, replay and shadow period",
                     raise_on_failure=False)
    for gate in result.gates:
        mark = "[green]pass[/]" if gate.passed else "[red]fail[/]"
        ctx.console.print(f"    gate {gate.name}: {mark} {gate.reason[:110]}")
    ctx.expect(result.promoted and registry.alias_version(name, "production") == version,
               "monitoring", f"v{version} promoted to production after its shadow period",
               f"promoted={result.promoted}, gates {[g.to_dict() for g in result.gates]}")
    ctx.console.print(f"  v{version} is production; the server follows the alias.")
    weights = model_importance(watch(f"{name}@production", ctx.settings))
    top = max(weights.values, key=lambda f: weights.values[f])
    ctx.expect(weights.basis == "permutation", "monitoring",
               f"v{version} carries permutation importance for its root causes (top: {top})",
               f"importance basis {weights.basis}: {weights.values}")


def _wait_until(check: Any, what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise LockgateError(f"Waited {seconds:.0f} s for {what}.")


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


