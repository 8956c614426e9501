"""Sources, and bad input: a clear error, nothing written, no row lost."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import polars as pl
import pytest
import sqlalchemy as sa

from lockgate.config import Settings
from lockgate.data import (
    Contract,
    ContractError,
    SourceError,
    SourceUnreachableError,
    SqlSource,
    ingest,
    read,
)
from lockgate.data import table as delta
from lockgate.store import Store

HEADER = "order_id,amount,ordered_at,channel,email\n"
SELECT = "SELECT order_id, amount, ordered_at, NULL AS channel, NULL AS email FROM src"
ROW = "{i},{a},2025-01-0{d}T10:00:00Z,web,c{i}@x.io\n"


def _csv(path: Path, ids: range) -> Path:
    path.write_text(HEADER + "".join(ROW.format(i=i, a=i * 2.5, d=1 + i % 9) for i in ids))
    return path


def _nothing_written(settings: Settings) -> None:
    assert delta.open_table(delta.table_path(settings, "orders")) is None
    assert Store.open(settings).dataset_tables() == []


def test_csv_glob_folder_parquet_jsonl(tmp_path: Path, settings: Settings,
                                       orders: Contract) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    _csv(folder / "a.csv", range(0, 5))
    _csv(folder / "b.csv", range(5, 9))
    assert ingest(str(folder / "*.csv"), "orders", orders, settings=settings).accepted == 9
    pl.read_csv(folder / "a.csv").with_columns(pl.col("order_id") + 100).write_parquet(
        tmp_path / "c.parquet")
    assert ingest(tmp_path / "c.parquet", "orders", settings=settings).accepted == 5
    (tmp_path / "d.jsonl").write_text(
        '{"order_id": 200, "total": 1.5, "ordered_at": "2025-01-01T00:00:00+01:00", '
        '"channel": null, "email": null}\n'
        '{"order_id": 201, "total": 2, "ordered_at": "2025-01-01 00:00:00", "channel": "web", '
        '"email": "a@b"}\n')
    result = ingest(tmp_path / "d.jsonl", "orders", settings=settings)
    assert result.accepted == 2
    sub = tmp_path / "folder"
    sub.mkdir()
    _csv(sub / "x.csv", range(300, 303))
    assert ingest(sub, "orders", settings=settings).accepted == 3
    frame = read("orders", settings=settings)
    assert frame.height == 19
    row = frame.filter(pl.col("order_id") == 200).row(0, named=True)
    assert row["ordered_at"].isoformat() == "2024-12-31T23:00:00+00:00"
    assert frame.filter(pl.col("order_id") == 201)["amount"][0] == 2.0  # alias `total`
    assert row["amount"] == 1.5


def test_frames_polars_and_pandas(settings: Settings, orders: Contract) -> None:
    frame = pl.DataFrame({"order_id": [1, 2], "amount": [1.0, 2.0],
                          "ordered_at": pd.to_datetime(["2025-01-01", "2025-01-02"]),
                          "channel": ["web", "SHOP"], "email": ["a@b", "c@d"]})
    assert ingest(frame, "orders", orders, settings=settings).accepted == 2
    pdf = frame.with_columns(pl.col("order_id") + 10).to_pandas()
    assert ingest(pdf, "orders", settings=settings).accepted == 2
    landed = read("orders", settings=settings)
    assert landed["channel"].to_list() == ["web", "shop", "web", "shop"]
    assert str(landed.schema["ordered_at"]) == "Datetime(time_unit='us', time_zone='UTC')"


def _fill_db(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE src (order_id INTEGER, amount DOUBLE PRECISION, "
                             "ordered_at VARCHAR(40), region VARCHAR(10))")
        conn.execute(sa.text("INSERT INTO src VALUES (:i, :a, :t, :r)"),
                     [{"i": i, "a": i * 1.5, "t": "2025-01-01T00:00:00Z",
                       "r": "eu" if i % 2 else "us"} for i in range(25)])
    engine.dispose()


def test_sql_sqlite_chunked_with_bound_parameters(tmp_path: Path, settings: Settings,
                                                  orders: Contract) -> None:
    url = f"sqlite:///{tmp_path / 'src.db'}"
    _fill_db(url)
    source = SqlSource(url, f"{SELECT} WHERE region = :r", {"r": "eu"}, chunk_size=4)
    result = ingest(source, "orders", orders, settings=settings)
    assert (result.ingested, result.accepted) == (12, 12)
    assert result.dataset_version is not None
    assert result.dataset_version.source == f"sql:{url}"


@pytest.mark.postgres
def test_sql_postgresql(pg_url: str, settings: Settings, orders: Contract) -> None:
    _fill_db(pg_url)
    source = SqlSource(pg_url, SELECT, chunk_size=10)
    assert ingest(source, "orders", orders, settings=settings).accepted == 25


def test_unreachable_database(settings: Settings, orders: Contract) -> None:
    source = SqlSource("postgresql+psycopg://nobody@127.0.0.1:1/x", "SELECT 1")
    with pytest.raises(SourceUnreachableError, match=r"Cannot reach the database .*nothing "
                       "was ingested"):
        ingest(source, "orders", orders, settings=settings)
    _nothing_written(settings)


@pytest.mark.parametrize(("name", "content", "message"), [
    ("ragged.csv", HEADER + "1,2.0,2025-01-01,web,a@b\n2,3.0,2025-01-01,web,a@b,EXTRA\n",
     r"ragged.csv is not a valid CSV file: found more fields"),
    ("short.csv", HEADER + "1,2.0,2025-01-01,web,a@b\n2,3.0,2025-01-01\n",
     r"short.csv has rows with fewer fields than its 5 header columns: line 3 \(3 fields\)"),
    ("quoted.csv", HEADER + '1,2.0,2025-01-01,"web,\nshop",a@b\n2,3.0\n',
     r"quoted.csv has rows with fewer .*: line 4 \(2 fields\)"),
    ("blank.csv", HEADER + "1,2.0,2025-01-01,web,a@b\n\n2,3.0,2025-01-01,web,a@b\n",
     r"blank.csv has rows with fewer .*: line 3 \(0 fields\)\. Remove blank lines"),
    ("quote.csv", HEADER + '1,"2.0,2025-01-01,web,a@b\n2,3,2025-01-01,web,x\n',
     r"quote.csv is not a valid CSV file"),
    ("latin.csv", (HEADER + "1,2.0,2025-01-01,web,caf\xe9@x\n").encode("latin-1"),
     r"latin.csv is not UTF-8: byte 0xe9 at line 2.*--encoding cp1252"),
    ("empty.csv", "", r"empty.csv is empty: nothing to ingest"),
    ("fake.parquet", HEADER, r"fake.parquet has a .parquet name but is not a Parquet file"),
    ("data.xlsx", "x", r"unknown file type `.xlsx`"),
    ("bad.jsonl", '{"order_id": 1}\n{oops\n', r"bad.jsonl line 2 is not valid JSON"),
])
def test_bad_files_write_nothing(tmp_path: Path, settings: Settings, orders: Contract,
                                 name: str, content: str | bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(SourceError, match=message):
        ingest(path, "orders", orders, settings=settings)
    _nothing_written(settings)


def test_empty_last_field_is_not_a_short_row(tmp_path: Path, settings: Settings,
                                             orders: Contract) -> None:
    """An empty trailing field (and a quoted newline) is a full row: it lands with a null."""
    path = tmp_path / "ok.csv"
    path.write_text(HEADER + '1,2.0,2025-01-01,web,\n2,3.0,2025-01-01,"web",a@b\n')
    result = ingest(path, "orders", orders, settings=settings)
    assert (result.accepted, result.quarantined) == (2, 0)
    assert read("orders", settings=settings)["email"].null_count() == 1


def test_parquet_named_csv(tmp_path: Path, settings: Settings, orders: Contract) -> None:
    pl.DataFrame({"order_id": [1]}).write_parquet(tmp_path / "x.csv")
    with pytest.raises(SourceError, match=r"it is a Parquet file: rename it to \.parquet"):
        ingest(tmp_path / "x.csv", "orders", orders, settings=settings)
    _nothing_written(settings)


def test_missing_file_and_missing_contract(tmp_path: Path, settings: Settings) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        ingest(tmp_path / "nope.csv", "orders", Contract.from_dict(
            {"table": "orders", "columns": [{"name": "a", "type": "int"}]}), settings=settings)
    _csv(tmp_path / "a.csv", range(3))
    with pytest.raises(ContractError, match=r"No contract for table `orders`: it has never "
                       r"been ingested. Pass one with `--contract orders.yaml`"):
        ingest(tmp_path / "a.csv", "orders", settings=settings)
    _nothing_written(settings)
