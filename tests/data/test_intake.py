"""Every defect family caught at the door, end to end on real files and Delta tables:
conflicting labels, date/datetime/int bounds, inferred contracts that hold, batch-level
changes hidden by row checks, the fail threshold, per-kind schema policies."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest

from lockgate.config import Settings
from lockgate.data import (
    ColumnSpec,
    Contract,
    SchemaChangeError,
    contract_for,
    infer_contract,
    ingest,
    quarantined,
    read,
    versions,
)
from lockgate.data.errors import QuarantineShareError
from lockgate.store import Store

LOANS = Contract(
    table="loans", version="1",
    columns=(ColumnSpec("loan_id", "int", nullable=False),
             ColumnSpec("income", "float", min=0, max=1_000_000),
             ColumnSpec("region", "category", allowed=("north", "south")),
             ColumnSpec("opened", "date", min="2020-01-01", max="2025-12-31"),
             ColumnSpec("approved_at", "datetime", min="2020-01-01T00:00:00Z"),
             ColumnSpec("grade", "int", allowed=("1", "2", "3")),
             ColumnSpec("defaulted", "int", allowed=("0", "1"), nullable=False)),
    primary_key=("loan_id",), target="defaulted")
HEADER = "loan_id,income,region,opened,approved_at,grade,defaulted"


def _csv(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def _rows(start: int, n: int, income: float = 1.0) -> list[str]:
    return [f"{i},{(30_000 + 17 * i) * income},{'north' if i % 2 else 'south'},2024-03-01,"
            f"2024-03-02T10:00:00Z,{1 + i % 3},{i % 2}" for i in range(start, start + n)]


def test_conflicting_labels_are_quarantined_with_their_group(tmp_path: Path,
                                                             settings: Settings) -> None:
    same = "52000,north,2024-03-01,2024-03-02T10:00:00Z,2"
    rows = [*_rows(0, 6), f"100,{same},0", f"101,{same},1", f"102,{same},0",
            "103,99.5,south,2024-03-01,2024-03-02T10:00:00Z,1,1"]
    result = ingest(_csv(tmp_path / "a.csv", rows), "loans", LOANS, settings=settings)
    assert result.reasons == {"conflict:defaulted": 3}
    assert result.accepted == 7 and result.accepted + result.quarantined == result.ingested
    held = quarantined("loans", settings=settings)
    groups = {r[0] for r in held["reasons"].to_list()}
    assert len(groups) == 1 and next(iter(groups)).startswith("conflict:defaulted#")
    assert sorted(held["row"].to_list()) == [6, 7, 8]


def test_a_label_conflicting_with_a_landed_row_is_quarantined_naming_its_version(
        tmp_path: Path, settings: Settings) -> None:
    same = "52000,north,2024-03-01,2024-03-02T10:00:00Z,2"
    first = ingest(_csv(tmp_path / "a.csv", [*_rows(0, 6), f"100,{same},0"]), "loans", LOANS,
                   settings=settings)
    assert first.quarantined == 0
    # A later batch: the same features as landed row 100, the other label; and a row
    # agreeing with it (not a conflict), and a conflict-free new row.
    agrees = "30017.0,north,2024-03-01,2024-03-02T10:00:00Z,2,1"  # landed row 1's, same label
    later = ingest(_csv(tmp_path / "b.csv", [f"200,{same},1", f"201,{agrees}",
                                             *_rows(300, 2)]),
                   "loans", LOANS, settings=settings)
    assert later.reasons == {"conflict:defaulted": 1}
    assert later.accepted == 3 and later.accepted + later.quarantined == later.ingested
    held = quarantined("loans", settings=settings)
    (reason,) = held["reasons"].to_list()[0]
    assert reason.startswith("conflict:defaulted#") and reason.endswith(f"@v{first.version}")
    assert held["row"].to_list() == [0]
    assert sorted(read("loans", settings=settings)["loan_id"].to_list()) == [
        0, 1, 2, 3, 4, 5, 100, 201, 300, 301]


def test_bounds_on_dates_datetimes_and_allowed_ints(tmp_path: Path, settings: Settings) -> None:
    rows = [*_rows(0, 4),
            "10,1,north,2031-01-01,2024-03-02T10:00:00Z,1,0",   # years after the period
            "11,1,north,2024-01-01,2019-12-31T23:59:59Z,1,0",   # before approvals began
            "12,1,north,2024-01-01,2024-01-01T00:00:00Z,7,0",   # grade 7 does not exist
            "13,1,north,2024-01-01,2024-01-01T00:00:00Z,1,yes"]  # a label must be 0/1
    result = ingest(_csv(tmp_path / "a.csv", rows), "loans", LOANS, settings=settings)
    assert result.reasons == {"range:opened": 1, "range:approved_at": 1, "allowed:grade": 1,
                              "type:defaulted": 1}
    with pytest.raises(Exception, match=r"min must be an ISO date"):
        Contract("t", "1", (ColumnSpec("d", "date", min="last tuesday"),))
    with pytest.raises(Exception, match=r"allowed values of a int column must be numbers"):
        Contract("t", "1", (ColumnSpec("g", "int", allowed=("a",)),))


def test_inferred_contract_bounds_labels_and_its_own_sample(tmp_path: Path,
                                                            settings: Settings) -> None:
    rng = random.Random(3)
    lines = ["id,amount,visits,signup,churned"]
    for i in range(300):
        lines.append(f"{i},{rng.uniform(10, 200):.2f},{rng.randint(0, 40)},"
                     f"2024-0{1 + i % 6}-1{i % 9},{i % 2}")
    sample = tmp_path / "sample.csv"
    sample.write_text("\n".join(lines) + "\n")
    draft = infer_contract(str(sample), "visits", target="churned", primary_key=["id"])
    text = draft.to_yaml()
    path = tmp_path / "visits.yaml"
    path.write_text(text)
    contract = Contract.from_yaml(path)
    amount, churned, signup = (contract.column(c) for c in ("amount", "churned", "signup"))
    assert 0 <= amount.min <= 10 and 200 <= amount.max < 1_000
    assert churned.type == "int" and churned.allowed == ("0", "1")
    assert signup.min is not None and signup.max is not None
    assert "# GUESS: type float" in text and "percentiles 1-99" in text
    assert contract.target == "churned" and contract.primary_key == ("id",)
    own = ingest(sample, "visits", path, settings=settings)  # never refuses its own sample
    assert (own.accepted, own.quarantined) == (300, 0)
    bad = tmp_path / "bad.csv"
    bad.write_text("id,amount,visits,signup,churned\n900,50000,3,2024-02-01,1\n"
                   "901,20,3,2024-02-01,yes\n902,20,3,1999-02-01,0\n")
    later = ingest(bad, "visits", settings=settings)
    assert later.reasons == {"range:amount": 1, "type:churned": 1, "range:signup": 1}


def test_unit_change_is_seen_on_the_whole_batch(tmp_path: Path, settings: Settings) -> None:
    ingest(_csv(tmp_path / "a.csv", _rows(0, 50)), "loans", LOANS, settings=settings)
    # x1000: most rows fail the range check; the few left would look normal on their own
    scaled = _rows(100, 45, income=1000) + _rows(200, 5)  # the 5 left are normal
    result = ingest(_csv(tmp_path / "b.csv", scaled), "loans", settings=settings)
    assert result.reasons == {"range:income": 45}
    assert any("income" in w and "unit or scale" in w for w in result.warnings)
    assert result.dataset_version.validation_status == "failed"
    assert "scale:income" in result.dataset_version.checks


def test_null_share_and_new_categories_are_batch_findings(tmp_path: Path,
                                                          settings: Settings) -> None:
    loose = LOANS.with_changes(columns=tuple(
        ColumnSpec("region", "category") if c.name == "region" else c for c in LOANS.columns))
    ingest(_csv(tmp_path / "a.csv", _rows(0, 40)), "loans", loose, settings=settings)
    rows = [r.replace(",north,", ",Nord,").replace(",south,", ",,") for r in _rows(100, 40)]
    result = ingest(_csv(tmp_path / "b.csv", rows), "loans", settings=settings)
    checks = result.dataset_version.checks
    assert "categories:region" in checks and "nulls:region" in checks


def test_fail_threshold_refuses_the_batch_atomically(tmp_path: Path, settings: Settings) -> None:
    ingest(_csv(tmp_path / "a.csv", _rows(0, 5)), "loans", LOANS, settings=settings)
    bad = [r.replace("2024-03-01", "1990-01-01") for r in _rows(100, 9)] + _rows(200, 1)
    path = _csv(tmp_path / "b.csv", bad)
    with pytest.raises(QuarantineShareError, match=r"9 of 10 rows \(90%\).*Nothing was "
                       r"written.*range:opened \(9\)"):
        ingest(path, "loans", settings=settings, max_quarantine_share=0.5)
    strict = LOANS.with_changes(max_quarantine_share=0.2, version="2")
    with pytest.raises(QuarantineShareError):
        ingest(path, "loans", strict, settings=settings)
    assert read("loans", settings=settings).height == 5
    assert quarantined("loans", settings=settings).height == 0
    assert len(versions("loans", settings=settings)) == 1
    lenient = ingest(path, "loans", settings=settings, max_quarantine_share=0.95)
    assert (lenient.accepted, lenient.quarantined) == (1, 9)


def test_new_column_ignored_missing_fails(tmp_path: Path, settings: Settings) -> None:
    policy = LOANS.with_changes(on_schema_change={"new": "ignore", "missing": "fail"})
    ingest(_csv(tmp_path / "a.csv", _rows(0, 5)), "loans", policy, settings=settings)
    path = tmp_path / "b.csv"
    path.write_text(HEADER + ",branch\n" + "\n".join(r + ",berlin" for r in _rows(10, 5)))
    result = ingest(path, "loans", settings=settings)
    assert (result.accepted, result.quarantined) == (5, 0)
    assert any("branch" in w and "new: ignore" in w for w in result.warnings)
    assert result.dataset_version.validation_status == "passed"
    assert "branch" not in read("loans", settings=settings).columns
    assert contract_for("loans", settings=settings).version == "1"
    missing = tmp_path / "c.csv"
    missing.write_text("loan_id,income,region,opened,approved_at,defaulted\n1,2,north,"
                       "2024-01-01,2024-01-01T00:00:00Z,0\n")
    with pytest.raises(SchemaChangeError, match="fail for missing"):
        ingest(missing, "loans", settings=settings)


def test_evolved_column_is_not_a_feature_without_opt_in(tmp_path: Path,
                                                        settings: Settings) -> None:
    evolving = LOANS.with_changes(on_schema_change={"new": "evolve"})
    ingest(_csv(tmp_path / "a.csv", _rows(0, 5)), "loans", evolving, settings=settings)
    path = tmp_path / "b.csv"
    path.write_text(HEADER + ",score\n" + "\n".join(r + ",0.5" for r in _rows(10, 5)))
    result = ingest(path, "loans", settings=settings)
    contract = contract_for("loans", settings=settings)
    assert result.contract_version == "1+evolved.1" and "score" in contract.column_names
    assert "score" not in contract.feature_columns
    assert "feature: false" in contract.to_yaml()
    assert read("loans", settings=settings)["score"].drop_nulls().to_list() == [0.5] * 5
    store = Store.open(settings)
    assert store.dataset_version("loans").details["schema_changes"] == ["schema:new:score"]


def test_policy_mapping_is_checked() -> None:
    with pytest.raises(Exception, match=r"unknown change kind\(s\) nwe.*Did you mean `new`"):
        Contract.from_dict({"table": "t", "on_schema_change": {"nwe": "ignore"},
                            "columns": [{"name": "a", "type": "int"}]})
    with pytest.raises(Exception, match=r"on_schema_change.new `drop` must be one of"):
        Contract.from_dict({"table": "t", "on_schema_change": {"new": "drop"},
                            "columns": [{"name": "a", "type": "int"}]})
    assert dt.date(2020, 1, 1) == LOANS.column("opened").bound("min")


def test_a_steady_bool_column_is_not_a_new_category(tmp_path: Path,
                                                    settings: Settings) -> None:
    contract = Contract("flags", "1", (ColumnSpec("id", "int"), ColumnSpec("on", "bool")),
                        primary_key=("id",))
    for start in (0, 100):
        path = tmp_path / f"f{start}.csv"
        path.write_text("id,on\n" + "\n".join(f"{i},{'true' if i % 2 else 'false'}"
                                              for i in range(start, start + 50)) + "\n")
        result = ingest(path, "flags", contract, settings=settings)
        assert result.dataset_version.validation_status == "passed", result.warnings


def test_one_typo_is_a_row_problem_not_a_unit_change(tmp_path: Path,
                                                     settings: Settings) -> None:
    ingest(_csv(tmp_path / "a.csv", _rows(0, 50)), "loans", LOANS, settings=settings)
    rows = [*_rows(100, 49), "999,3e9,north,2024-03-01,2024-03-02T10:00:00Z,1,0"]
    result = ingest(_csv(tmp_path / "b.csv", rows), "loans", settings=settings)
    assert result.reasons == {"range:income": 1}
    assert result.dataset_version.validation_status == "passed", result.warnings
