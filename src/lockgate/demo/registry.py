"""Quickstart section: registry and serving. The modeling section's honest model is
packaged and sent through the promotion gates against a weak incumbent; a worse
challenger is refused; the production version is served on 127.0.0.1, answers good
and malformed requests, takes feedback and shows its Prometheus metrics."""

from __future__ import annotations

import atexit
import datetime as dt
import time
from typing import Any

import httpx
import polars as pl
from rich.table import Table
from sklearn.dummy import DummyClassifier
from sklearn.tree import DecisionTreeClassifier

from lockgate.data import read
from lockgate.demo import flavors
from lockgate.demo.context import DemoContext
from lockgate.modeling import TrainConfig, train
from lockgate.registry import GateConfig, GateResult, Registry, promote
from lockgate.registry.registration import register_run
from lockgate.serving import BackgroundServer, ServeConfig, predict_batch, read_predictions

MODEL = "churn"
GATES = GateConfig(thresholds={"roc_auc": 0.55}, margin=0.0, n_bootstrap=500)
FAST = TrainConfig(n_splits=3, inner_splits=2, charts=False, naive=(), bootstrap=100)
METRIC_PREFIXES = ("lockgate_requests_total", "lockgate_predictions_total",
                   "lockgate_cpu_seconds_per_1k_predictions", "lockgate_batch_rows_count",
                   "lockgate_request_latency_seconds_count", "lockgate_model_version")


def run(ctx: DemoContext) -> None:
    """Register, gate, promote, refuse, serve, call, give feedback, show metrics."""
    ctx.heading("Registry and serving: packages, promotion gates, a monitored API")
    table = ctx.results.get("data_table", "churn")
    registry = Registry(ctx.store, ctx.settings)
    stump = _train(ctx, table, DecisionTreeClassifier(max_depth=1, random_state=0), "stump")
    incumbent = _register(ctx, registry, stump, "a one-split tree, the incumbent")
    first = _promote(ctx, registry, incumbent, "first version: nothing to beat yet")
    _expect_verdict(ctx, first, True, "the first version promoted (nothing to beat)")
    honest = _register(ctx, registry, ctx.results["modeling_run_id"],
                       "gradient-boosted trees from the modeling section")
    better = _promote(ctx, registry, honest,
                      "challenger vs the incumbent, on the same holdout rows")
    _expect_verdict(ctx, better, True, "the better model promoted over the stump")
    dummy = _train(ctx, table, DummyClassifier(strategy="prior"), "always-no-churn")
    worse = _register(ctx, registry, dummy, "predicts the base rate for everyone")
    refused = _promote(ctx, registry, worse, "a worse challenger")
    _expect_verdict(ctx, refused, False, "the worse challenger refused")
    production = registry.alias_version(MODEL, "production")
    ctx.expect(production == honest, "registry", f"production on v{honest} (the better model)",
               f"production is v{production}")
    shadow = incumbent  # the stump, compared live with the model that replaced it
    registry.set_alias(MODEL, "shadow", shadow, reason="compare on live traffic")
    ctx.console.print(f"  Alias [bold]{MODEL}@shadow[/] -> v{shadow}: the server also "
                      "scores every request with it, off the request path, and logs both "
                      f"answers (_shadow/{MODEL})")
    server = _serve(ctx, table)
    ctx.expect(server.state.shadow is not None, "registry", f"v{shadow} scored in shadow",
               f"no shadow scorer (production is v{production})")
    _batch_score(ctx, table)
    ctx.results.update(
        registry_model=MODEL, registry_versions={"incumbent": incumbent, "production": honest,
                                                 "refused": worse},
        serving_url=server.url, serving_port=server.config.port)
    ctx.on_exit(server.stop)
    flavors.run(ctx)  # a LightGBM model through the same gates; its run reproduced
    ctx.hint("Versions and stages", f"lockgate models list {MODEL}")
    ctx.hint("History, lineage and card", f"lockgate models show {MODEL}@production --card")
    ctx.hint("The same gates from CI", f"lockgate models promote {MODEL} {worse} --dry-run")
    ctx.hint("Serve it yourself", f"lockgate serve {MODEL}@production --port 8000")
    ctx.hint("Undo a bad release (the server follows the alias)",
             f"lockgate models rollback {MODEL} --reason 'latency spike'")


def _train(ctx: DemoContext, table: str, estimator: Any, name: str) -> str:
    result = train(table, estimator, settings=ctx.settings, experiment="quickstart",
                   name=f"churn-{name}", config=FAST)
    return result.run_id


def _register(ctx: DemoContext, registry: Registry, run_id: str, what: str) -> int:
    mv = register_run(registry, MODEL, run_id, description=what)
    metric = mv.details.get("primary_metric")
    ctx.console.print(f"  Registered [bold]{mv.ref}[/] ({what}): {metric}="
                      f"{mv.details['metrics'][metric]:.4f}; package sha256 "
                      f"{mv.package_sha256[:12]}…, every file hashed in its manifest.")
    return mv.version


def _promote(ctx: DemoContext, registry: Registry, version: int, why: str) -> Any:
    result = promote(registry, MODEL, version, config=GATES, raise_on_failure=False,
                     reason=why)
    verdict = ("[green]promoted to production[/]" if result.promoted
               else "[red]refused[/] (recorded in the history)")
    _gate_table(ctx, f"{MODEL}@{version} — {why}: {verdict}", result.gates)
    return result


def _expect_verdict(ctx: DemoContext, result: Any, promoted: bool, story: str) -> None:
    """The section's story: which version the gates let through. A refused better model
    names the gates that refused it (e.g. infra latency on a loaded machine)."""
    failed = [f"{g.name}: {g.reason}" for g in result.gates if not g.passed]
    found = ("it was promoted" if result.promoted else
             "it was refused by " + ("; ".join(failed) or "no gate"))
    ctx.expect(result.promoted == promoted, "registry", story,
               f"{MODEL}@{result.model.version} {found}")
    if not promoted:  # refused for the reason the story tells, not for an accident
        ctx.expect(any(g.name in ("champion_challenger", "thresholds") for g in result.gates
                       if not g.passed) and all(g.passed for g in result.gates
                                                if g.name == "infra"),
                   "registry", "the worse challenger refused on its scores, not its latency",
                   "; ".join(failed))


def _gate_table(ctx: DemoContext, title: str, gates: list[GateResult]) -> None:
    table = Table(title=title, title_justify="left")
    for column in ("gate", "result", "evidence"):
        table.add_column(column, overflow="fold")
    for gate in gates:
        table.add_row(gate.name, "[green]pass[/]" if gate.passed else "[red]FAIL[/]",
                      gate.reason)
    ctx.console.print(table)


def _show_pin(ctx: DemoContext, server: BackgroundServer, answered: httpx.Response) -> None:
    """The pinned (version, package digest) the server names on every response."""
    served = server.state.holder.current
    registered = Registry(ctx.store, ctx.settings).get(MODEL, served.version)
    digest = answered.headers.get("x-lockgate-model-digest", "")
    ctx.console.print(f"  Pinned: {answered.headers.get('x-lockgate-model')} package "
                      f"{digest[:19]}… (X-Lockgate-Model / X-Lockgate-Model-Digest on every "
                      "response)")
    ctx.expect(digest == f"sha256:{registered.package_sha256}", "registry",
               "the server names the registered package digest",
               f"X-Lockgate-Model-Digest is {digest or 'missing'!r}")


def _serve(ctx: DemoContext, table: str) -> BackgroundServer:
    config = ServeConfig(f"{MODEL}@production", port=0, log_flush_seconds=0.5)
    server = BackgroundServer(config, ctx.settings).start()
    atexit.register(server.stop)  # the monitoring section may still use it; stop at exit
    features = server.state.holder.current.schema.features
    target = server.state.holder.current.package.contract.target
    rows = read(table, settings=ctx.settings).tail(20)
    records = [{k: _json(row[k]) for k in features} for row in rows.iter_rows(named=True)]
    ctx.console.print(f"  Serving [bold]{MODEL}@production[/] at {server.url} "
                      "(127.0.0.1 only; docs at /docs, metrics at /metrics)")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        answered = client.post("/predict", json=records[0])
        one = answered.json()
        ctx.console.print(f"  POST /predict one record -> v{one['model_version']} predicts "
                          f"churned={one['prediction']} (p={one['probability']:.3f}), "
                          f"request_id {one['request_id']}")
        _show_pin(ctx, server, answered)
        batch = client.post("/predict", json={"records": records[1:]}).json()["predictions"]
        ctx.console.print(f"  POST /predict a batch of {len(batch)} records -> "
                          f"{sum(p['prediction'] == 'True' for p in batch)} predicted to churn")
        bad = {**records[0], "age": 7, "plan": "platinum", "favourite_colour": "red"}
        del bad[features[-1]]
        refused = client.post("/predict", json=bad)
        ctx.console.print(f"  POST /predict a malformed record -> {refused.status_code}:")
        for error in refused.json()["detail"]:
            ctx.console.print(f"    [red]{error['field']}[/]: {error['message']}")
        ids = [one["request_id"], *(p["request_id"] for p in batch)]
        labels = [str(row[target]) for row in rows.iter_rows(named=True)]
        items = [{"request_id": rid, "label": label} for rid, label in zip(ids, labels,
                                                                             strict=True)]
        accepted = client.post("/feedback", json={"items": items}).json()["accepted"]
        ctx.console.print(f"  POST /feedback with the true outcome of {accepted} predictions "
                          "(joined to them by request_id)")
        _wait_logged(ctx, len(ids))
        metrics = client.get("/metrics").text
    ctx.console.print("  GET /metrics (Prometheus text, excerpt):")
    for line in metrics.splitlines():
        if line.startswith(METRIC_PREFIXES):
            ctx.console.print(f"    {line}", markup=False, highlight=False)
    return server


def _batch_score(ctx: DemoContext, table: str) -> None:
    """Score a file the way most production ML runs: in batch, through the contract."""
    rows = read(table, settings=ctx.settings).tail(40)
    package = Registry(ctx.store, ctx.settings).resolve(f"{MODEL}@production")
    columns = ["customer_id", *Registry(ctx.store, ctx.settings).load(package).feature_columns]
    frame = rows.select(columns).with_columns(pl.col(c).cast(pl.String) for c in columns)
    frame[5, "age"] = "7"  # below the contract's minimum: quarantined, not scored
    source = ctx.workdir / "customers_to_score.csv"
    frame.rename({"customer_id": "customerId"}).write_csv(source)  # a source alias
    out = ctx.workdir / "scores.parquet"
    result = predict_batch(f"{MODEL}@production", source, out=out, settings=ctx.settings,
                           chunk_rows=16)
    ctx.console.print(
        f"  Batch scoring: `lockgate predict {MODEL}@production {source.name} --out "
        f"{out.name}` -> {result.rows_scored} of {result.rows_read} rows scored in "
        f"{result.chunks} chunks (column `customerId` mapped by the contract's aliases), "
        f"{result.rows_quarantined} quarantined {result.reasons}, {result.logged} "
        f"predictions logged with batch id {result.batch_id}")
    ctx.expect(result.rows_quarantined == 1 and result.reasons == {"range:age": 1}
               and result.rows_scored == 39, "registry",
               "batch scoring to score 39 rows and quarantine the one with age 7",
               f"{result.rows_scored} scored, quarantined {result.reasons}")
    written = pl.read_parquet(out).height
    kept = pl.read_parquet(result.quarantine).height if result.quarantine else 0
    logged = read_predictions(ctx.settings, MODEL).filter(
        pl.col("batch_id") == result.batch_id).height
    ctx.expect(written == logged == 39 and kept == 1, "registry",
               f"39 scores in {out.name}, 39 logged with the batch id, 1 row in the quarantine",
               f"{written} scores, {logged} logged, {kept} quarantined rows on disk")
    ctx.results["batch_scoring"] = result.to_dict()


def _wait_logged(ctx: DemoContext, expected: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            logged = read_predictions(ctx.settings, MODEL).height
        except Exception:
            logged = 0
        if logged >= expected:
            ctx.console.print(f"  Prediction log: {logged} rows in the Delta table "
                              f"_predictions/{MODEL} (written in micro-batches, off the "
                              "request path)")
            return
        time.sleep(0.1)
    ctx.console.print(f"  Prediction log: fewer than {expected} rows written after "
                      f"{timeout:.0f} s; the server keeps them buffered and retries.")


def _json(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value
