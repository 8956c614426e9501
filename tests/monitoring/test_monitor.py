"""The monitor over time: measurements recorded per window, an incident opening and
resolving across windows, repeated passes, and the report (HTML + JSON)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from lockgate.config import Settings
from lockgate.monitoring import (
    JsonlSink,
    MemorySink,
    WatchedModel,
    parse_config,
    run_monitor,
    watch_forever,
    window_history,
    write_report,
)
from lockgate.store import Store
from tests.monitoring.monitoring_cases import BASE, make_frame


def _config(sink: MemorySink, tmp_path: Path):  # type: ignore[no-untyped-def]
    config = parse_config({"bucket": "10m", "window": "1h", "rules": [
        {"name": "drift", "measure": "drift.share_drifted", "threshold": 0.3,
         "min_samples": 100},
        {"name": "contract", "measure": "contract.violation_rate", "threshold": 0.05,
         "min_samples": 100},
        {"name": "slow", "measure": "latency.p95_ms", "threshold": 50, "min_samples": 100}]})
    return dataclasses.replace(config, sinks=(sink, JsonlSink(tmp_path / "alerts.jsonl")))


def test_incident_opens_and_resolves_over_windows(settings: Settings, model: WatchedModel,
                                                  log_predictions, tmp_path: Path) -> None:
    sink = MemorySink()
    config = _config(sink, tmp_path)
    hours = [(0.0, 5.0), (2.0, 5.0), (2.0, 80.0), (0.0, 5.0)]  # (shift, latency)
    for hour, (shift, latency) in enumerate(hours):
        log_predictions(model, make_frame(300, seed=30 + hour, shift=shift),
                        start=BASE + hour * 3600, seconds=3600, latency_ms=latency)
    actions = []
    for hour in range(len(hours)):
        run = run_monitor(model, settings=settings, config=config,
                          end=BASE + (hour + 1) * 3600)
        actions.append({r.rule.name: r.action for r in run.rules})
    assert [a["drift"] for a in actions] == ["none", "opened", "continued", "resolved"]
    assert [a["slow"] for a in actions] == ["none", "none", "opened", "resolved"]
    assert all(a["contract"] == "none" for a in actions)
    assert [(e.rule, e.kind) for e in sink.events] == [
        ("drift", "alert"), ("slow", "alert"), ("drift", "resolve"), ("slow", "resolve")]
    lines = (tmp_path / "alerts.jsonl").read_text().splitlines()
    assert [json.loads(line)["kind"] for line in lines] == ["alert", "alert", "resolve",
                                                            "resolve"]
    history = window_history(Store.open(settings), model.name)
    assert len(history) == 4
    assert [round(w["measures"]["volume.predictions"]) for w in history] == [300] * 4
    assert history[1]["details"]["drift"][0]["name"] in {"amount", "age", "country", "tenure"}
    assert history[2]["measures"]["latency.p95_ms"] > 50


def test_out_of_contract_traffic_fires_the_contract_rule(any_settings: Settings,
                                                        model: WatchedModel,
                                                        log_predictions,
                                                        tmp_path: Path) -> None:
    import polars as pl

    settings = any_settings  # windows, buckets and incidents on SQLite and PostgreSQL
    sink = MemorySink()
    frame = make_frame(300, seed=40).with_columns(
        pl.when(pl.int_range(300) < 60).then(pl.lit("XX")).otherwise(pl.col("country"))
        .alias("country"))
    log_predictions(model, frame, start=BASE, seconds=3600)
    run = run_monitor(model, settings=settings, config=_config(sink, tmp_path),
                      end=BASE + 3600)
    window = run.windows[3600.0]
    assert window.violations["allowed:country"] == 60
    assert window.measures["contract.violation_rate"] == 0.2
    assert [r.rule.name for r in run.alerts] == ["contract"]
    assert window_history(Store.open(settings), model.name)[0]["measures"][
        "contract.violation_rate"] == 0.2


def test_watch_forever_runs_the_given_passes(settings: Settings, model: WatchedModel,
                                             log_predictions, tmp_path: Path) -> None:
    import time

    log_predictions(model, make_frame(50, seed=41), start=time.time() - 600, seconds=300)
    seen, reloads = [], []
    passes = watch_forever(model, settings=settings, config=_config(MemorySink(), tmp_path),
                           every=0.01, passes=2, on_pass=seen.append, sleep=lambda s: None,
                           reload=lambda: reloads.append(1) or model)
    assert passes == 2 and len(seen) == 2 and reloads == [1]
    assert seen[0].windows[3600.0].n_predictions == 50


def _external_scripts(page: str) -> list[str]:
    from html.parser import HTMLParser

    found: list[str] = []

    class Scripts(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag in ("script", "link") and any(k in ("src", "href") for k, _ in attrs):
                found.append(str(attrs))

    Scripts().feed(page)
    return found


def test_report_is_self_contained(settings: Settings, model: WatchedModel, log_predictions,
                                  tmp_path: Path) -> None:
    sink = MemorySink()
    for hour, shift in enumerate((0.0, 2.0)):
        log_predictions(model, make_frame(300, seed=50 + hour, shift=shift),
                        start=BASE + hour * 3600, seconds=3600)
        run_monitor(model, settings=settings, config=_config(sink, tmp_path),
                    end=BASE + (hour + 1) * 3600)
    html_path, json_path = write_report(Store.open(settings), model.name, tmp_path / "rep")
    page = html_path.read_text()
    assert _external_scripts(page) == []
    assert "Plotly.newPlot" in page and "Input drift in the latest window" in page
    assert "Incidents" in page and "drift" in page
    content = json.loads(json_path.read_text())
    assert len(content["windows"]) == 2 and content["open_incidents"] == 1
    assert content["incidents"][0]["root_cause"]["summary"].endswith(".")
