"""promote() and rollback(), and the `lockgate models` commands a CI job runs.

The gates' settings come from the project's lockgate.yaml (the test's cwd), which a
server in this process reads too: through the server, the caller's gate configuration
is refused, never used."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lockgate_model_cases import CONTRACT, PROFILE, dataset_version, make_frame, train_run

from lockgate.cli.main import main
from lockgate.config import Settings
from lockgate.registry import (
    GateFailedError,
    ModelNotFoundError,
    Registry,
    promote,
    rollback,
    version_history,
)
from tests.registry.conftest import FAST_GATES


@pytest.fixture(autouse=True)
def _fast_gates(tmp_path: Path) -> None:
    (tmp_path / "lockgate.yaml").write_text(FAST_GATES)


def _version(registry: Registry, settings: Settings, *, noise: bool = False) -> int:
    dv = dataset_version(registry.store)
    trained = train_run(settings, make_frame(), dataset_version_id=dv, noise=noise)
    return registry.register("churn", trained.run_id, contract=CONTRACT,
                             reference_profile=PROFILE, holdout=trained.holdout).version


def test_promote_refuses_a_worse_challenger_and_records_why(registry: Registry,
                                                            settings: Settings) -> None:
    first = _version(registry, settings)
    assert promote(registry, "churn", first).promoted
    worse = _version(registry, settings, noise=True)
    with pytest.raises(GateFailedError, match=r"(?s)Refused to promote churn@2 to production: "
                                              r"1 gate\(s\) failed.*champion_challenger: not "
                                              "better by the margin"):
        promote(registry, "churn", worse)
    assert registry.aliases("churn") == {"production": 1}
    refused = registry.transitions("churn")[-1]
    assert (refused.action, refused.version, refused.to_stage) == ("refused", 2, "production")
    assert {g["name"]: g["passed"] for g in refused.gates}["champion_challenger"] is False


def test_dry_run_changes_nothing(registry: Registry, settings: Settings) -> None:
    version = _version(registry, settings)
    result = promote(registry, "churn", version, dry_run=True)
    assert result.passed and not result.promoted and result.dry_run
    assert registry.aliases("churn") == {}
    assert [t.action for t in registry.transitions("churn")] == ["register"]


def test_rollback_restores_the_previous_production_version(registry: Registry,
                                                           settings: Settings,
                                                           actor: str) -> None:
    for _ in range(3):
        version = _version(registry, settings)
        registry.transition("churn", version, "production", action="promote", reason="test")
    assert registry.alias_version("churn", "production") == 3
    assert rollback(registry, "churn", actor=actor, reason="latency spike").version == 2
    assert registry.get("churn", 3).stage == "archived"
    last = registry.transitions("churn")[-1]
    assert (last.action, last.actor, last.reason) == ("rollback", actor, "latency spike")
    assert rollback(registry, "churn").version == 1  # walks further back, no flip-flop
    with pytest.raises(ModelNotFoundError, match=r"churn@1 is the first production version"):
        rollback(registry, "churn")


def test_rollback_without_production_is_refused(registry: Registry, settings: Settings) -> None:
    _version(registry, settings)
    with pytest.raises(ModelNotFoundError, match="has no production version to roll back"):
        rollback(registry, "churn")


def test_cli_exit_codes_for_ci(registry: Registry, settings: Settings,
                               monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LOCKGATE_HOME", str(settings.home))
    if settings.tracking_uri:  # the CLI as a client of the server (its token is set)
        monkeypatch.setenv("LOCKGATE_TRACKING_URI", settings.tracking_uri)
    first = _version(registry, settings)
    assert main(["models", "promote", "churn", str(first), "--to", "production"]) == 0
    worse = _version(registry, settings, noise=True)
    capsys.readouterr()
    assert main(["models", "promote", "churn", str(worse), "--dry-run", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] is False and report["dry_run"] is True
    assert main(["models", "promote", "churn", str(worse)]) == 1
    assert "champion_challenger: not better" in capsys.readouterr().err
    assert main(["models", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(v["version"], v["stage"]) for v in listed] == [(1, "production"), (2, "candidate")]
    assert main(["models", "show", "churn@production", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [h["action"] for h in shown["history"]] == ["register", "promote"]
    assert main(["models", "note", "churn", "checked by risk", "--version", "1"]) == 0
    capsys.readouterr()
    assert main(["models", "show", "churn@1"]) == 0
    assert "checked by risk" in capsys.readouterr().out
    assert main(["models", "show", "churn@2"]) == 0
    assert "checked by risk" not in capsys.readouterr().out
    assert main(["models", "rollback", "churn"]) == 1
    assert "first production version" in capsys.readouterr().err


def test_dry_run_of_the_production_version_says_it_is_production(registry: Registry,
                                                                 settings: Settings) -> None:
    version = _version(registry, settings)
    first = promote(registry, "churn", version, dry_run=True)
    assert "no production version yet" in _reason(first.gates, "champion_challenger")
    assert promote(registry, "churn", version).promoted
    again = promote(registry, "churn", version, dry_run=True)
    reason = _reason(again.gates, "champion_challenger")
    assert "no production version yet" not in reason
    assert "churn@1 is already the production version" in reason
    shown = version_history(registry, "churn@production")
    page = shown._repr_html_()
    assert "Model churn@1" in page and "production" in page
    assert "champion_challenger: pass" in page and "promote" in page
    assert "v1 promote -> production" in repr(shown)


def _reason(gates: list, name: str) -> str:
    return next(g.reason for g in gates if g.name == name)
