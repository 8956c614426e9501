"""gc while other processes write: an artifact being stored and registered (also bytes
that sit unreferenced in the store, the dedupe race), a run logging metrics, batches
committing to a Delta table. Nothing live may be removed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import sqlalchemy as sa

from lockgate.artifacts import ArtifactStore, LocalBlobStore
from lockgate.config import Settings
from lockgate.data.table import read_version, table_path
from lockgate.retention import Policies, collect_garbage
from lockgate.store import Store
from lockgate.store import schema as t

WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import polars as pl
    from lockgate.config import Settings
    from lockgate.data import Contract, ingest
    from lockgate.tracking import start_run

    home, rounds = Path(sys.argv[1]), int(sys.argv[2])
    settings = Settings(home=home)
    contract = Contract.from_dict({"table": "events", "columns": [
        {"name": "id", "type": "int", "nullable": False},
        {"name": "value", "type": "float", "nullable": False}]})
    with start_run("writer", experiment="concurrent", settings=settings,
                   capture_console=False, sample_hardware=False, capture_code=False) as run:
        (home / "writer-started").write_text("1")
        for i in range(rounds):
            run.log_text(f"fresh artifact {i}", f"fresh-{i}.txt")
            run.log_text(f"orphan {i}", f"revived-{i}.txt")  # bytes gc sees unreferenced
            run.log_metric("step", float(i), step=i)
            ingest(pl.DataFrame({"id": [i], "value": [float(i)]}), "events", contract,
                   settings=settings)
    print("done", flush=True)
""")


def test_gc_under_a_concurrent_writer_removes_nothing_live(settings: Settings,
                                                          tmp_path: Path) -> None:
    rounds = 12
    s = settings.model_copy(update={"gc_grace_seconds": 2.0, "run_purge_days": 0.0})
    Store.open(s)
    blobs = LocalBlobStore(s.resolved_artifact_root)
    old = time.time() - 3600
    for i in range(rounds):  # unreferenced and old: gc's candidates, re-used by the writer
        sha = blobs.put(f"orphan {i}".encode())
        os.utime(blobs.path_for(sha), (old, old))
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    writer = subprocess.Popen([sys.executable, str(script), str(s.home), str(rounds)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    policies = Policies.from_mapping({"tables": {"events": {"keep_last": 1}}})
    passes = 0
    try:
        deadline = time.monotonic() + 300
        while not (s.home / "writer-started").exists():
            assert writer.poll() is None, writer.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        while writer.poll() is None:
            collect_garbage(dry_run=False, settings=s, policies=policies)
            passes += 1
        _out, err = writer.communicate()
        assert writer.returncode == 0, err.decode()[-3000:]
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    collect_garbage(dry_run=False, settings=s, policies=policies)  # and once after
    assert passes >= 1
    store = Store.open(s)
    artifacts = ArtifactStore.open(s)
    with store.read() as conn:
        ids = list(conn.execute(sa.select(t.artifacts.c.id)).scalars())
    assert len(ids) == 2 * rounds
    for artifact_id in ids:
        artifacts.read_bytes(artifact_id)  # present and verified
    [run] = store.list_runs(experiment="concurrent")
    assert len(store.metrics(run.id, "step")) == rounds
    assert read_version(table_path(s, "events"), "events").height == rounds
    versions = store.dataset_versions("events")
    from deltalake import DeltaTable

    history = [(e["version"], e["operation"])
               for e in DeltaTable(str(table_path(s, "events"))).history()]
    assert sum(v.rows_accepted for v in versions) == rounds, (
        [(v.version, v.rows_accepted, v.batch_id) for v in versions], history)
    latest = versions[-1].version
    assert read_version(table_path(s, "events"), "events", latest).height == rounds
