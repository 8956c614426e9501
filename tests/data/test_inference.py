"""Inferring types and a draft contract from samples."""

from __future__ import annotations

import polars as pl

from lockgate.data import infer_contract
from lockgate.data.inference import infer_type


def test_infer_type() -> None:
    assert infer_type(pl.Series(["1", "2", None])) == "int"
    assert infer_type(pl.Series(["1", "2.5"])) == "float"
    assert infer_type(pl.Series(["yes", "no"])) == "bool"
    assert infer_type(pl.Series(["2024-01-01", "2024-02-03"])) == "date"
    assert infer_type(pl.Series(["2024-01-01T10:00:00Z", "2024-01-01 11:00"])) == "datetime"
    assert infer_type(pl.Series(["a", "1"])) == "string"


def test_draft_contract_roles_and_categories() -> None:
    frame = pl.DataFrame({"user_id": [str(i) for i in range(40)],
                          "plan": ["a", "b"] * 20, "label": ["0", "1"] * 20,
                          "seen_at": ["2024-01-01T00:00:00Z"] * 40})
    draft = infer_contract(frame, "users")
    contract = draft.contract
    assert contract.primary_key == ("user_id",) and contract.target == "label"
    assert contract.column("plan").type == "category"
    assert contract.column("plan").allowed == ("a", "b")
    assert contract.event_time == "seen_at"
    assert "GUESS" in draft.to_yaml()
