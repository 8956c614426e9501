"""Ingestion in chunks: files (CSV, Parquet, JSON Lines) and SQL results read in bounded
pieces, the checks that need the whole batch done across chunks (duplicates, copies,
conflicting labels, the fail threshold, batch statistics), exact accounting, and one
atomic version: a failure or a kill mid-file leaves nothing visible."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from lockgate.config import Settings
from lockgate.data import (
    ColumnSpec,
    Contract,
    QuarantineShareError,
    SourceError,
    SqlSource,
    chunk_reader,
    ingest,
    quarantined,
    read,
    versions,
)
from lockgate.data.table import quarantine_path, table_path

USERS = Contract(
    table="users", version="1",
    columns=(ColumnSpec("user_id", "int", nullable=False),
             ColumnSpec("age", "int", min=0, max=120),
             ColumnSpec("plan", "category", allowed=("a", "b")),
             ColumnSpec("score", "float"),
             ColumnSpec("churned", "int", allowed=("0", "1"))),
    primary_key=("user_id",))


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of about 2 kB (some 60 rows) so a test file spans many chunks."""
    monkeypatch.setattr(chunk_reader, "CHUNK_BYTES", 2048)
    monkeypatch.setattr(chunk_reader, "CHUNK_ROWS", 50)


def _rows(start: int, n: int) -> list[str]:
    return [f"{i},{20 + i % 50},{'ab'[i % 2]},{i / 7:.4f},{i % 2}"
            for i in range(start, start + n)]


def _csv(path: Path, rows: list[str], header: str = "user_id,age,plan,score,churned") -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _staged_files(settings: Settings, table: str) -> list[Path]:
    out = []
    for folder in (table_path(settings, table), quarantine_path(settings, table)):
        if folder.exists():
            out += [p for p in folder.iterdir() if p.suffix == ".parquet"]
    return out


def test_chunked_and_whole_reads_land_the_same_rows_and_reasons(
        tmp_path: Path, settings: Settings, small_chunks: None) -> None:
    rows = _rows(0, 1000)
    rows[10] = "10,300,a,1.0,0"        # range:age, first chunk
    rows[700] = "700,30,zz,1.0,1"      # allowed:plan, a late chunk
    rows[701] = "701,thirty,a,1.0,1"   # type:age
    path = _csv(tmp_path / "u.csv", rows)
    chunked = ingest(path, "users", USERS, settings=settings)
    whole = ingest(path, "users2", USERS.with_changes(table="users2"), settings=settings,
                   whole=True)
    assert chunked.dataset_version.details["chunked"] is True
    assert (chunked.ingested, chunked.accepted, chunked.quarantined) == (1000, 997, 3)
    assert chunked.reasons == whole.reasons == {"range:age": 1, "allowed:plan": 1,
                                                "type:age": 1}
    assert read("users", settings=settings).sort("user_id").equals(
        read("users2", settings=settings).sort("user_id"))
    held = quarantined("users", settings=settings)
    assert sorted(held["row"].to_list()) == [10, 700, 701]  # positions in the whole file
    assert chunked.dataset_version.details["stats"]["age"]["count"] == \
        whole.dataset_version.details["stats"]["age"]["count"]
    again = ingest(path, "users", USERS, settings=settings)
    assert not again.created and "already landed" in again.warnings[0]


@pytest.mark.parametrize("policy", ["quarantine", "keep_first"])
def test_a_key_repeated_in_a_later_chunk_is_a_duplicate_and_an_exact_copy_is_skipped(
        tmp_path: Path, settings: Settings, small_chunks: None, policy: str) -> None:
    contract = USERS.with_changes(on_duplicate=policy)
    rows = _rows(0, 600)
    rows.append("5,99,b,0.5,1")        # key 5 (chunk 1) again, other values: a duplicate
    rows.append(_rows(7, 1)[0])        # row 7 again, the very same: a copy, skipped
    result = ingest(_csv(tmp_path / "u.csv", rows), "users", contract, settings=settings)
    assert result.deduplicated == 1
    assert result.ingested == 601 and result.accepted + result.quarantined == 601
    held = quarantined("users", settings=settings)
    landed = read("users", settings=settings)
    if policy == "quarantine":  # every member of a repeated key fails, the first one too
        assert result.reasons == {"duplicate:user_id": 2}
        assert sorted(held["row"].to_list()) == [5, 600]
        assert 5 not in landed["user_id"].to_list()
    else:
        assert result.reasons == {"duplicate:user_id": 1}
        assert held["row"].to_list() == [600]
        assert landed.filter(pl.col("user_id") == 5)["age"].to_list() == [25]
    assert landed.height == result.accepted
    assert landed["user_id"].n_unique() == landed.height


def test_conflicting_labels_across_chunks_quarantine_every_member(
        tmp_path: Path, settings: Settings, small_chunks: None) -> None:
    contract = Contract(
        table="loans", version="1",
        columns=(ColumnSpec("id", "int", nullable=False), ColumnSpec("income", "float"),
                 ColumnSpec("region", "category"), ColumnSpec("y", "int")),
        primary_key=("id",), target="y")
    rows = [f"{i},{1000 + i},r{i % 3},{i % 2}" for i in range(800)]
    rows[3] = "3,52000,north,0"      # early chunk
    rows[790] = "790,52000,north,1"  # same features, other label, a late chunk
    rows[400] = "400,52000,north,0"  # a middle chunk, agrees with the first
    path = tmp_path / "loans.csv"
    path.write_text("\n".join(["id,income,region,y", *rows]) + "\n")
    result = ingest(path, "loans", contract, settings=settings)
    assert result.reasons == {"conflict:y": 3}
    assert result.accepted == 797 and result.ingested == 800
    held = quarantined("loans", settings=settings)
    assert sorted(held["row"].to_list()) == [3, 400, 790]
    groups = {r[0] for r in held["reasons"].to_list()}
    assert len(groups) == 1 and next(iter(groups)).startswith("conflict:y#")
    assert read("loans", settings=settings).height == 797


def test_fail_threshold_is_on_the_whole_batch_and_leaves_nothing(
        tmp_path: Path, settings: Settings, small_chunks: None) -> None:
    rows = _rows(0, 600)
    for i in range(500, 600):  # every bad row in the last chunks
        rows[i] = f"{i},999,a,1.0,0"
    path = _csv(tmp_path / "u.csv", rows)
    with pytest.raises(QuarantineShareError, match="100 of 600"):
        ingest(path, "users", USERS, settings=settings, max_quarantine_share=0.1)
    assert versions("users", settings=settings) == [] if _exists(settings) else True
    assert _staged_files(settings, "users") == []
    landed = ingest(path, "users", USERS, settings=settings, max_quarantine_share=0.2)
    assert landed.quarantined == 100 and landed.version == 0


def _exists(settings: Settings) -> bool:
    return (table_path(settings, "users") / "_delta_log").exists()


def test_a_bad_chunk_mid_file_leaves_no_version_and_no_files(
        tmp_path: Path, settings: Settings, small_chunks: None) -> None:
    rows = _rows(0, 600)
    rows[450] = "450,30"  # a short row, far into the file
    path = _csv(tmp_path / "u.csv", rows)
    with pytest.raises(SourceError, match=r"line 452 \(2 fields\)"):
        ingest(path, "users", USERS, settings=settings)
    assert not _exists(settings)
    assert _staged_files(settings, "users") == []
    # A table with versions keeps exactly them.
    ingest(_csv(tmp_path / "ok.csv", _rows(1000, 10)), "users", USERS, settings=settings)
    with pytest.raises(SourceError):
        ingest(path, "users", USERS, settings=settings)
    assert [v.version for v in versions("users", settings=settings)] == [0]
    assert read("users", settings=settings).height == 10
    assert len(_staged_files(settings, "users")) == 1


KILLED = """
import sys, time
from pathlib import Path
from lockgate.config import Settings
from lockgate.data import chunk_reader, ingest, load_contract
chunk_reader.CHUNK_BYTES = 4096
original = chunk_reader._csv_block
def slow(*args, **kwargs):
    print("chunk", flush=True)
    time.sleep(0.2)
    return original(*args, **kwargs)
chunk_reader._csv_block = slow
ingest(sys.argv[1], "users", load_contract(sys.argv[2]), settings=Settings(home=Path(sys.argv[3])))
"""


def test_a_kill_mid_file_leaves_no_version_and_a_retry_lands_once(
        tmp_path: Path, settings: Settings) -> None:
    path = _csv(tmp_path / "u.csv", _rows(0, 3000))
    contract_file = tmp_path / "users.yaml"
    contract_file.write_text(USERS.to_yaml())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, "-c", KILLED, str(path), str(contract_file),
                              str(settings.home)], stdout=subprocess.PIPE, env=env)
    assert child.stdout is not None
    seen = 0
    deadline = time.monotonic() + 120
    while seen < 3 and time.monotonic() < deadline:
        if child.stdout.readline().startswith(b"chunk"):
            seen += 1
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert seen == 3
    assert not _exists(settings)  # chunks were staged, none committed
    result = ingest(path, "users", USERS, settings=settings)
    assert result.created and result.version == 0 and result.accepted == 3000
    assert read("users", settings=settings).height == 3000


def test_parquet_and_json_lines_in_chunks(tmp_path: Path, settings: Settings,
                                          small_chunks: None) -> None:
    frame = pl.DataFrame({"user_id": range(300), "age": [30] * 299 + [500],
                          "plan": ["a"] * 300, "score": [0.5] * 300, "churned": [0] * 300})
    frame.write_parquet(tmp_path / "u.parquet", row_group_size=40)
    result = ingest(tmp_path / "u.parquet", "users", USERS, settings=settings)
    assert (result.ingested, result.accepted, result.reasons) == (300, 299, {"range:age": 1})
    assert quarantined("users", settings=settings)["row"].to_list() == [299]
    lines = tmp_path / "u.jsonl"
    frame = frame.with_columns(pl.col("user_id") + 1000)
    frame.write_ndjson(lines)
    text = lines.read_text().splitlines()
    text[250] = '{"user_id": 1250, "age": "old", "plan": "a"}'
    lines.write_text("\n".join(text) + "\n")
    result = ingest(lines, "users", USERS, settings=settings)
    assert (result.ingested, result.accepted) == (300, 298)
    assert result.reasons == {"range:age": 1, "type:age": 1}
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([*text[:200], "{not json", *text[200:]]) + "\n")
    with pytest.raises(SourceError, match="line 201 is not valid JSON"):
        ingest(bad, "users", USERS, settings=settings)


def test_sql_results_are_read_in_chunks(tmp_path: Path, settings: Settings) -> None:
    db = tmp_path / "src.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE u (user_id INTEGER, age INTEGER, plan TEXT, score REAL, "
                     "churned INTEGER)")
        conn.executemany("INSERT INTO u VALUES (?, ?, ?, ?, ?)",
                         [(i % 950, 30, "a", 0.5, i // 950) for i in range(1000)])
    source = SqlSource(f"sqlite:///{db}", "SELECT * FROM u ORDER BY rowid", chunk_size=100)
    seen: list[int] = []
    result = ingest(source, "users", USERS, settings=settings, progress=seen.append)
    assert seen == list(range(100, 1001, 100))  # one report per chunk
    # keys 0..49 come twice, 950 rows apart (10 chunks), with other churned values
    assert result.reasons == {"duplicate:user_id": 100}
    assert result.accepted == 900 and result.ingested == 1000
    assert result.dataset_version.details["chunked"] is True


def test_no_key_reingest_under_a_new_contract_supersedes_the_earlier_batch(
        tmp_path: Path, settings: Settings, small_chunks: None) -> None:
    events = Contract(table="events", version="1",
                      columns=(ColumnSpec("kind", "category"),
                               ColumnSpec("value", "float", max=10)))
    path = tmp_path / "e.csv"
    path.write_text("kind,value\n" + "".join(f"k{i % 3},{i % 20}\n" for i in range(400)))
    first = ingest(path, "events", events, settings=settings)
    other = ingest(_csv(tmp_path / "o.csv", ["x,1"], header="kind,value"), "events", events,
                   settings=settings)
    assert first.accepted == 220 and other.accepted == 1
    fixed = events.with_changes(version="2", columns=(ColumnSpec("kind", "category"),
                                                      ColumnSpec("value", "float", max=20)))
    again = ingest(path, "events", fixed, settings=settings)
    assert again.accepted == 400 and again.created
    assert any("supersedes events@v0" in w for w in again.warnings)
    landed = read("events", settings=settings)
    assert landed.height == 401  # the 400 rows once (not 220 + 400), and the other batch
    assert read("events", version=first.version, settings=settings).height == 220
    whole = ingest(path, "events", fixed.with_changes(version="3"), settings=settings,
                   whole=True)
    assert any("supersedes events@v2" in w for w in whole.warnings)
    assert read("events", settings=settings).height == 401


def test_a_quarantined_row_whose_key_came_in_an_earlier_chunk_also_gets_the_duplicate(
        tmp_path: Path, settings: Settings, small_chunks: None) -> None:
    rows = _rows(0, 600)
    rows.append("5,300,b,0.5,1")       # key 5 again (chunk 1), and age out of range
    rows.append(_rows(7, 1)[0])        # an exact copy of row 7: skipped
    path = _csv(tmp_path / "u.csv", rows)
    chunked = ingest(path, "users", USERS, settings=settings)
    whole = ingest(path, "users2", USERS.with_changes(table="users2"), settings=settings,
                   whole=True)
    assert chunked.reasons == whole.reasons
    assert chunked.reasons["range:age"] == 1 and chunked.reasons["duplicate:user_id"] >= 1
    assert (chunked.ingested, chunked.accepted, chunked.quarantined, chunked.deduplicated) \
        == (whole.ingested, whole.accepted, whole.quarantined, whole.deduplicated)
    held = quarantined("users", settings=settings).sort("row")
    assert held["row"].to_list() == quarantined("users2", settings=settings).sort("row")["row"] \
        .to_list()
    assert sorted(held.filter(pl.col("row") == 600)["reasons"].to_list()[0]) == [
        "duplicate:user_id", "range:age"]
