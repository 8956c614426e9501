"""The quickstart through ``lockgate server`` (``lockgate quickstart --server``): a team
server on 127.0.0.1 over a fresh home, a fresh admin token, every section run by a
client pointed at it, each section's outcomes checked by the section itself (ctx.expect),
and the server's audit trail showing that the writes came through it.

One full quickstart run (minutes): the suite's budget allows this one, not more."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from lockgate.config import Settings
from lockgate.demo.quickstart import SECTIONS
from lockgate.demo.served import run_served_quickstart
from lockgate.registry import Registry
from lockgate.store import Store, audit
from tests.test_quickstart import stage_evidence

#: A hang guard for the one full run through the server (it is slower than embedded:
#: every record is an HTTP round trip), not a timing assertion.
pytestmark = pytest.mark.timeout(2400)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, str, Settings]:
    home = tmp_path_factory.mktemp("quickstart-server") / ".lockgate"
    settings = Settings(home=home)
    out = io.StringIO()
    ctx = run_served_quickstart(settings, Console(file=out, width=120), quiet=True)
    return ctx, out.getvalue(), settings


def test_every_section_ran_through_the_server(served) -> None:  # type: ignore[no-untyped-def]
    ctx, text, _ = served
    assert list(ctx.section_seconds) == [name for name, _ in SECTIONS]
    assert "quickstart finished" in text
    assert ctx.settings.tracking_uri == ctx.results["served_by"]["url"]
    assert getattr(ctx.store, "remote", False)  # the sections' store spoke HTTP
    assert "the quickstart runs through it as" in text


def test_the_servers_audit_trail_shows_the_writes_came_through_it(served) -> None:  # type: ignore[no-untyped-def]
    ctx, _, settings = served
    user = ctx.results["served_by"]["user"]
    store = Store.open(settings)  # the server's own store

    def by_user(action: str) -> list[audit.AuditEntry]:
        return audit.entries(store, action=action, actor=user, limit=100_000)

    created = audit.entries(store, action="run.created", limit=100_000)
    runs = {r.id for r in store.list_runs(limit=None)}
    assert runs and runs <= {e.target.removeprefix("run:") for e in created}, (
        "a run was written beside the server, not through it")
    assert {e.actor for e in created} <= {user} | {
        e.target.removeprefix("user:") for e in audit.entries(
            store, action="user.created", limit=1000)}
    assert len(by_user("run.created")) > 20  # tracking, pipelines, modeling, retraining
    for action in ("pipeline.step_recorded", "profile.linked", "model.registered",
                   "gate.configured", "monitor.ran", "monitor.delivered",
                   "monitor.retraining"):
        assert by_user(action), f"no {action} by {user} in the server's audit log"


def test_the_stages_left_their_evidence_in_the_servers_store(served) -> None:  # type: ignore[no-untyped-def]
    ctx, _, settings = served
    store = Store.open(settings)
    results = ctx.results
    stage_evidence(store, results)
    production = Registry(store).resolve(f"{results['registry_model']}@production")
    assert production.version == results["retrained_version"]
