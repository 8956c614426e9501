"""gc and du on object storage (a real S3 server, ``moto_server`` on 127.0.0.1): the same
decisions through the artifact store's ``list`` / ``list_partials`` / ``delete_if_older``
and deltalake's own object store."""

from __future__ import annotations

import time

import polars as pl

from lockgate.artifacts.blob_store import blob_store_for
from lockgate.config import Settings
from lockgate.data import Contract, ingest
from lockgate.data.table import read_version, table_path
from lockgate.retention import Policies, collect_garbage, delete_runs, disk_usage
from lockgate.store import Store
from lockgate.tracking import start_run


def test_gc_and_du_on_s3(s3_settings: Settings) -> None:
    s = s3_settings.model_copy(update={"run_purge_days": 1.0, "gc_grace_seconds": 0.0})
    store = Store.open(s)
    runs = []
    for name in ("live", "old"):
        with start_run(name, experiment="s3", settings=s, capture_console=False,
                       sample_hardware=False, capture_code=False) as run:
            run.log_text(f"{name} bytes", "notes.txt")
        runs.append(run.id)
    live, old = runs
    delete_runs([old], settings=s)
    blobs = blob_store_for(s.resolved_artifact_root)
    orphan = blobs.put(b"orphan on s3")
    contract = Contract.from_dict({"table": "events", "columns": [
        {"name": "id", "type": "int", "nullable": False}]})
    for i in range(3):
        ingest(pl.DataFrame({"id": [i]}), "events", contract, settings=s)

    usage = disk_usage(settings=s)
    [exp] = usage.of("experiment")
    assert exp.name == "s3" and exp.items == 2 and exp.bytes > 0
    [table] = usage.of("table")
    assert table.name == "events" and table.bytes > 0

    policies = Policies.from_mapping({"tables": {"events": {"keep_last": 1}}})
    report = collect_garbage(dry_run=False, settings=s, policies=policies,
                             now=time.time() + 2 * 86400)
    [old_blob] = [d.target for d in report.decisions
                  if d.subject == "blob" and d.action == "remove" and d.target != orphan]
    assert not blobs.exists(orphan) and not blobs.exists(old_blob)
    [kept] = [a.sha256 for a in store.artifacts(live)]
    assert blobs.get(kept) == b"live bytes"
    assert any(d.action == "compact" for d in report.about("events"))
    assert read_version(table_path(s, "events"), "events").height == 3
