"""Quarantine export: every refused row with its reasons and source position, to CSV
(formulas neutralised) and Parquet, from files and from a stream."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import polars as pl
import pytest

from lockgate.cli.main import main
from lockgate.config import Settings
from lockgate.data import Contract, ingest, quarantined
from lockgate.data.quarantine import export

ROWS = ("order_id,amount,ordered_at,channel,email\n"
        "1,10,2025-01-01,web,a@b\n"
        "2,-5,2025-01-01,web,=HYPERLINK(\"http://x\")\n"
        "3,7,2025-01-02,phone,+49 30 1234\n"
        "4,8,2025-01-02,web,@SUM(A1)\n")


def test_export_csv_neutralises_formulas(tmp_path: Path, settings: Settings,
                                         orders: Contract) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(ROWS)
    ingest(path, "orders", orders, settings=settings)
    held = quarantined("orders", settings=settings)
    out = export(held, tmp_path / "out" / "rows.csv")
    with out.open(newline="") as handle:
        records = {r["order_id"]: r for r in csv.DictReader(handle)}
    assert set(records) == {"2", "3", "4"}
    assert records["2"]["email"] == "'=HYPERLINK(\"http://x\")"
    assert records["2"]["amount"] == "-5"  # a plain number is left alone
    assert records["3"]["email"] == "'+49 30 1234" and records["4"]["email"] == "'@SUM(A1)"
    assert "range:amount" in records["2"]["reasons"]
    assert "allowed:channel" in records["3"]["reasons"]
    assert records["2"]["record"] == "2" and records["2"]["source"].endswith("orders.csv")


def test_export_parquet_keeps_values_as_written(tmp_path: Path, settings: Settings,
                                                orders: Contract) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(ROWS)
    ingest(path, "orders", orders, settings=settings)
    frame = pl.read_parquet(export(quarantined("orders", settings=settings),
                                   tmp_path / "rows.parquet"))
    assert frame.height == 3 and frame.sort("record")["email"][0].startswith("=HYPERLINK")
    with pytest.raises(Exception, match=r"use a \.csv or \.parquet"):
        export(quarantined("orders", settings=settings), tmp_path / "rows.xlsx")


def test_cli_export(tmp_path: Path, orders: Contract, monkeypatch: pytest.MonkeyPatch,
                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LOCKGATE_HOME", str(tmp_path / ".lockgate"))
    (tmp_path / "orders.csv").write_text(ROWS)
    (tmp_path / "orders.yaml").write_text(orders.to_yaml())
    assert main(["ingest", str(tmp_path / "orders.csv"), "-t", "orders", "-c",
                 str(tmp_path / "orders.yaml")]) == 0
    capsys.readouterr()
    assert main(["data", "quarantine", "orders", "--export", str(tmp_path / "q.csv"),
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == 3
    assert (tmp_path / "q.csv").read_text().count("\n") == 4
