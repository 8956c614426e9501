"""The registry: versions from runs, references, aliases, stages, history, notes."""

from __future__ import annotations

import pytest
from lockgate_model_cases import CONTRACT, PROFILE, make_frame, registered, train_run

from lockgate.config import Settings
from lockgate.registry import ModelNotFoundError, Registry, RegistryError, parse_ref
from lockgate.registry.model_version import RegistryReader
from lockgate.store import Store
from lockgate.tracking import start_run


def test_register_builds_verified_versions(any_settings: Settings) -> None:
    registry, trained = registered(any_settings, versions=2)
    versions = registry.versions("churn")
    assert [(v.version, v.stage, v.aliases) for v in versions] == [
        (1, "production", ("production",)), (2, "candidate", ())]
    assert versions[1].run_id == trained[1].run_id
    package = registry.load(versions[1])
    assert package.lineage["run_id"] == trained[1].run_id
    assert package.lineage["dataset_version_id"] is not None
    assert "# Model card: churn v2" in package.model_card
    assert "scikit-learn" in package.model_card  # the environment actually recorded


def test_references_resolve(settings: Settings) -> None:
    registry, _ = registered(settings, versions=2)
    assert registry.resolve("churn").version == 1
    assert registry.resolve("churn@production").version == 1
    assert registry.resolve("churn@2").version == 2
    assert registry.resolve("churn@v2").version == 2
    assert parse_ref("churn@staging") == ("churn", "staging")


def test_unknown_names_say_what_exists(settings: Settings) -> None:
    registry, _ = registered(settings)
    with pytest.raises(ModelNotFoundError, match=r"No registered model `chrun`\. Did you mean "
                                                 "`churn`"):
        registry.resolve("chrun@production")
    with pytest.raises(ModelNotFoundError, match=r"has no version 7; versions: 1"):
        registry.get("churn", 7)
    with pytest.raises(ModelNotFoundError, match=r"no alias `stagin`.*Did you mean"):
        registry.resolve("churn@stagin")
    with pytest.raises(RegistryError, match="is not a model reference"):
        parse_ref("../etc@1")


def test_run_without_model_cannot_be_registered(settings: Settings) -> None:
    registry = Registry(Store.open(settings), settings)
    with start_run("empty", settings=settings, capture_code=False,
                   sample_hardware=False) as run:
        run.log_dict({"problem_type": "binary"}, "evaluation")
    with pytest.raises(ModelNotFoundError, match=r"has no artifact `model`"):
        registry.register("churn", run.id, contract=CONTRACT, reference_profile=PROFILE)


def test_stage_changes_move_aliases_and_record_history(settings: Settings, actor: str) -> None:
    registry, _ = registered(settings, versions=3)
    registry.transition("churn", 2, "staging", action="promote", actor=actor, reason="try")
    registry.transition("churn", 2, "production", action="promote", actor=actor,
                        reason="good")
    assert registry.aliases("churn") == {"production": 2}
    assert registry.get("churn", 1).stage == "archived"
    history = [(t.version, t.action, t.from_stage, t.to_stage) for t in
               registry.transitions("churn")]
    assert (1, "demote", "production", "archived") in history
    assert history[-1] == (2, "promote", "staging", "production")
    assert registry.transitions("churn")[-1].actor == actor
    with pytest.raises(RegistryError, match=r"churn@2 is in production; run `lockgate models "
                                            "rollback churn`"):
        registry.transition("churn", 2, "archived", action="archive")
    with pytest.raises(RegistryError,
                       match=r"Unknown stage `prodution`.*Did you mean `production`"):
        registry.transition("churn", 3, "prodution", action="promote")


def test_notes(settings: Settings, actor: str) -> None:
    registry, _ = registered(settings)
    registry.add_note("churn", "looks fine on the EU slice", version=1, author=actor)
    registry.add_note("churn", "owner: risk team")
    notes = registry.notes("churn")
    assert (notes[0].version, notes[0].author, notes[0].text) == (
        1, actor, "looks fine on the EU slice")
    assert notes[1].version is None


def test_versions_increase_per_model(settings: Settings) -> None:
    registry, _ = registered(settings, versions=1, promote_first=False)
    trained = train_run(settings, make_frame(), name="other")
    mv = registry.register("fraud", trained.run_id, contract=CONTRACT, reference_profile=PROFILE,
                           holdout=trained.holdout)
    assert (mv.name, mv.version) == ("fraud", 1)
    assert registry.models() == ["churn", "fraud"]


@pytest.mark.embedded_only("the dashboard's reader runs beside the database (the server "
                            "serves the dashboard)")
def test_the_reader_reads_every_model_without_settings(settings: Settings) -> None:
    """What the dashboard reads: the registry's reader over a store alone."""
    registry, trained = registered(settings, versions=2)
    other = train_run(settings, make_frame(), name="other")
    registry.register("fraud", other.run_id, contract=CONTRACT, reference_profile=PROFILE,
                      holdout=other.holdout)
    reader = RegistryReader(Store.open(settings))
    assert [(v.ref, v.stage, v.aliases) for v in reader.all_versions()] == [
        ("churn@2", "candidate", ()), ("churn@1", "production", ("production",)),
        ("fraud@1", "candidate", ())]
    assert reader.version_count() == 3
    assert reader.all_versions()[0] == registry.get("churn", 2)
    assert [t.action for t in reader.transitions("churn", 1)] == ["register", "promote"]
    assert {t.version for t in reader.transitions("churn")} == {1, 2}
    linked = reader.versions_from([trained[1].run_id], [])
    assert [v.ref for v in linked] == ["churn@2"]
    by_content = reader.versions_from([], [registry.get("fraud", 1).package_sha256])
    assert [v.ref for v in by_content] == ["fraud@1"]
    assert reader.versions_from([], []) == []
