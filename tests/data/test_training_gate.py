"""The training gate: refuses unvalidated versions, records overrides, reports
duplicates and conflicting labels."""

from __future__ import annotations

import polars as pl
import pytest

from lockgate.config import Settings
from lockgate.data import Contract, apply_contract, ingest
from lockgate.data.training_gate import (
    TrainingDataWarning,
    UnvalidatedDataError,
    read_for_training,
    training_findings,
)
from lockgate.store import Store
from lockgate.tracking import start_run
from tests.quality.orders_cases import CONTRACT, batch


@pytest.fixture
def orders(settings: Settings) -> Settings:
    """orders@v0 passes validation; orders@v1 fails a batch check (amount x1000)."""
    contract = Contract.from_dict(CONTRACT)
    first = ingest(batch(0, n=200), "orders", contract, settings=settings)
    second = ingest(batch(200, n=200, scale=1000.0, seed=1), "orders", settings=settings)
    assert first.dataset_version.validation_status == "passed"
    assert second.dataset_version.validation_status == "failed"
    return settings


def test_passed_version_is_read_and_consumed_by_the_run(orders: Settings) -> None:
    with start_run("train", settings=orders, capture_console=False,
                   sample_hardware=False, capture_code=False) as run:
        frame = read_for_training("orders", version=0, run=run, settings=orders)
    assert frame.height == 200
    store = Store.open(orders)
    edges = store.lineage(run_id=run.id)
    assert [(e.direction, e.role, e.note) for e in edges] == [
        ("consumed", "training_data", None)]
    assert store.tags(run.id)["training_data"] == "orders@v0"


def test_failed_version_is_refused_with_failing_checks_and_command(orders: Settings) -> None:
    with pytest.raises(UnvalidatedDataError, match=r"(?s)Refusing to train on orders@v1: "
                       r"its validation failed.*1\. scale:amount \(batch\): 0 passed, 1 "
                       r"failed.*`lockgate data report orders@1`") as caught:
        read_for_training("orders", settings=orders)
    assert caught.value.failing_checks == ["scale:amount"]
    assert caught.value.status == "failed"


def test_never_validated_version_is_refused(settings: Settings) -> None:
    Store.open(settings).add_dataset_version("raw", rows_ingested=3, rows_accepted=3)
    with pytest.raises(UnvalidatedDataError, match="raw@v0: its validation never ran"):
        read_for_training("raw", settings=settings)


def test_override_proceeds_and_is_recorded_in_run_and_lineage(orders: Settings) -> None:
    with start_run("train", settings=orders, capture_console=False,
                   sample_hardware=False, capture_code=False) as run:
        frame = read_for_training("orders", version=1, run=run, settings=orders,
                                  allow_unvalidated="prices moved to cents, known")
    assert frame.height == 400
    store = Store.open(orders)
    assert store.params(run.id) == {
        "allow_unvalidated[orders@v1]": "prices moved to cents, known"}
    assert store.tags(run.id)["unvalidated_data"] == "orders@v1"
    (edge,) = store.lineage(run_id=run.id)
    assert edge.dataset_version_id == store.dataset_version("orders", 1).id
    assert edge.note.startswith("allow_unvalidated: prices moved to cents, known "
                                "(validation failed; failing: scale:amount)")
    assert "Trained on orders@v1 although" in store.notes(run.id)[0].text


def test_override_without_a_run_records_one(orders: Settings) -> None:
    read_for_training("orders", settings=orders, allow_unvalidated="exploring")
    store = Store.open(orders)
    (run,) = store.list_runs(experiment="data-gate")
    assert run.status == "FINISHED" and run.name == "read_for_training orders@v1"
    assert store.lineage(run_id=run.id)[0].note.startswith("allow_unvalidated: exploring")


def test_blank_override_reason_is_refused(orders: Settings) -> None:
    with pytest.raises(UnvalidatedDataError, match="needs the reason as text"):
        read_for_training("orders", settings=orders, allow_unvalidated="  ")


def test_duplicates_and_conflicting_labels_are_reported(settings: Settings) -> None:
    """The door quarantines a conflict inside a batch and against landed rows; rows
    landed before the target was declared (a later contract version) can still hold
    one, and the training gate reports it."""
    contract = Contract.from_dict(CONTRACT)
    batch = pl.DataFrame({
        "id": [1, 2, 3, 4, 5, 6], "amount": [1.0, 1.0, 2.0, 2.0, 3.0, 4.0],
        "kind": ["a", "a", "b", "b", "a", "b"], "label": [0, 1, 1, 1, 0, 0],
    })
    untargeted = contract.with_changes(version="0", target=None)
    ingest(batch.filter(pl.col("id") != 2), "orders", untargeted, settings=settings)
    ingest(batch.filter(pl.col("id") == 2), "orders", untargeted, settings=settings)
    apply_contract("orders", contract, settings=settings)
    refused = ingest(pl.DataFrame({"id": [7], "amount": [2.0], "kind": ["b"], "label": [0]}),
                     "orders", contract, settings=settings)
    assert refused.reasons == {"conflict:label": 1}  # against landed rows 3 and 4
    with start_run("train", settings=settings, capture_console=False,
                   sample_hardware=False, capture_code=False) as run, \
            pytest.warns(TrainingDataWarning, match="1 feature combinations"):
        read_for_training("orders", run=run, settings=settings)
    store = Store.open(settings)
    assert store.tags(run.id)["data_findings"] == "conflicting_labels"
    (artifact,) = [a for a in store.artifacts(run.id) if a.name == "training_data_findings"]
    from lockgate.artifacts import ArtifactStore

    recorded = ArtifactStore.open(settings).load(artifact)
    (finding,) = recorded["findings"]
    assert finding["evidence"]["rows"] == 2
    assert finding["evidence"]["examples"][0] == {
        "features": {"amount": 1.0, "kind": "a"}, "labels": [0, 1]}


def test_training_findings_counts_exact_duplicates() -> None:
    frame = pl.DataFrame({"a": [1, 1, 1, 2], "y": [0, 0, 0, 1]})
    (duplicates,) = training_findings(frame, target="y")
    assert duplicates.code == "duplicate_rows"
    assert duplicates.evidence == {"duplicate_rows": 2, "rows": 4}
    assert training_findings(pl.DataFrame({"a": [1, 2], "y": [0, 1]}), target="y") == []
