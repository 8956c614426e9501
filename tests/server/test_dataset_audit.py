"""Recording a dataset version (what ingestion does once per batch) is a state change
like any other: it is in the audit log with who, when and the batch's counts, embedded
and through the server (where the writer is the token's user, not the server's OS
user)."""

from __future__ import annotations

from lockgate.config import Settings
from lockgate.store import Store, audit
from lockgate.store.remote import RemoteStore
from tests.server.conftest import Team

COUNTS = {"rows_ingested": 10, "rows_accepted": 9, "rows_quarantined": 1}


def test_a_dataset_version_is_audited_embedded(settings: Settings) -> None:
    store = Store.open(settings)
    version = store.add_dataset_version("orders", source="orders.csv", **COUNTS)
    (entry,) = audit.entries(store, action="dataset.versioned")
    assert entry.target == f"dataset:{version.ref}" and entry.actor.startswith("os:")
    assert entry.before is None
    assert entry.after == {**COUNTS, "source": "orders.csv", "contract_version": None,
                           "validation_status": "not_run", "run_id": None}


def test_a_dataset_version_through_the_server_names_its_writer(team: Team) -> None:
    remote = RemoteStore(team.url, team.tokens["writer"])
    try:
        version = remote.add_dataset_version("orders", source="orders.csv", **COUNTS)
    finally:
        remote.close()
    (entry,) = audit.entries(Store.open(team.settings), action="dataset.versioned")
    assert (entry.actor, entry.target) == ("writer", f"dataset:{version.ref}")
    assert entry.after["rows_quarantined"] == 1
