"""Ingestion end to end on real Delta tables and a real store: versions, idempotency,
accounting, duplicates, schema-change policies, scale change, recovery."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from lockgate.config import Settings
from lockgate.data import (
    Contract,
    ContractError,
    SchemaChangeError,
    contract_for,
    ingest,
    quarantined,
    read,
    versions,
)
from lockgate.store import Store
from lockgate.tracking import start_run

HEADER = "order_id,amount,ordered_at,channel,email"


def _csv(path: Path, rows: list[str], header: str = HEADER) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _good(start: int, n: int, scale: float = 1.0) -> list[str]:
    return [f"{i},{(10 + i % 7) * scale},2025-01-02T03:04:05Z,web,c{i}@x.io"
            for i in range(start, start + n)]


def test_versions_accounting_and_time_travel(tmp_path: Path, any_settings: Settings,
                                             orders: Contract) -> None:
    first = ingest(_csv(tmp_path / "a.csv", _good(0, 10)), "orders", orders,
                   settings=any_settings)
    rows = [*_good(10, 5), "15,-3,2025-01-01,web,a@b", "16,5,yesterday,web,a@b",
            "x,5,2025-01-01,web,a@b", ",5,2025-01-01,web,a@b", "17,5,2025-01-01,fax,a@b",
            "18,5,2025-01-01,web,nope", "19,5,2025-01-01,web," + "a" * 40 + "@b"]
    second = ingest(_csv(tmp_path / "b.csv", rows), "orders", settings=any_settings)
    assert (first.version, second.version) == (0, 1)
    assert (second.ingested, second.accepted, second.quarantined) == (12, 5, 7)
    assert second.reasons == {"range:amount": 1, "parse:ordered_at": 1, "type:order_id": 1,
                              "null:order_id": 1, "allowed:channel": 1, "regex:email": 1,
                              "length:email": 1}
    dv = second.dataset_version
    assert dv is not None and dv.validation_status == "passed"
    assert dv.checks["range:amount"] == {"passed": 11, "failed": 1, "level": "row", "ok": True}
    assert dv.details["delta_version"] == 1 and dv.details["reasons"] == second.reasons
    assert read("orders", 0, settings=any_settings).height == 10
    assert read("orders", settings=any_settings).height == 15
    assert [v.version for v in versions("orders", settings=any_settings)] == [0, 1]
    held = quarantined("orders", settings=any_settings)
    assert held.height == 7 and set(held["batch_id"]) == {second.batch_id}
    assert '"amount":"-3"' in held.filter(pl.col("reasons").list.contains("range:amount"))[
        "raw"][0]


def test_same_content_lands_once_and_says_so(tmp_path: Path, settings: Settings,
                                             orders: Contract) -> None:
    path = _csv(tmp_path / "a.csv", _good(0, 4))
    first = ingest(path, "orders", orders, settings=settings)
    again = ingest(path, "orders", orders, settings=settings)
    assert first.created and not again.created
    assert again.dataset_version == first.dataset_version
    assert "already landed as orders@v0" in again.warnings[0]
    assert read("orders", settings=settings).height == 4
    assert len(versions("orders", settings=settings)) == 1


def test_duplicates_against_batch_and_table(tmp_path: Path, settings: Settings,
                                            orders: Contract) -> None:
    """A key repeated with other values is a duplicate; a repeat of the very same row (a
    retry, a re-export) is a copy: skipped, neither accepted nor quarantined."""
    ingest(_csv(tmp_path / "a.csv", _good(0, 3)), "orders", orders, settings=settings)
    changed = [r.replace("web", "shop") for r in _good(2, 1) + _good(5, 1)]
    rows = [*changed, *_good(5, 1)]  # 2 landed with other values; 5 twice, differing
    result = ingest(_csv(tmp_path / "b.csv", rows), "orders", settings=settings)
    assert result.reasons == {"duplicate:order_id": 3} and result.accepted == 0
    keep_first = orders.with_changes(on_duplicate="keep_first", version="2")
    result = ingest(_csv(tmp_path / "c.csv", rows + _good(6, 1)), "orders", keep_first,
                    settings=settings)
    assert result.reasons == {"duplicate:order_id": 2} and result.accepted == 2
    assert sorted(read("orders", settings=settings)["order_id"]) == [0, 1, 2, 5, 6]
    copies = ingest(_csv(tmp_path / "d.csv", [*_good(0, 2), *_good(7, 1), *_good(7, 1)]),
                    "orders", keep_first, settings=settings)
    assert (copies.ingested, copies.accepted, copies.quarantined, copies.deduplicated) == \
        (1, 1, 0, 3)
    assert sorted(read("orders", settings=settings)["order_id"]) == [0, 1, 2, 5, 6, 7]


def test_schema_change_fail_names_columns_and_policy(tmp_path: Path, settings: Settings,
                                                     orders: Contract) -> None:
    ingest(_csv(tmp_path / "a.csv", _good(0, 5)), "orders", orders, settings=settings)
    rows = [f"{i},{i},2025-01-01,web,1" for i in range(10, 15)]
    path = _csv(tmp_path / "b.csv", rows, "order_id,amount_eur,ordered_at,channel,vip")
    with pytest.raises(SchemaChangeError, match=r"(?s)on_schema_change: fail for new, "
                       r"missing, renamed\), nothing was "
                       r"ingested.*new column `vip`.*column `email` is missing.*`amount` seems "
                       r"renamed to `amount_eur`") as info:
        ingest(path, "orders", settings=settings)
    assert "schema:renamed:amount" in info.value.changes
    assert len(versions("orders", settings=settings)) == 1


def test_schema_change_retyped(tmp_path: Path, settings: Settings, orders: Contract) -> None:
    rows = [f"{i},{i},2025-01-01,web,a@b" for i in range(5)]
    ingest(_csv(tmp_path / "a.csv", rows), "orders", orders, settings=settings)
    retyped = [f"{i},high,2025-01-01,web,a@b" for i in range(5, 30)]
    with pytest.raises(SchemaChangeError, match=r"column `amount`: 25 of 25 values are not "
                       r"float"):
        ingest(_csv(tmp_path / "b.csv", retyped), "orders", settings=settings)


def test_schema_change_evolve(tmp_path: Path, settings: Settings, orders: Contract) -> None:
    evolving = orders.with_changes(on_schema_change="evolve")
    ingest(_csv(tmp_path / "a.csv", _good(0, 5)), "orders", evolving, settings=settings)
    rows = [f"{i},{i},2025-01-01,web,{i % 2}" for i in range(5, 10)]
    header = "order_id,amount_eur,ordered_at,channel,vip"
    result = ingest(_csv(tmp_path / "b.csv", rows, header), "orders", settings=settings)
    assert result.accepted == 5 and result.contract_version == "1+evolved.1"
    assert any("new column `vip`" in w and "evolve" in w for w in result.warnings)
    evolved = contract_for("orders", settings=settings)
    assert evolved.column("vip").type == "int"  # 0/1 is an int, "yes" would not be one
    assert "vip" not in evolved.feature_columns  # evolved in, not a feature until opted in
    assert "amount_eur" in evolved.column("amount").aliases
    assert evolved.column("email").nullable
    frame = read("orders", settings=settings).sort("order_id")
    assert frame.height == 10 and frame["vip"].to_list()[-5:] == [1, 0, 1, 0, 1]
    assert contract_for("orders", 0, settings=settings).version == "1"
    assert result.dataset_version is not None
    assert result.dataset_version.checks["schema"]["ok"] is True


def test_schema_change_quarantine(tmp_path: Path, settings: Settings,
                                  orders: Contract) -> None:
    holding = orders.with_changes(on_schema_change="quarantine")
    ingest(_csv(tmp_path / "a.csv", _good(0, 3)), "orders", holding, settings=settings)
    rows = [f"{i},{i},2025-01-01,web" for i in range(5, 9)]
    result = ingest(_csv(tmp_path / "b.csv", rows, "order_id,amount,ordered_at,channel"),
                    "orders", settings=settings)
    assert (result.accepted, result.quarantined) == (0, 4)
    assert result.reasons == {"schema:missing:email": 4}
    assert result.dataset_version is not None
    assert result.dataset_version.validation_status == "failed"
    assert read("orders", settings=settings).height == 3


def test_scale_change_is_flagged(tmp_path: Path, settings: Settings, orders: Contract) -> None:
    ingest(_csv(tmp_path / "a.csv", _good(0, 30)), "orders", orders, settings=settings)
    steady = ingest(_csv(tmp_path / "b.csv", _good(30, 30, 1.3)), "orders", settings=settings)
    assert steady.dataset_version is not None
    assert steady.dataset_version.validation_status == "passed"
    wider = orders.with_changes(columns=tuple(
        c if c.name != "amount" else Contract.from_dict({"table": "t", "columns": [
            {"name": "amount", "type": "float", "min": 0}]}).columns[0]
        for c in orders.columns), version="2")
    scaled = ingest(_csv(tmp_path / "c.csv", _good(60, 30, 1000)), "orders", wider,
                    settings=settings)
    dv = scaled.dataset_version
    assert dv is not None and dv.validation_status == "failed"
    assert dv.checks["scale:amount"]["ok"] is False and dv.checks["scale:amount"]["level"] == \
        "batch"
    assert any("`amount` abs median went from" in w and "scale change" in w
               for w in scaled.warnings)
    assert dv.details["stats"]["amount"]["mean"] > 9000


def test_store_recovers_commits_it_missed(tmp_path: Path, settings: Settings,
                                          orders: Contract) -> None:
    """The Delta log is the source of truth: a store that missed a commit catches up."""
    ingest(_csv(tmp_path / "a.csv", _good(0, 3)), "orders", orders, settings=settings)
    fresh = Settings(home=settings.home, db_url=f"sqlite:///{tmp_path / 'other.db'}",
                     data_root=settings.resolved_data_root)
    found = versions("orders", settings=fresh)
    assert [(v.version, v.rows_accepted, v.contract_version) for v in found] == [(0, 3, "1")]
    assert ingest(_csv(tmp_path / "b.csv", _good(3, 2)), "orders", settings=fresh).version == 1


def test_run_lineage(tmp_path: Path, settings: Settings, orders: Contract) -> None:
    with start_run("ingest", settings=settings) as run:
        result = ingest(_csv(tmp_path / "a.csv", _good(0, 3)), "orders", orders,
                        settings=settings, run=run)
    assert result.dataset_version is not None
    store = Store.open(settings)
    edges = store.lineage(run_id=run.id)
    assert [(e.direction, e.dataset_version_id) for e in edges] == [
        ("produced", result.dataset_version.id)]


def test_contract_that_retypes_the_table_is_refused(tmp_path: Path, settings: Settings,
                                                    orders: Contract) -> None:
    ingest(_csv(tmp_path / "a.csv", _good(0, 3)), "orders", orders, settings=settings)
    retyped = orders.with_changes(version="2", columns=tuple(
        Contract.from_dict({"table": "t", "columns": [{"name": "amount", "type": "string"}]})
        .columns[0] if c.name == "amount" else c for c in orders.columns))
    with pytest.raises(ContractError, match=r"`amount` is Float64 in the table but String in "
                       r"the batch.*Nothing was written"):
        ingest(_csv(tmp_path / "b.csv", [*_good(3, 2), "9,x,bad,web,a@b"]), "orders", retyped,
               settings=settings)
    assert len(versions("orders", settings=settings)) == 1
    assert quarantined("orders", settings=settings).height == 0


def test_absent_json_keys(settings: Settings, orders: Contract) -> None:
    """An absent key is a null for nullable columns whatever the other records hold; a
    required column absent from every record is still a schema change."""
    base = {"order_id": 1, "amount": 2.0, "ordered_at": "2025-01-01T00:00:00Z",
            "channel": "web"}
    alone = ingest([base], "orders", orders, settings=settings)  # no `email` key at all
    assert (alone.accepted, alone.quarantined, alone.warnings) == (1, 0, ())
    mixed = ingest([{**base, "order_id": 2, "email": "a@b"}, {**base, "order_id": 3}],
                   "orders", settings=settings)
    assert (mixed.accepted, mixed.quarantined) == (2, 0)
    assert read("orders", settings=settings)["email"].null_count() == 2
    some = ingest([{**base, "order_id": 4}, {k: v for k, v in base.items() if k != "order_id"}],
                  "orders", settings=settings)
    assert some.reasons == {"null:order_id": 1}
    with pytest.raises(SchemaChangeError, match=r"column `order_id` is missing from the batch"):
        ingest([{k: v for k, v in base.items() if k != "order_id"}], "orders",
               settings=settings)
