"""Quickstart section: the same store shared through ``lockgate server`` — a user with a
token, a tracked run sent over HTTP, the registry used through the same Python API (read,
a note, a promotion the server refuses without the right), a monitor pass the server
runs for the client, the REST API, a dashboard that shows a user limited to one
experiment only that experiment, and the audit trail naming who did it."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import httpx

import lockgate as lg
from lockgate.config import Settings
from lockgate.demo.context import DemoContext
from lockgate.registry import Registry, promote
from lockgate.security import accounts
from lockgate.server import TeamServer
from lockgate.store import Store, audit
from lockgate.store.remote import AccessDenied

SECTION = "server"


def run(ctx: DemoContext) -> None:
    """Start the team server on 127.0.0.1, point a client at it, log a run, read models."""
    ctx.heading("Team server")
    user = f"quickstart-{uuid.uuid4().hex[:6]}"
    accounts.create_user(ctx.store, user, "writer")  # what `lockgate server user add` does
    token = accounts.issue_token(ctx.store, user, label="quickstart")
    with team_server(ctx) as server:
        client = dataclasses.replace(ctx.settings, tracking_uri=server.url,
                                     home=ctx.workdir / "client" / ".lockgate")
        previous = os.environ.get("LOCKGATE_TOKEN")
        os.environ["LOCKGATE_TOKEN"] = token
        try:
            with lg.start_run("via-server", experiment="team", params={"lr": 0.1},
                              settings=client, capture_code=False,
                              sample_hardware=False) as tracked:
                for step in range(5):
                    tracked.log_metric("loss", 1.0 / (step + 1))
            remote = Store.open(client)
            seen = remote.get_run(tracked.id)
            through = registry_through(ctx, client, remote, user)
            passed = monitor_through(ctx, client, through["name"])
            scoped = dashboard_scoped(ctx, server.url, tracked.id)
            api = httpx.Client(base_url=server.url, timeout=30,
                               headers={"authorization": f"Bearer {token}"})
            models = api.get("/api/v1/models").json()
            aliases = api.get(f"/api/v1/models/{models[0]}/aliases").json() if models else {}
            anonymous = httpx.get(server.url + "/api/v1/runs", timeout=30).status_code
            remote.close()
        finally:
            if previous is None:
                os.environ.pop("LOCKGATE_TOKEN", None)
            else:
                os.environ["LOCKGATE_TOKEN"] = previous
    trail = audit.entries(ctx.store, target=f"run:{tracked.id}")
    ctx.console.print(f"  lockgate server on {server.url}; user `{user}` (writer) with a token")
    ctx.console.print(f"  LOCKGATE_TRACKING_URI={server.url}: run {tracked.id[:8]} "
                      f"{seen.status}, {len(remote_points(ctx, tracked.id))} loss points")
    ctx.console.print(f"  registry over /api/v1: {models} aliases {aliases}")
    ctx.console.print(f"  without a token: HTTP {anonymous}; audit: "
                      + ", ".join(f"{e.action} by {e.actor}" for e in trail))
    ctx.expect(seen.status == "FINISHED", SECTION, "the run logged through the server FINISHED",
               seen.status)
    ctx.expect(len(remote_points(ctx, tracked.id)) == 5, SECTION,
               "5 metric points stored by the server", str(len(remote_points(ctx, tracked.id))))
    ctx.expect(bool(models) and "production" in aliases, SECTION,
               "the registry read through the REST API", f"models {models}, aliases {aliases}")
    ctx.expect(anonymous == 401, SECTION, "no answer without a token", f"HTTP {anonymous}")
    _expect_registry(ctx, through, user)
    _expect_monitor(ctx, passed, user)
    ctx.expect(scoped["own"] == 200 and scoped["theirs"] == 404 and not scoped["leaked"],
               SECTION, "the dashboard shows a user limited to experiment `team` its run "
               "and answers 404 for another experiment's", str(scoped))
    ctx.expect(any(e.action == "run.created" and e.actor == user for e in trail), SECTION,
               f"the audit trail naming {user}", str([(e.action, e.actor) for e in trail]))
    ctx.results["server_run_id"] = tracked.id


@contextlib.contextmanager
def team_server(ctx: DemoContext) -> Iterator[Any]:
    """The server the whole quickstart already runs through (``lockgate quickstart
    --server``), else one started here on 127.0.0.1 over the quickstart's store."""
    if ctx.settings.tracking_uri:
        yield SimpleNamespace(url=ctx.settings.tracking_uri)
        return
    with TeamServer(ctx.settings) as server:
        yield server


def registry_through(ctx: DemoContext, client: Settings, remote: Store,
                     user: str) -> dict[str, Any]:
    """The quickstart's model through the client: the same ``Registry`` and ``promote``
    as embedded, each call answered by the server."""
    name = str(ctx.results.get("registry_model") or "churn")
    registry = Registry(remote, client)
    production = registry.resolve(f"{name}@production")
    registry.add_note(name, "reviewed through the team server", version=production.version)
    candidate = next((v.version for v in registry.versions(name)
                      if v.stage == "candidate"), production.version)
    try:
        promote(registry, name, candidate, to="production")
        refusal = "promoted"
    except AccessDenied as exc:  # a writer without the separate right to promote
        refusal = str(exc)
    found = {"name": name, "production": production.version,
             "history": len(registry.transitions(name)), "refusal": refusal,
             "note_by": registry.notes(name)[-1].author}
    ctx.console.print(f"  registry through the client: {name}@production = "
                      f"v{production.version}, {found['history']} transitions; note by "
                      f"{found['note_by']}; promoting v{candidate} to production as {user}: "
                      f"{'refused (no promote right)' if 'promote right' in refusal else refusal}")
    return found


def monitor_through(ctx: DemoContext, client: Settings, name: str) -> dict[str, Any]:
    """One monitor pass asked of the server (it reads the prediction log under its own
    data root): the same ``run_monitor`` as embedded, with the client's own rules (sent as
    data; sinks and retraining stay the server's)."""
    from lockgate.monitoring import parse_config, run_monitor, watch

    config = parse_config({"window": "1h", "rules": [
        {"name": "client-latency", "measure": "latency.p99_ms", "threshold": 250,
         "min_samples": 10}]}, source="the client's rules")
    result = run_monitor(watch(f"{name}@production", client), settings=client, config=config)
    window = result.windows[3600.0]
    rules = [r.rule.name for r in result.rules]
    ctx.console.print(f"  monitor pass run by the server for the client: {name}, "
                      f"{window.n_predictions} predictions in the last hour, window "
                      f"#{window.window_id} recorded, the client's rules applied: "
                      f"{', '.join(rules)}")
    return {"name": name, "window_id": window.window_id, "rules": rules}


def dashboard_scoped(ctx: DemoContext, url: str, own_run: str) -> dict[str, Any]:
    """The dashboard as a user limited to experiment `team` (`--role none` + a grant):
    the runs page lists its run only; another experiment's run answers 404."""
    viewer = f"viewer-{uuid.uuid4().hex[:6]}"
    accounts.create_user(ctx.store, viewer, accounts.SCOPED)
    accounts.set_grant(ctx.store, viewer, "experiment", "team", "reader")
    other = next(r for r in ctx.store.list_runs(limit=50) if r.experiment != "team")
    with httpx.Client(base_url=url, timeout=120, headers={
            "authorization": f"Bearer {accounts.issue_token(ctx.store, viewer)}"}) as http:
        listing = http.get("/").text
        found = {"own": http.get(f"/runs/{own_run}").status_code,
                 "theirs": http.get(f"/runs/{other.id}").status_code,
                 "leaked": other.id[:8] in listing}
    ctx.console.print(f"  dashboard as `{viewer}` (experiment team only): its run HTTP "
                      f"{found['own']}, a run of `{other.experiment}` HTTP {found['theirs']}")
    return found


def _expect_monitor(ctx: DemoContext, found: dict[str, Any], user: str) -> None:
    ctx.expect(found["window_id"] is not None and found["rules"] == ["client-latency"],
               SECTION, "a monitor pass run by the server with the client's rules, its "
               "window recorded", str(found))
    trail = audit.entries(ctx.store, action="monitor.ran", actor=user)
    ctx.expect(bool(trail) and [r["name"] for r in trail[0].after.get("rules", [])] ==
               ["client-latency"], SECTION, f"the pass and its rules in the audit trail as "
               f"{user}", str(trail))


def _expect_registry(ctx: DemoContext, found: dict[str, Any], user: str) -> None:
    ctx.expect(found["history"] > 0, SECTION, "the registry's history read through the "
               "client", str(found))
    ctx.expect(found["note_by"] == user, SECTION, f"a note recorded as {user}, the token's "
               "user", str(found["note_by"]))
    ctx.expect("promote right" in found["refusal"], SECTION, "moving production refused "
               "without the promote right", found["refusal"])
    trail = audit.entries(ctx.store, action="model.noted", actor=user)
    ctx.expect(bool(trail), SECTION, "the note in the audit trail", str(trail))


def remote_points(ctx: DemoContext, run_id: str) -> list[object]:
    """The run's loss points as the server's own store holds them."""
    return list(ctx.store.metrics(run_id, "loss"))
