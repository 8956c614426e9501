"""The records that cross a stage boundary have one typed form, and the rules about them
are written once: every stage that reads a contract reads the same `Contract`, so they
cannot disagree on which columns are features or what type a column lands as."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
from sklearn.linear_model import LogisticRegression

from lockgate.data import FrameSource, ingest, read
from lockgate.data.contract import POLARS_TYPES, TYPES, Contract
from lockgate.monitoring.contract_check import count_violations
from lockgate.monitoring.watched_model import WatchedModel
from lockgate.registry.package import (
    PackageContents,
    example_requests,
    feature_columns,
    load_package,
    write_package,
)
from lockgate.serving.prediction_log import prediction_schema

#: a contract with a column the `evolve` policy added (`feature: false`) and every role
CONTRACT = Contract.from_dict({
    "table": "accounts", "version": "2", "primary_key": ["id"], "target": "churned",
    "event_time": "seen_at", "entity": "customer",
    "columns": [
        {"name": "id", "type": "int", "nullable": False},
        {"name": "customer", "type": "string"},
        {"name": "seen_at", "type": "datetime"},
        {"name": "amount", "type": "float", "min": 0.0, "max": 100.0},
        {"name": "plan", "type": "int", "allowed": [1, 2, 3]},
        {"name": "added_later", "type": "float", "feature": False},
        {"name": "churned", "type": "int", "allowed": [0, 1]},
    ],
})


def test_every_stage_agrees_on_the_feature_columns(tmp_path: Path) -> None:
    # Monitoring used to re-derive the rule from the dict and forgot `feature: false`,
    # so it expected a column in the prediction log the server never writes.
    expected = ["amount", "plan"]
    assert CONTRACT.feature_columns == expected
    assert feature_columns(CONTRACT) == feature_columns(CONTRACT.to_dict()) == expected
    watched = WatchedModel("m", 1, pipeline=None, contract=CONTRACT, reference_profile={})
    assert watched.features == expected
    frame = pl.DataFrame({"amount": [1.0, 2.0, 3.0, 4.0], "plan": [1, 2, 3, 1]})
    model = LogisticRegression().fit(frame.to_numpy(), np.array([0, 1, 0, 1]))
    folder = write_package(PackageContents(model, CONTRACT, {}, {}, {}, "# card"),
                           tmp_path / "pkg")
    loaded = load_package(folder)
    assert isinstance(loaded.contract, Contract)
    assert loaded.contract == CONTRACT
    assert loaded.feature_columns == expected
    assert WatchedModel.from_package("m", loaded, 1).features == expected
    assert [set(e) for e in example_requests(loaded.contract)] == [set(expected)] * 3


def test_the_prediction_log_types_features_as_the_versioned_table_does(tmp_path: Path,
                                                                      settings) -> None:
    columns = [{"name": f"c_{kind}", "type": kind} for kind in TYPES]
    contract = Contract.from_dict({"table": "typed", "columns": columns})
    row = {"c_int": "1", "c_float": "1.5", "c_bool": "true", "c_string": "x",
           "c_category": "a", "c_date": "2024-01-02", "c_datetime": "2024-01-02T03:04:05Z"}
    ingest(FrameSource(pl.DataFrame([row])), "typed", contract, settings=settings)
    landed = read("typed", settings=settings).schema
    logged = prediction_schema(contract, contract.feature_columns, "binary")
    for spec in contract.columns:
        assert logged[spec.name] == landed[spec.name] == spec.polars_dtype
        assert spec.polars_dtype == POLARS_TYPES[spec.type]


def test_numeric_allowed_values_read_the_same_in_every_stage() -> None:
    # allowed values are stored as text; requests, checks and examples see numbers
    plan = CONTRACT.column("plan")
    assert plan.allowed == ("1", "2", "3") and plan.allowed_json == (1, 2, 3)
    assert CONTRACT.to_dict()["columns"][4]["allowed"] == [1, 2, 3]
    assert {e["plan"] for e in example_requests(CONTRACT)} <= {1, 2, 3}
    live = pl.DataFrame({"amount": [5.0, 500.0], "plan": [2, 7]})
    counts = count_violations(live, CONTRACT)
    assert counts["allowed:plan"] == 1 and counts["range:amount"] == 1


#: checks as stored: a row check whose failing rows were quarantined (it holds), a
#: batch check that failed, a record written without `ok` that counts failures, one
#: without `ok` that counts none, and a value that is no record at all
STORED_CHECKS = {
    "range:amount": {"passed": 8, "failed": 2, "level": "row", "ok": True},
    "scale:amount": {"passed": 0, "failed": 1, "level": "batch", "ok": False,
                     "message": "amount is 100x its usual scale"},
    "legacy:x": {"passed": 3, "failed": 1},
    "legacy:y": {"passed": 5, "failed": 0},
    "garbled": "ok",
}
FAILED = ["scale:amount", "garbled", "legacy:x"]  # batch-level first, then by name


def test_every_stage_reads_a_failed_or_absent_check_the_same(settings) -> None:
    # Each reader used to read the dict with its own default: the training gate took a
    # record without `ok` as passing, the dashboard took quarantined rows as a failed
    # check, and the promotion gate and root cause saw only `ok is False`.
    from types import SimpleNamespace

    from lockgate.data.check_result import CheckResult, failed_checks
    from lockgate.data.training_gate import failing_checks
    from lockgate.monitoring.root_cause import _upstream
    from lockgate.quality.report import _checks as report_checks
    from lockgate.registry.gates import data_validated
    from lockgate.store import Store
    from lockgate.ui.pages.data import _checks as page_checks
    from lockgate.ui.pages.data import _failed_checks as page_failed

    contract = Contract.from_dict({"table": "checked", "columns": [
        {"name": "amount", "type": "float"}]})
    landed = ingest(FrameSource(pl.DataFrame({"amount": [1.0]})), "checked", contract,
                    settings=settings).dataset_version
    assert landed is not None
    store = Store.open(settings)
    store.update_dataset_version(landed.id, checks=STORED_CHECKS, validation_status="failed")
    found = store.dataset_version_by_id(landed.id)

    assert failed_checks(found.checks) == FAILED
    assert failing_checks(found) == FAILED
    assert _upstream(found, trained_on=True).failed_checks == sorted(FAILED)
    gate = data_validated(store, SimpleNamespace(lineage={"dataset_version_id": landed.id}))
    assert not gate.passed and gate.details["failed"] == sorted(FAILED)
    report = report_checks(found)
    assert sorted(c["name"] for c in report["items"] if not c["ok"]) == sorted(FAILED)
    assert report["not_ok"] == len(FAILED)
    assert page_failed(found) == ", ".join(FAILED)
    html = page_checks(found)
    assert html.count("s-failed'>") == len(FAILED) and html.count("s-passed'>") == 2
    # the stored form is what the door has always written
    result = CheckResult.from_dict("scale:amount", STORED_CHECKS["scale:amount"])
    assert result.to_dict() == STORED_CHECKS["scale:amount"]
    assert not result.ok and result.describe().startswith("scale:amount (batch): 0 passed")


def test_the_door_writes_check_records_that_read_back_typed(settings) -> None:
    from lockgate.data.check_result import CheckLevel, ValidationStatus, check_results

    contract = Contract.from_dict({"table": "door", "columns": [
        {"name": "amount", "type": "float", "min": 0}]})
    result = ingest(FrameSource(pl.DataFrame({"amount": [1.0, -1.0, 2.0]})), "door",
                    contract, settings=settings)
    assert result.dataset_version is not None
    assert result.dataset_version.validation_status == ValidationStatus.PASSED
    checks = check_results(result.dataset_version.checks)
    assert checks["range:amount"].status is ValidationStatus.PASSED
    assert checks["range:amount"].level is CheckLevel.ROW
    assert (checks["range:amount"].passed, checks["range:amount"].failed) == (2, 1)
    assert result.accepted + result.quarantined == result.ingested == 3


def test_monitoring_reads_the_prediction_log_where_serving_writes_it(settings) -> None:
    import lockgate.monitoring as monitoring
    from lockgate.monitoring import labeled_table, monitor, window
    from lockgate.monitoring.window import PREDICTION_COLUMNS
    from lockgate.serving import prediction_log as log

    # one name per path, serving's: monitoring neither re-exports nor wraps them
    assert not {"prediction_log_path", "feedback_path"} & set(dir(monitoring))
    assert window.predictions_path is labeled_table.predictions_path is log.predictions_path
    assert monitor.feedback_path is labeled_table.feedback_path is log.feedback_path
    assert PREDICTION_COLUMNS == log.OUTPUT_COLUMNS
    schema = log.prediction_schema(CONTRACT, CONTRACT.feature_columns, "binary")
    assert list(schema)[:4] == list(log.KEY_COLUMNS)
    assert set(log.OUTPUT_COLUMNS) <= set(schema)


def test_vocabularies_are_enums_whose_stored_values_did_not_change() -> None:
    from lockgate.data.check_result import CheckLevel, ValidationStatus
    from lockgate.data.contract import SCHEMA_POLICIES, ColumnType, SchemaChangePolicy
    from lockgate.data.finding import Finding, Severity
    from lockgate.registry import STAGES
    from lockgate.registry.model_version import STAGE_ALIASES, Stage

    assert list(ValidationStatus) == ["passed", "failed", "not_run"]
    assert list(CheckLevel) == ["row", "batch"]
    assert list(Severity) == ["blocking", "warning", "info"]
    assert TYPES == tuple(ColumnType) == ("int", "float", "bool", "string", "category",
                                          "date", "datetime")
    assert SCHEMA_POLICIES == tuple(SchemaChangePolicy) == ("fail", "evolve", "quarantine",
                                                            "ignore")
    assert STAGES == tuple(Stage) == ("candidate", "staging", "production", "archived")
    assert STAGE_ALIASES == ("staging", "production")
    # text read back from storage compares equal and serialises as the same text
    finding = Finding("x", "warning", "m")
    assert finding.severity is Severity.WARNING
    assert finding.to_dict()["severity"] == "warning"
    assert Finding.from_dict(finding.to_dict()) == finding
    import json
    assert json.dumps({"s": Stage.PRODUCTION}) == '{"s": "production"}'
