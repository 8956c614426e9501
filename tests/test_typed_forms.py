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
