"""Tables and their versions: a reader of version N sees every batch up to N."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import lockgate as lg
from lockgate.cli.main import main
from lockgate.config import Settings
from lockgate.data.tables import rows_at
from lockgate.store import Store
from lockgate.ui import create_dashboard_app


def _versions(store: Store) -> list[int]:
    ids = []
    for i, (accepted, quarantined) in enumerate([(3400, 12), (0, 5), (250, 0)]):
        version = store.add_dataset_version(
            "loans", source=f"batch{i}.csv", rows_ingested=accepted + quarantined,
            rows_accepted=accepted, rows_quarantined=quarantined, validation_status="passed",
            details={"delta_version": i}, contract_version="1")
        ids.append(version.id)
    return ids


def test_rows_at_counts_every_batch_up_to_the_version(settings: Settings) -> None:
    store = Store.open(settings)
    ids = _versions(store)
    assert [rows_at(store, store.dataset_version_by_id(i)) for i in ids] == [3400, 3400, 3650]


def test_data_tables_counts_the_table_not_the_last_batch(
        settings: Settings, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LOCKGATE_HOME", str(settings.home))
    _versions(Store.open(settings))
    assert main(["data", "tables", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert (listed[0]["rows"], listed[0]["accepted"]) == (3650, 250)
    assert main(["data", "tables"]) == 0
    assert "3,650" in capsys.readouterr().out


def test_models_page_shows_the_rows_trained_on(settings: Settings, tmp_path: Path) -> None:
    store = Store.open(settings)
    ids = _versions(store)
    with lg.start_run("train", experiment="loans", settings=settings,
                      sample_hardware=False) as run:
        run.consumed(store.dataset_version_by_id(ids[1]), role="training data")
    app = create_dashboard_app(settings)
    with TestClient(app, base_url="http://127.0.0.1:5000") as client:
        page = client.get(f"/models/run/{run.id}").text
    cells = page[page.index('id="training-data"'):]
    assert "3,400" in cells and ">0<" not in cells
