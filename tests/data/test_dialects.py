"""Real-world files at the door: separators, quotes, encodings, decimal commas and
non-ISO timestamps, each written as a real file and ingested end to end."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from lockgate.cli.main import main
from lockgate.config import Settings
from lockgate.data import ColumnSpec, Contract, SourceError, infer_contract, ingest, read
from lockgate.data.source import CsvDialect, FileSource

EURO = Contract(
    table="sales", version="1",
    columns=(ColumnSpec("id", "int", nullable=False), ColumnSpec("city", "string"),
             ColumnSpec("price", "float", min=0), ColumnSpec("note", "string")),
    primary_key=("id",))
ROWS = [(1, "Köln", "1.234,5", "a; b"), (2, "Málaga", "7,25", 'say "hi"\nbye'),
        (3, "Zürich", "0,5", "")]


def _euro_csv(path: Path, encoding: str) -> Path:
    lines = ["id;city;price;note"]
    for i, city, price, note in ROWS:
        quoted = '"' + note.replace('"', '""') + '"'
        lines.append(f"{i};{city};{price};{quoted}")
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def _expected(frame: pl.DataFrame) -> None:
    assert frame.sort("id")["city"].to_list() == ["Köln", "Málaga", "Zürich"]
    assert frame.sort("id")["price"].to_list() == [1234.5, 7.25, 0.5]
    assert frame.sort("id")["note"].to_list() == ["a; b", 'say "hi"\nbye', None]


def test_semicolon_csv_is_sniffed_not_a_shape_error(tmp_path: Path, settings: Settings) -> None:
    path = _euro_csv(tmp_path / "sales.csv", "utf-8")
    result = ingest(FileSource(path, dialect=CsvDialect(decimal_comma=True)), "sales", EURO,
                    settings=settings)
    assert (result.accepted, result.quarantined) == (3, 0)
    _expected(read("sales", settings=settings))


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_single_byte_encodings_need_and_honour_encoding(tmp_path: Path, settings: Settings,
                                                        encoding: str) -> None:
    path = _euro_csv(tmp_path / "sales.csv", encoding)
    with pytest.raises(SourceError, match=r"is not UTF-8.*--encoding cp1252"):
        FileSource(path).read()
    batch = FileSource(path, dialect=CsvDialect(encoding=encoding, decimal_comma=True))
    ingest(batch, "sales", EURO, settings=settings)
    _expected(read("sales", settings=settings))


def test_utf16_with_bom_is_found_from_the_bom(tmp_path: Path, settings: Settings) -> None:
    path = _euro_csv(tmp_path / "sales.csv", "utf-16")  # Python writes the BOM
    assert path.read_bytes()[:2] in (b"\xff\xfe", b"\xfe\xff")
    ingest(FileSource(path, dialect=CsvDialect(decimal_comma=True)), "sales", EURO,
           settings=settings)
    _expected(read("sales", settings=settings))


def test_decimal_comma_bad_value_is_quarantined_as_written(tmp_path: Path,
                                                           settings: Settings) -> None:
    path = tmp_path / "s.csv"
    path.write_text("id;city;price;note\n1;A;12,5;x\n2;B;zwölf;y\n")
    result = ingest(FileSource(path, dialect=CsvDialect(decimal_comma=True)), "sales", EURO,
                    settings=settings)
    assert result.reasons == {"type:price": 1}
    from lockgate.data import quarantined

    assert '"price":"zwölf"' in quarantined("sales", settings=settings)["raw"][0]


def test_explicit_separator_and_quote(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "pipes.csv"
    path.write_text("id|city|price|note\n1|'A|B'|2.5|'it''s'\n")
    frame = FileSource(path, dialect=CsvDialect(separator="|", quote="'")).read().frame
    assert frame.row(0) == ("1", "A|B", "2.5", "it's")


def test_wrong_separator_is_named_with_the_fix(tmp_path: Path) -> None:
    path = _euro_csv(tmp_path / "sales.csv", "utf-8")
    with pytest.raises(SourceError, match=r"read as one column.*--separator ';'"):
        FileSource(path, dialect=CsvDialect(separator=",")).read()
    with pytest.raises(SourceError, match="unknown encoding 'klingon'"):
        CsvDialect(encoding="klingon")


def test_infer_on_a_semicolon_file(tmp_path: Path) -> None:
    path = _euro_csv(tmp_path / "sales.csv", "utf-8")
    draft = infer_contract(str(path))
    assert draft.contract.column_names == ["id", "city", "price", "note"]


def test_cli_dialect_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LOCKGATE_HOME", str(tmp_path / ".lockgate"))
    path = _euro_csv(tmp_path / "sales.csv", "cp1252")
    contract = tmp_path / "sales.yaml"
    contract.write_text(EURO.to_yaml())
    assert main(["ingest", str(path), "--table", "sales", "--contract", str(contract),
                 "--encoding", "cp1252", "--separator", ";", "--decimal-comma"]) == 0
    assert "accepted 3" in capsys.readouterr().out


def test_non_iso_timestamps_through_formats(tmp_path: Path, settings: Settings) -> None:
    contract = Contract(
        table="events", version="1",
        columns=(ColumnSpec("id", "int"),
                 ColumnSpec("day", "date", formats=("%d/%m/%Y", "%d %b %Y")),
                 ColumnSpec("at", "datetime", formats=("epoch_s",)),
                 ColumnSpec("seen", "datetime", formats=("%d.%m.%Y %H:%M",))))
    path = tmp_path / "events.csv"
    path.write_text("id,day,at,seen\n"
                    "1,03/02/2024,1706918400,03.02.2024 14:30\n"
                    "2,5 Mar 2024,1706918400.5,31.12.2023 23:59\n"
                    "3,2024-03-05,soon,13.13.2023 10:00\n")
    result = ingest(path, "events", contract, settings=settings)
    assert result.reasons == {"parse:at": 1, "parse:day": 1, "parse:seen": 1}
    frame = read("events", settings=settings).sort("id")
    assert frame["day"].to_list() == [dt.date(2024, 2, 3), dt.date(2024, 3, 5)]
    utc = dt.UTC
    assert frame["at"].to_list() == [dt.datetime(2024, 2, 3, tzinfo=utc),
                                     dt.datetime(2024, 2, 3, 0, 0, 0, 500000, tzinfo=utc)]
    assert frame["seen"][0] == dt.datetime(2024, 2, 3, 14, 30, tzinfo=utc)
