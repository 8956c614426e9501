"""Monitor passes from a client: the server runs the pass over its own prediction log,
with the caller's rights (a writer of the model), audits it, and answers the same
``MonitorRun`` as a pass beside the data."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lockgate.cli.main import main
from lockgate.config import Settings
from lockgate.errors import NotFoundError
from lockgate.monitoring import MemorySink, load_config, run_monitor, watch, window_history
from lockgate.monitoring.incident import get_incident
from lockgate.store import Store, audit
from lockgate.store.remote import AccessDenied
from tests.conftest import make_settings
from tests.monitoring.conftest import log_predictions  # noqa: F401 (a fixture)
from tests.monitoring.monitoring_cases import make_frame, register_served
from tests.server.conftest import Team


@pytest.fixture
def served(team: Team, log_predictions) -> Team:  # noqa: F811 (fixture)
    """`churn` in production on the server, 200 predictions in its log (server side)."""
    register_served(team.settings)
    log_predictions(watch("churn@production", team.settings), make_frame(200, seed=60),
                    start=time.time() - 1200, seconds=600)
    return team


@pytest.fixture
def client(served: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
           ) -> Iterator[Settings]:
    """A client's settings: its own (empty) home, the server's URI; writer's token."""
    monkeypatch.setenv("LOCKGATE_TOKEN", served.tokens["writer"])
    found = dataclasses.replace(make_settings(tmp_path / "client"), tracking_uri=served.url)
    yield found
    Store.close_all(served.url)


def test_a_clients_pass_runs_on_the_server_and_is_audited(served: Team,
                                                          client: Settings) -> None:
    store = Store.open(client)
    model = watch("churn@production", client)  # loaded through the server's registry
    run = run_monitor(model, settings=client, config=load_config(None, window="1h"))
    window = run.windows[3600.0]
    assert window.n_predictions == 200 and window.window_id is not None
    assert {r.rule.name for r in run.rules} >= {"input-drift", "latency"}
    assert all(r.outcome.window_seconds == r.rule.window_seconds for r in run.rules)
    # recorded in the server's store, readable through it
    assert [w["id"] for w in window_history(store, "churn")] == [window.window_id]
    (entry,) = audit.entries(Store.open(served.settings), action="monitor.ran")
    assert entry.actor == "writer" and entry.target == f"model:churn@{model.version}"
    assert entry.after["windows"] == {"3600.0": window.window_id}


def test_the_cli_asks_the_server_for_the_pass(client: Settings,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LOCKGATE_HOME", str(client.home))
    monkeypatch.setenv("LOCKGATE_TRACKING_URI", str(client.tracking_uri))
    assert main(["monitor", "churn@production", "--window", "30m", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == "churn" and out["windows"]["1800.0"]["n_predictions"] == 200
    assert main(["monitor", "churn", "--every", "1s", "--passes", "2", "--json"]) == 0
    assert capsys.readouterr().out.count('"model": "churn"') == 2
    assert main(["monitor", "churn"]) == 0
    assert "drift.share_drifted" in capsys.readouterr().out


def test_the_callers_rules_and_windows_are_sent_and_applied(
        served: Team, client: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    model = watch("churn@production", client)
    own = tmp_path / "m.yaml"  # a threshold the default rules would never fire on
    own.write_text("window: 30m\nrules: [{name: tight-latency, measure: latency.p99_ms, "
                   "threshold: 1, min_samples: 1, window: 20m}]\n")
    run = run_monitor(model, settings=client, config=load_config(own))
    assert [r.rule.name for r in run.rules] == ["tight-latency"]
    assert set(run.windows) == {1200.0, 1800.0}
    assert [a.rule.name for a in run.alerts] == ["tight-latency"]  # fired on the server
    (entry,) = audit.entries(Store.open(served.settings), action="monitor.ran")
    assert entry.after["rules"] == [{"name": "tight-latency", "measure": "latency.p99_ms",
                                     "op": ">", "threshold": 1.0, "window_seconds": 1200.0,
                                     "min_samples": 1, "severity": "warning"}]
    monkeypatch.setenv("LOCKGATE_HOME", str(client.home))
    monkeypatch.setenv("LOCKGATE_TRACKING_URI", str(client.tracking_uri))
    assert main(["monitor", "churn", "--config", str(own), "--json"]) == 0
    assert '"tight-latency"' in capsys.readouterr().out


def test_the_callers_sinks_run_in_its_process_never_on_the_server(
        served: Team, client: Settings, tmp_path: Path) -> None:
    """Sinks and retraining are never sent (the server refuses a request naming them,
    below): ``run_monitor`` runs them in the caller's process after the server's pass,
    and appends their outcome to the incident through the server, audited."""
    own = tmp_path / "m.yaml"
    own.write_text("window: 1h\nrules: [{name: slow, measure: latency.p99_ms, "
                   "threshold: 0.0001, min_samples: 1}]\n")
    sink = MemorySink()
    config = dataclasses.replace(load_config(own), sinks=(sink,))
    run = run_monitor(watch("churn@production", client), settings=client, config=config)
    (report,) = run.rules
    assert report.action == "opened" and [e.kind for e in sink.events] == ["alert"]
    assert report.incident is not None and sink.events[0].incident_id == report.incident.id
    server = Store.open(served.settings)
    stored = get_incident(server, report.incident.id)
    assert [d["sink"] for d in stored.deliveries][-1] == sink.name  # appended by the server
    (ran,) = audit.entries(server, action="monitor.ran")
    assert ran.actor == "writer" and [r["name"] for r in ran.after["rules"]] == ["slow"]
    (delivered,) = audit.entries(server, action="monitor.delivered")
    assert delivered.actor == "writer"


def test_the_callers_window_end_and_clock_are_taken(client: Settings) -> None:
    end = time.time() - 300  # which window, nothing more
    model = watch("churn@production", client)
    run = run_monitor(model, settings=client, config=load_config(None), end=end, now=end)
    assert run.end == end and run.windows[3600.0].n_predictions > 0


@pytest.mark.parametrize(("config", "problem"), [
    ({"sinks": [{"type": "log"}]}, "`sinks` are the server's"),
    ({"rules": [{"measure": "latency.p99_ms", "threshold": 1, "retrain": "p.py:t"}]},
     r"rules\[0\]: `retrain` is the server's"),
    ({"rules": [{"measure": "latency.p99", "threshold": "x"}]}, "unknown measure"),
    ({"rules": "latency"}, "`rules` must be a list"),
    ({"bucket": "1s", "window": "1d"}, "86400 buckets"),
    ({"rules": [{"measure": "latency.p99_ms", "threshold": 1, "name": f"r{n}"}
                for n in range(101)]}, "at most 100 rules"),
    ({"rules": [{"measure": "latency.p99_ms", "threshold": 1,
                 "description": "x" * 70_000}]}, "larger than 65536 bytes"),
    ([1, 2], "must be a mapping"),
])
def test_a_sent_config_is_validated_as_data(served: Team, config: object,
                                            problem: str) -> None:
    with served.client("writer") as http:
        refused = http.post("/api/v1/monitoring/models/churn/passes", json={"config": config})
    assert refused.status_code == 400, refused.text
    assert "AlertConfigError" in refused.text
    import re

    assert re.search(problem, refused.json()["detail"]), refused.json()["detail"]
    assert audit.entries(Store.open(served.settings), action="monitor.ran") == []


def test_a_pass_needs_a_writer_of_the_model(served: Team, client: Settings) -> None:
    http = {user: served.client(user) for user in ("reader", "other", "writer")}
    path = "/api/v1/monitoring/models/churn/passes"
    assert http["reader"].post(path, json={}).status_code == 403
    assert http["other"].post(path, json={}).status_code == 404  # as if it did not exist
    assert served.client(None).post(path, json={}).status_code == 401
    refused = http["writer"].post(path, json={"ref": "other-model@1"})
    assert refused.status_code == 400 and "not of model `churn`" in refused.text
    refused = http["writer"].post(path, json={"sinks": []})
    assert refused.status_code == 400 and "sinks and retraining run in the" in refused.text
    with pytest.raises(NotFoundError):
        run_monitor(dataclasses.replace(watch("churn@production", client), name="nosuch"),
                    settings=client, config=load_config(None))
    assert audit.entries(Store.open(served.settings), action="monitor.ran") == []


def test_a_readers_pass_is_refused(served: Team, client: Settings,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    model = watch("churn@production", client)
    monkeypatch.setenv("LOCKGATE_TOKEN", served.tokens["reader"])
    Store.close_all(served.url)
    with pytest.raises(AccessDenied, match="needs writer on model `churn`"):
        run_monitor(model, settings=client, config=load_config(None))


def test_a_config_no_default_can_have_is_sent_as_the_callers_own() -> None:
    """1 s buckets: the default rules (1 h windows of 300 s buckets) cannot be built at
    that window, so the config is the caller's, sent as data, not a failed comparison."""
    from lockgate.monitoring.config import parse_config
    from lockgate.monitoring.server_pass import server_request

    config = parse_config({"bucket": "1s", "window": "5s", "rules": [
        {"name": "slow", "measure": "latency.p99_ms", "threshold": 1}]})
    assert server_request(config)["config"]["window"] == 5.0
