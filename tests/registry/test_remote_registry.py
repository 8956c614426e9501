"""The registry through ``lockgate server`` only: what the server decides itself (who
acts, whether the gates may be skipped, which gate settings apply), what it checks in
a package before recording it, retries by request id, and the audit trail of every
registry change."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from lockgate_model_cases import CONTRACT, PROFILE, dataset_version, make_frame, train_run

from lockgate.config import Settings
from lockgate.registry import (
    GateConfig,
    Registry,
    RegistryError,
    load_gate_config,
    promote,
    rollback,
)
from lockgate.registry.errors import VersionTakenError
from lockgate.store import Store, audit
from lockgate.store.remote import AccessDenied, RemoteStore
from tests.conftest import make_settings
from tests.registry.conftest import FAST_GATES
from tests.server.conftest import Team, make_team


@pytest.fixture
def team(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Team]:
    (tmp_path / "lockgate.yaml").write_text(FAST_GATES)
    found = make_team(make_settings(tmp_path / "server-home"))
    monkeypatch.setenv("LOCKGATE_TOKEN", found.tokens["writer"])
    with found.server:
        yield found
    Store.close_all(found.url)


def _client(team: Team, tmp_path: Path) -> Settings:
    return dataclasses.replace(make_settings(tmp_path / ".lockgate"), tracking_uri=team.url)


def _registry(team: Team, user: str, client: Settings) -> Registry:
    return Registry(RemoteStore(team.url, team.tokens[user]), client)


def _version(team: Team, client: Settings, registry: Registry) -> int:
    dv = dataset_version(Store.open(client))
    trained = train_run(client, make_frame(), dataset_version_id=dv)
    return registry.register("churn", trained.run_id, contract=CONTRACT,
                             reference_profile=PROFILE, holdout=trained.holdout).version


def test_the_server_decides_who_acts_and_whether_gates_may_be_skipped(
        team: Team, tmp_path: Path) -> None:
    client = _client(team, tmp_path)
    writer = _registry(team, "writer", client)
    first = _version(team, client, writer)
    assert writer.get("churn", first).created_by == "writer"  # the token's user
    with pytest.raises(AccessDenied, match=r"You are `writer`.*will not record `ci`"):
        writer.transition("churn", first, "archived", action="archive", actor="ci")
    with pytest.raises(AccessDenied, match="needs admin"):  # production without the gates
        writer.transition("churn", first, "production", action="promote")
    with pytest.raises(RegistryError, match=r"differs from the gates lockgate server "
                                            r"runs in `n_bootstrap` \(server 200, yours "
                                            r"300\).*Drop `config=`"):
        promote(writer, "churn", first, to="staging", config=GateConfig(n_bootstrap=300))
    with pytest.raises(AccessDenied, match="promote right"):
        promote(writer, "churn", first)
    # the gates the server runs, named by the caller: checked, then run by the server
    staged = promote(writer, "churn", first, to="staging", config=load_gate_config())
    assert staged.promoted and {g.name for g in staged.gates} >= {"infra",
                                                                  "champion_challenger"}
    assert writer.aliases("churn") == {"staging": first}
    with pytest.raises(RegistryError, match="records refused promotions itself"):
        writer.transition_refused("churn", first, "production")


def test_a_retried_registration_is_recorded_once_and_a_taken_number_is_refused(
        team: Team, tmp_path: Path) -> None:
    client = _client(team, tmp_path)
    writer = _registry(team, "writer", client)
    first = writer.get("churn", _version(team, client, writer))
    body = {"version": 2, "run_id": first.run_id, "artifact_id": first.artifact_id,
            "package_sha256": first.package_sha256}
    remote = writer.store
    assert isinstance(remote, RemoteStore)
    answers = [remote.request("POST", "/models/churn/versions", json_body=body,
                              idempotent=True, key="retry-1").json() for _ in range(2)]
    assert answers[0] == answers[1] and answers[0]["version"] == 2
    assert [v.version for v in writer.versions("churn")] == [1, 2]
    with pytest.raises(VersionTakenError, match="Version 2 of `churn` was registered by "
                                                "another writer first"):
        remote.request("POST", "/models/churn/versions", json_body=body, idempotent=True)
    evaluation = next(a for a in remote.artifacts(str(first.run_id)) if a.name == "evaluation")
    with pytest.raises(RegistryError, match="is not a model package of run"):
        remote.request("POST", "/models/churn/versions", idempotent=True, json_body={
            **body, "version": 3, "artifact_id": evaluation.id,
            "package_sha256": evaluation.sha256})


def test_every_registry_change_through_the_server_is_audited(team: Team,
                                                             tmp_path: Path) -> None:
    client = _client(team, tmp_path)
    writer = _registry(team, "writer", client)
    admin = _registry(team, "admin", client)
    one = _version(team, client, writer)
    two = _version(team, client, writer)
    assert promote(admin, "churn", one).promoted
    admin.transition("churn", two, "production", action="promote", reason="hotfix")
    writer.set_alias("churn", "shadow", one)
    writer.add_note("churn", "owner: risk team")
    assert rollback(admin, "churn", reason="latency").version == one
    server = Store.open(team.settings)
    found = [(e.actor, e.action, e.target) for e in reversed(audit.entries(server))
             if e.target.startswith("model:churn")]
    assert ("writer", "model.registered", "model:churn@1") in found
    assert ("admin", "gate.overridden", "model:churn@2") in found
    assert ("writer", "alias.moved", "model:churn@shadow") in found
    assert ("writer", "model.noted", "model:churn") in found
    moves = [e for e in audit.entries(server, action="alias.moved")
             if e.target == "model:churn@production"]
    assert [(e.actor, e.before, e.after) for e in reversed(moves)] == [
        ("admin", None, {"version": 1}), ("admin", {"version": 1}, {"version": 2}),
        ("admin", {"version": 2}, {"version": 1})]
    stages = audit.entries(server, action="model.stage_changed", target="model:churn@2")
    assert (stages[0].actor, stages[0].before, stages[0].after["stage"]) == (
        "admin", {"stage": "production"}, "archived")  # the rollback demoted it
