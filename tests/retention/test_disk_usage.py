"""``lockgate du``: space per experiment, model, table and log, from the stores' listings."""

from __future__ import annotations

import json

import polars as pl
import pytest

from lockgate.artifacts import LocalBlobStore
from lockgate.config import Settings
from lockgate.data import Contract, ingest
from lockgate.retention import disk_usage
from lockgate.tracking import start_run


def test_du_counts_experiments_models_tables_logs_and_orphans(
        settings: Settings, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from deltalake import write_deltalake
    from lockgate_model_cases import registered

    registered(settings)
    with start_run("big", experiment="space", settings=settings, capture_console=False,
                   sample_hardware=False, capture_code=False) as run:
        run.log_text("x" * 50_000, "big.txt")
    contract = Contract.from_dict({"table": "events", "columns": [
        {"name": "id", "type": "int", "nullable": False}]})
    ingest(pl.DataFrame({"id": [1, 2, 3]}), "events", contract, settings=settings)
    write_deltalake(str(settings.resolved_data_root / "_predictions" / "churn"),
                    pl.DataFrame({"a": [1]}).to_arrow())
    orphan = LocalBlobStore(settings.resolved_artifact_root).put(b"o" * 1234)

    usage = disk_usage(settings=settings)
    [space] = [u for u in usage.of("experiment") if u.name == "space"]
    assert space.bytes == 50_000 and space.items == 1
    [model] = usage.of("model")
    assert model.name == "churn" and model.bytes > 0 and model.items == 1
    [table] = [u for u in usage.of("table") if u.name == "events"]
    assert table.bytes > 0 and table.items == 1
    [log] = usage.of("log")
    assert log.name == "_predictions/churn" and log.bytes > 0
    [unreferenced] = [u for u in usage.of("artifacts") if u.name == "unreferenced blobs"]
    assert unreferenced.bytes == 1234 and unreferenced.items == 1 and orphan
    assert usage.total_bytes >= space.bytes + model.bytes + table.bytes + log.bytes

    from lockgate.cli.main import main

    monkeypatch.setenv("LOCKGATE_HOME", str(settings.home))
    assert main(["du", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total_bytes"] == usage.total_bytes
    assert main(["du"]) == 0
    out = capsys.readouterr().out
    assert "space" in out and "events" in out and "_predictions/churn" in out
    assert main(["gc", "--dry-run", "--json"]) == 0
    reasons = {d["target"]: d["reason"] for d in json.loads(capsys.readouterr().out)["decisions"]}
    assert "package of churn@1 (production)" in reasons.values()
    assert "within the grace age" in reasons[orphan]  # young: kept
    assert main(["gc", "--dry-run"]) == 0
    assert "gc --dry-run: what would happen" in capsys.readouterr().out
