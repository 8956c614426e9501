"""``lockgate gc``: what nothing live references goes; everything kept says why; nothing
a registered version depends on is ever removed."""

from __future__ import annotations

import os
import time
from pathlib import Path

import polars as pl
import pytest

from lockgate.artifacts import ArtifactStore, LocalBlobStore
from lockgate.config import Settings
from lockgate.data import Contract, ingest
from lockgate.data.table import read_version, table_path
from lockgate.retention import Policies, collect_garbage, delete_runs
from lockgate.store import Store
from lockgate.tracking import start_run

DAY = 86400.0
CONTRACT = Contract.from_dict({"table": "events", "columns": [
    {"name": "id", "type": "int", "nullable": False},
    {"name": "value", "type": "float", "nullable": False}]})


def _settings(settings: Settings, **values: float) -> Settings:
    return settings.model_copy(update={"run_purge_days": 1.0, "gc_grace_seconds": 60.0,
                                       **values})


def _run(settings: Settings, name: str, payload: str, experiment: str = "exp") -> str:
    with start_run(name, experiment=experiment, settings=settings, capture_console=False,
                   sample_hardware=False, capture_code=False) as run:
        run.log_text(payload, "notes.txt")
    return run.id


def _every_artifact_loads(settings: Settings) -> None:
    import sqlalchemy as sa

    from lockgate.store import schema as t

    store = Store.open(settings)
    artifacts = ArtifactStore.open(settings)
    with store.read() as conn:
        ids = list(conn.execute(sa.select(t.artifacts.c.id)).scalars())
    for artifact_id in ids:
        artifacts.read_bytes(artifact_id)  # verified against its hash


def test_dry_run_explains_every_decision_and_changes_nothing(settings: Settings) -> None:
    from lockgate_model_cases import registered

    s = _settings(settings)
    store = Store.open(s)
    _registry, trained = registered(s, versions=2)
    ingest_run = _run(s, "ingest", "rows")
    dv = store.add_dataset_version("customers", rows_ingested=1, rows_accepted=1,
                                   run_id=ingest_run)
    store.add_lineage(trained[0].run_id, "consumed", dataset_version_id=dv.id)
    old = _run(s, "old", "old bytes")
    delete_runs([old], settings=s)
    blobs = LocalBlobStore(s.resolved_artifact_root)
    orphan = blobs.put(b"nobody registers me")
    before = sorted(p.name for p in s.resolved_artifact_root.rglob("*"))

    report = collect_garbage(dry_run=True, settings=s, policies=Policies(), now=time.time()
                             + 2 * DAY)

    assert sorted(p.name for p in s.resolved_artifact_root.rglob("*")) == before
    assert all(d.reason for d in report.decisions)
    production = store.artifact(_version_artifact(store, "churn", 1))
    assert report.about(production.sha256)[0].reason == "package of churn@1 (production)"
    candidate = store.artifact(_version_artifact(store, "churn", 2))
    assert report.about(candidate.sha256)[0].reason == "package of churn@2"
    [model_blob] = [a.sha256 for a in store.artifacts(trained[0].run_id) if a.name == "model"]
    assert "trained churn@1 (production)" in report.about(model_blob)[0].reason
    [purge] = report.about(old)
    assert purge.action == "purge"
    [gone] = [a.sha256 for a in store.artifacts(old)]
    assert report.about(gone)[0].action == "remove"
    assert report.about(orphan)[0].action == "remove"
    assert store.get_run(old).deleted_at is not None  # a dry run purges nothing


def test_gc_removes_only_what_nothing_live_references(settings: Settings) -> None:
    from lockgate_model_cases import registered

    s = _settings(settings)
    store = Store.open(s)
    _registry, trained = registered(s)
    live = _run(s, "live", "live bytes")
    old = _run(s, "old", "old bytes")
    shared = _run(s, "shared", "live bytes")  # same bytes as a live run: one blob
    delete_runs([old, shared], settings=s)
    blobs = LocalBlobStore(s.resolved_artifact_root)
    orphan = blobs.put(b"orphan")
    partial = blobs.root / orphan[:2] / ".tmp-interrupted"
    partial.write_bytes(b"half an upload")
    [old_blob] = [a.sha256 for a in store.artifacts(old)]

    report = collect_garbage(dry_run=False, settings=s, policies=Policies(),
                             now=time.time() + 2 * DAY)

    assert {d.target for d in report.decisions if d.action == "purge"} == {old, shared}
    assert not blobs.exists(orphan) and not blobs.exists(old_blob) and not partial.exists()
    assert [r.id for r in store.list_runs(experiment="exp")] == [live]
    _every_artifact_loads(s)  # the live run's blob (shared with a purged one) is intact
    assert store.get_run(trained[0].run_id).id == trained[0].run_id
    assert report.freed_bytes >= len(b"orphan") + len(b"half an upload")
    # a second pass finds nothing more to remove
    again = collect_garbage(dry_run=False, settings=s, policies=Policies(),
                            now=time.time() + 2 * DAY)
    assert [d for d in again.removed if d.subject in ("blob", "partial", "run")] == []


def test_young_unreferenced_blobs_and_partials_are_kept(settings: Settings) -> None:
    s = _settings(settings, gc_grace_seconds=3600)
    blobs = LocalBlobStore(s.resolved_artifact_root)
    fresh = blobs.put(b"being registered right now")
    partial = blobs.root / fresh[:2] / ".tmp-writing"
    partial.write_bytes(b"...")
    report = collect_garbage(dry_run=False, settings=s, policies=Policies())
    assert blobs.exists(fresh) and partial.exists()
    assert "within the grace age (1h)" in report.about(fresh)[0].reason
    # re-storing old bytes refreshes them, so a writer that found them present keeps them
    os.utime(blobs.path_for(fresh), (time.time() - 7200, time.time() - 7200))
    blobs.put(b"being registered right now")
    collect_garbage(dry_run=False, settings=s, policies=Policies())
    assert blobs.exists(fresh)


def test_a_purge_waits_while_a_live_run_consumed_the_deleted_runs_output(
        settings: Settings) -> None:
    s = _settings(settings)
    store = Store.open(s)
    producer = _run(s, "producer", "features")
    with start_run("consumer", experiment="exp", settings=s, capture_console=False,
                   sample_hardware=False, capture_code=False) as consumer:
        pass
    [made] = store.artifacts(producer)
    store.add_lineage(consumer.id, "consumed", artifact_id=made.id)
    delete_runs([producer], settings=s)
    report = collect_garbage(dry_run=False, settings=s, policies=Policies(),
                             now=time.time() + 2 * DAY)
    [kept] = report.about(producer)
    assert kept.action == "keep" and f"run {consumer.id} consumed its artifact" in kept.reason
    assert LocalBlobStore(s.resolved_artifact_root).exists(made.sha256)


def test_experiment_policy_soft_deletes_expired_runs_but_never_protected_ones(
        settings: Settings) -> None:
    from lockgate_model_cases import registered

    s = _settings(settings)
    _registry, trained = registered(s, versions=2)  # experiment registry-tests
    extra = [_run(s, f"r{i}", f"r{i}", experiment="registry-tests") for i in range(2)]
    policies = Policies.from_mapping({"experiments": {"registry-tests": {"keep_last": 1}}})
    report = collect_garbage(dry_run=False, settings=s, policies=policies)
    store = Store.open(s)
    for t in trained:
        [decision] = report.about(t.run_id)
        assert decision.action == "keep" and "trained churn@" in decision.reason
    # the newest run is kept by keep_last=1; the older one is soft-deleted, restorable
    assert store.get_run(extra[1]).deleted_at is None
    assert store.get_run(extra[0]).deleted_at is not None
    assert "keep_last=1" in report.about(extra[0])[0].reason


def _version_artifact(store: Store, name: str, version: int) -> int:
    import sqlalchemy as sa

    from lockgate.store import tables_registry as reg

    with store.read() as conn:
        return int(conn.execute(sa.select(reg.model_versions.c.artifact_id).where(
            reg.model_versions.c.model_name == name,
            reg.model_versions.c.version == version)).scalar_one())


def _batch(start: int, n: int = 5) -> pl.DataFrame:
    return pl.DataFrame({"id": list(range(start, start + n)),
                         "value": [float(i) for i in range(start, start + n)]})


def test_tables_are_compacted_and_vacuumed_keeping_protected_versions(
        settings: Settings) -> None:
    s = _settings(settings, gc_grace_seconds=0)
    store = Store.open(s)
    results = [ingest(_batch(i * 5), "events", CONTRACT, settings=s) for i in range(6)]
    versions = [r.dataset_version.version for r in results]  # type: ignore[union-attr]
    protected = results[1].dataset_version
    assert protected is not None
    from lockgate_model_cases import registered

    _registry, trained = registered(s)
    store.add_lineage(trained[0].run_id, "consumed", dataset_version_id=protected.id)
    # keep_last=2 keeps versions[4] readable by its own files (appends only add files)
    policies = Policies.from_mapping({"tables": {"events": {"keep_last": 1}}})

    dry = collect_garbage(dry_run=True, settings=s, policies=policies)
    assert "upstream of churn@1 (production)" in dry.about(f"events@v{versions[1]}")[0].reason
    assert dry.about(f"events@v{versions[2]}")[0].action == "vacuum"
    assert dry.about(f"events@v{versions[5]}")[0].reason == "the latest version"
    assert any(d.action == "compact" for d in dry.about("events"))

    report = collect_garbage(dry_run=False, settings=s, policies=policies)
    path = table_path(s, "events")
    [vacuum] = [d for d in report.about("events") if d.reason.startswith("VACUUM")]
    assert vacuum.action == "vacuum" and vacuum.bytes > 0
    assert read_version(path, "events").height == 30  # nothing lost at the head
    assert read_version(path, "events", versions[1]).height == 10  # protected: readable
    # the latest dataset version reads through the compaction that followed it
    assert read_version(path, "events", versions[5]).height == 30
    with pytest.raises(FileNotFoundError):  # expired: its files are vacuumed
        read_version(path, "events", versions[3])
    # ingestion goes on after maintenance commits
    after = ingest(_batch(100), "events", CONTRACT, settings=s)
    assert after.dataset_version is not None
    assert read_version(path, "events").height == 35


def test_prediction_logs_are_compacted(settings: Settings) -> None:
    from deltalake import write_deltalake

    s = _settings(settings, gc_grace_seconds=0)
    log = s.resolved_data_root / "_predictions" / "churn"
    for i in range(4):
        write_deltalake(str(log), _batch(i * 5).to_arrow(), mode="append")
    policies = Policies.from_mapping({"predictions": {"churn": {"keep_last": 1}}})
    report = collect_garbage(dry_run=False, settings=s, policies=policies)
    decisions = report.about("_predictions/churn")
    assert any(d.action == "compact" for d in decisions)
    assert any(d.action == "vacuum" and d.bytes > 0 for d in decisions)
    assert read_version(log, "churn").height == 20
    assert len(list(Path(log).glob("*.parquet"))) == 1


def test_bad_policies_are_refused_listing_every_problem() -> None:
    from lockgate.errors import ConfigError

    with pytest.raises(ConfigError, match=r"3 problem\(s\).*1\. unknown section `table`.*"
                       r"2\. .*keep_last must be a whole number >= 1.*3\. .*`soon` is not an "
                       r"age"):
        Policies.from_mapping({"table": {}, "experiments": {
            "a": {"keep_last": 0}, "b": {"max_age": "soon"}}})
    parsed = Policies.from_mapping({"tables": {"*": {"max_age": "2w"}}})
    assert parsed.for_("tables", "any").max_age == 14 * DAY  # type: ignore[union-attr]


def _log_entries(path: Path) -> list[str]:
    return sorted(p.name for p in (Path(path) / "_delta_log").iterdir()
                  if p.name[:20].isdigit())


def test_delta_log_entries_no_kept_version_needs_are_removed(settings: Settings) -> None:
    s = _settings(settings, gc_grace_seconds=0)
    policies = Policies.from_mapping({"tables": {"events": {"keep_last": 1}}})
    first = [ingest(_batch(i * 5), "events", CONTRACT, settings=s) for i in range(4)]
    collect_garbage(dry_run=False, settings=s, policies=policies)  # compaction + checkpoint
    path = table_path(s, "events")
    before = _log_entries(path)
    later = [ingest(_batch(100 + i * 5), "events", CONTRACT, settings=s) for i in range(3)]
    dry = collect_garbage(dry_run=True, settings=s, policies=policies)
    assert _log_entries(path) == [*before, *_log_entries(path)[len(before):]]  # dry: nothing
    [planned] = [d for d in dry.about("events") if "Delta log" in d.reason]
    assert planned.reason.startswith("would remove")
    report = collect_garbage(dry_run=False, settings=s, policies=policies)
    [done] = [d for d in report.about("events") if "Delta log" in d.reason]
    left = _log_entries(path)
    assert not any(name in left for name in before if name.endswith(".json")
                   and int(name[:20]) < int(min(n for n in left)[:20]))
    assert len([n for n in left if n.endswith(".json")]) < len(before) + 3
    assert done.reason.startswith("removed")
    # the kept version still travels back (its rows through the compaction after it)
    kept = later[-1].dataset_version.version  # type: ignore[union-attr]
    assert read_version(path, "events", kept).height == 35
    with pytest.raises(Exception):  # noqa: B017 - an expired version is gone
        read_version(path, "events", first[0].dataset_version.version)  # type: ignore[union-attr]
    after = ingest(_batch(500), "events", CONTRACT, settings=s)  # writing goes on
    assert after.dataset_version is not None
    assert read_version(path, "events").height == 40
    store = Store.open(s)
    assert sum(v.rows_accepted for v in store.dataset_versions("events")) == 40
