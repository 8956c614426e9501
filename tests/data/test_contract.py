"""Contracts: YAML round trip, roles, and every problem reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.data import ColumnSpec, Contract, ContractError
from lockgate.demo.dataset import CONTRACT


def test_yaml_round_trip_keeps_everything(tmp_path: Path, orders: Contract) -> None:
    path = tmp_path / "orders.yaml"
    path.write_text(orders.to_yaml())
    loaded = Contract.from_yaml(path)
    assert loaded == orders
    assert loaded.column("amount").aliases == ("total",)
    assert loaded.column("amount").unit == "EUR"


def test_roles_and_feature_columns() -> None:
    contract = Contract.from_yaml(CONTRACT)
    assert contract.primary_key == ("customer_id",)
    assert contract.target == "churned" and contract.event_time == "last_event_at"
    assert "customer_id" not in contract.feature_columns
    assert "churned" not in contract.feature_columns
    assert "last_event_at" not in contract.feature_columns
    assert "tenure_months" in contract.feature_columns


def test_every_problem_is_listed_with_hints() -> None:
    data = {
        "table": "t", "on_schema_change": "explode", "target": "lable",
        "columns": [{"name": "label", "type": "integr"},
                    {"name": "d", "type": "string", "min": 3},
                    {"name": "r", "type": "string", "regex": "("}],
    }
    with pytest.raises(ContractError, match=r"5 problem\(s\)") as info:
        Contract.from_dict(data)
    text = str(info.value)
    assert "type `integr` is not one of" in text and "Did you mean `int`" in text
    assert "min/max apply to int, float, date and datetime columns only" in text
    assert "regex '(' does not compile" in text
    assert "target `lable` is not a column. Did you mean `label`" in text


def test_unknown_keys_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match=r"unknown key `nullabel`.*Did you mean `nullable`"):
        Contract.from_dict({"table": "t", "columns": [{"name": "a", "type": "int",
                                                       "nullabel": False}]})
    with pytest.raises(ContractError, match=r"does not exist.*lockgate contract infer"):
        Contract.from_yaml(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("table: [unclosed")
    with pytest.raises(ContractError, match="is not valid YAML"):
        Contract.from_yaml(bad)


def test_column_lookup_suggests() -> None:
    contract = Contract("t", "1", (ColumnSpec("amount", "float"),))
    with pytest.raises(ContractError, match="Did you mean `amount`"):
        contract.column("amont")


def test_table_names_cannot_escape_the_data_root() -> None:
    with pytest.raises(ContractError, match="must use letters"):
        Contract("../etc", "1", (ColumnSpec("a", "int"),))


def test_structural_and_semantic_problems_are_reported_in_one_round() -> None:
    """A misspelled key and a key naming no column come back together, not one fix later."""
    data = {"table": "orders", "primary_key": ["order_idd"], "target": "amout",
            "colums": [], "columns": [{"name": "order_id", "type": "int", "nulable": False},
                                      {"name": "amount", "type": "flot"}]}
    with pytest.raises(ContractError) as caught:
        Contract.from_dict(data)
    message = str(caught.value)
    assert message.startswith("5 problem(s)")
    for part in ("`colums`", "`nulable`", "`flot`", "target `amout`", "`order_idd`"):
        assert part in message
