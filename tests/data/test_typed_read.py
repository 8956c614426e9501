"""CSV columns parsed typed at read (``chunk_reader.TYPED_READ``) land exactly what the
text path lands: the same accepted rows, the same quarantined rows with the same reasons
and the same raw values as the source wrote them, the same copies, on every dialect. A
differential test: each file is ingested both ways and the outcomes compared."""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import polars as pl
import pytest

from lockgate.config import Settings
from lockgate.data import (
    ColumnSpec,
    Contract,
    CsvDialect,
    FileSource,
    IngestResult,
    SourceError,
    chunk_reader,
    ingest,
    quarantined,
    read,
)
from lockgate.data.source import IngestSource

CONTRACT = Contract(
    table="t", version="1",
    columns=(ColumnSpec("id", "int", nullable=False),
             ColumnSpec("n", "int", min=0),
             ColumnSpec("x", "float"),
             ColumnSpec("ok", "bool"),
             ColumnSpec("day", "date"),
             ColumnSpec("plan", "category", allowed=("a", "b")),
             ColumnSpec("note", "string")),
    primary_key=("id",))
HEADER = "id,n,x,ok,day,plan,note"

#: Per column, cells the typed parse may refuse or read otherwise than the text path:
#: each lands in a file of clean rows, so one chunk takes the text path and the others
#: the typed one.
BAD_CELLS: dict[str, list[str]] = {
    "n": [" 5", "5 ", " 5 ", "007", "+5", "-0", "1.0", "1.5", "1e3", "", "NA", "null", "NaN",
          "five", "1,5", "99999999999999999999", "9223372036854775808", "123456789",
          "0x10", "1_000", '" 7"', '""'],
    "x": ["1,5", "1.50", ".5", "5.", "1e3", "+1.5", " 1.5", "1.5 ", "NaN", "nan", "NAN",
          "inf", "-inf", "Infinity", "1e400", "", "NA", "None", "abc", '"2.5"', "0x1p3"],
    "ok": ["yes", "no", "Y", "n", "1", "0", "t", "F", "True", "TRUE", "false", " true",
           "true ", "", "NA", "maybe", '"true"'],
    "day": ["2024-01-01", "2024-1-1", "2024/01/01", "01.02.2024", "20240101",
            "2024-01-01T00:00:00", "2024-02-30", " 2024-01-01", "", "NA", "soon"],
}


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of about 2 kB (some 60 rows): each file spans many chunks."""
    monkeypatch.setattr(chunk_reader, "CHUNK_BYTES", 2048)


def _clean(i: int) -> list[str]:
    return [str(i), str(i % 40), f"{i / 8}", "true" if i % 3 else "false",
            f"2024-01-{1 + i % 28:02d}", "ab"[i % 2], f"note {i}"]


def _file(path: Path, rows: list[list[str]], sep: str = ",", newline: str = "\n",
          encoding: str = "utf-8", header: str = HEADER) -> Path:
    def cell(value: str) -> str:  # a value holding the separator is quoted
        return f'"{value}"' if sep in value and not value.startswith('"') else value

    lines = [header.replace(",", sep), *(sep.join(cell(v) for v in r) for r in rows)]
    path.write_bytes((newline.join(lines) + newline).encode(encoding))
    return path


def _with_bad_cells(n: int = 900) -> list[list[str]]:
    """Clean rows with every bad cell spread through the file, one per row."""
    rows = [_clean(i) for i in range(n)]
    total = sum(len(cells) for cells in BAD_CELLS.values())
    spots = iter(range(7, n, (n - 7) // total))
    for column, cells in BAD_CELLS.items():
        at = HEADER.split(",").index(column)
        for cell in cells:
            rows[next(spots)][at] = cell
    return rows


def _land(source: IngestSource, table: str, settings: Settings, typed: bool,
          monkeypatch: pytest.MonkeyPatch) -> tuple[IngestResult, pl.DataFrame, pl.DataFrame]:
    monkeypatch.setattr(chunk_reader, "TYPED_READ", typed)
    result = ingest(source, table, CONTRACT.with_changes(table=table), settings=settings)
    rows = read(table, settings=settings).sort("id")
    refused = quarantined(table, settings=settings)
    refused = (refused.select("row", "reasons", "raw").sort("row") if refused.height
               else pl.DataFrame(schema={"row": pl.Int64, "reasons": pl.List(pl.String),
                                         "raw": pl.String}))
    return result, rows, refused


def _both_ways(source: IngestSource, name: str, settings: Settings,
               monkeypatch: pytest.MonkeyPatch) -> tuple[IngestResult, pl.DataFrame, pl.DataFrame]:
    """Ingest ``source`` typed and as text; assert the outcomes are identical."""
    typed_calls: list[bool] = []
    real = chunk_reader._typed_block

    def spy(*args: object) -> object:
        got = real(*args)  # type: ignore[arg-type]
        typed_calls.append(got is not None)
        return got

    monkeypatch.setattr(chunk_reader, "_typed_block", spy)
    typed = _land(source, f"{name}_typed", settings, True, monkeypatch)
    text = _land(source, f"{name}_text", settings, False, monkeypatch)
    assert any(typed_calls), "no chunk was parsed typed"
    t_result, t_rows, t_refused = typed
    x_result, x_rows, x_refused = text
    counts = ("ingested", "accepted", "quarantined", "deduplicated", "reasons")
    assert {k: getattr(t_result, k) for k in counts} == \
        {k: getattr(x_result, k) for k in counts}
    assert t_result.ingested == t_result.accepted + t_result.quarantined
    assert t_rows.equals(x_rows), "accepted rows differ"
    assert t_refused.equals(x_refused), "quarantined rows, reasons or raw values differ"
    return typed


def test_bad_cells_are_quarantined_alike_typed_or_as_text(
        tmp_path: Path, settings: Settings, small_chunks: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    path = _file(tmp_path / "bad.csv", _with_bad_cells())
    result, rows, refused = _both_ways(path, "bad", settings, monkeypatch)
    reasons = result.reasons
    assert reasons["type:n"] > 0 and reasons["type:x"] > 0 and reasons["type:ok"] > 0
    assert reasons["parse:day"] > 0
    raws = refused["raw"].to_list()
    # the reason names the column and the raw value is the source's text, as written
    for cell in ("1,5", "five", "99999999999999999999", "inf", "maybe", "01.02.2024"):
        assert any(cell in raw for raw in raws), cell
    by_raw = dict(zip(refused["raw"], refused["reasons"].to_list(), strict=True))
    assert any(r == ["type:x"] for raw, r in by_raw.items() if '"x":"1,5"' in raw)
    # a value the text path reads (spaces, a leading zero, NaN as null) still lands
    assert rows.filter(pl.col("n") == 5).height >= 1


def test_clean_file_is_typed_in_every_chunk_and_shows_source_text(
        tmp_path: Path, settings: Settings, small_chunks: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [_clean(i) for i in range(600)]
    rows[100][1] = "-3"       # range:n, the typed chunk's raw value is the source's
    rows[101][2] = "2.50"     # a float spelled with a trailing zero
    rows[101][1] = "-0004"    # and a range failure on the same row
    rows[300][5] = "zz"       # allowed:plan in a typed chunk
    path = _file(tmp_path / "clean.csv", rows)
    result, _, refused = _both_ways(path, "clean", settings, monkeypatch)
    assert result.reasons == {"allowed:plan": 1, "range:n": 2}
    assert any('"x":"2.50"' in raw and '"n":"-0004"' in raw for raw in refused["raw"])


@pytest.mark.parametrize("dialect", ["semicolon", "crlf", "quoted-newline", "cp1252",
                                     "utf-8-bom", "utf-16", "tab", "alias"])
def test_dialects_land_alike_typed_or_as_text(
        tmp_path: Path, settings: Settings, small_chunks: None,
        monkeypatch: pytest.MonkeyPatch, dialect: str) -> None:
    rows = _with_bad_cells(500)
    source: IngestSource
    if dialect == "semicolon":
        source = _file(tmp_path / "d.csv", rows, sep=";")
    elif dialect == "crlf":
        source = _file(tmp_path / "d.csv", rows, newline="\r\n")
    elif dialect == "quoted-newline":  # rows are not lines: the raw text is read again
        for i in range(3, 500, 37):
            rows[i][6] = '"two\nlines, quoted"'
        rows[40][1] = "-1"
        source = _file(tmp_path / "d.csv", rows)
    elif dialect == "cp1252":
        for i in range(0, 500, 9):
            rows[i][6] = "café à la crème"
        source = FileSource(_file(tmp_path / "d.csv", rows, encoding="cp1252"),
                            dialect=CsvDialect(encoding="cp1252"))
    elif dialect == "utf-8-bom":
        path = _file(tmp_path / "d.csv", rows)
        path.write_bytes(codecs.BOM_UTF8 + path.read_bytes())
        source = path
    elif dialect == "utf-16":
        source = _file(tmp_path / "d.csv", rows, encoding="utf-16")
    elif dialect == "tab":
        source = _file(tmp_path / "d.tsv", rows, sep="\t")
    else:  # columns under other spellings still parse typed
        source = _file(tmp_path / "d.csv", rows, header="ID,N,X,Ok,day,plan,note")
    _both_ways(source, dialect.replace("-", "_"), settings, monkeypatch)


def test_copies_across_typed_and_text_chunks(
        tmp_path: Path, settings: Settings, small_chunks: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The same rows again later in the file, one of them in a chunk read as text (a bad
    cell nearby): copies are found alike, whichever way each chunk was read."""
    first = [_clean(i) for i in range(200)]
    again = [list(r) for r in first[:150]]
    again[5][2] = "0.6250"            # row 5 again, its float spelled otherwise: a copy
    again[6][1] = "oops"              # a bad cell: this chunk takes the text path
    again[7][6] = "other note"        # same key, another value: a duplicate
    path = _file(tmp_path / "copies.csv", first + again)
    result, _, _ = _both_ways(path, "copies", settings, monkeypatch)
    assert result.deduplicated == 148
    assert result.reasons == {"duplicate:id": 4, "type:n": 1}


def test_decimal_comma_and_int32_sized_values(
        tmp_path: Path, settings: Settings, small_chunks: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [_clean(i) for i in range(300)]
    rows[10][1] = "123456789"
    rows[11][1] = "2147483648"        # past int32: still an int64
    path = _file(tmp_path / "big.csv", rows)
    _, landed, _ = _both_ways(path, "big", settings, monkeypatch)
    assert set(landed.filter(pl.col("id").is_in([10, 11]))["n"]) == {123456789, 2147483648}


def test_a_dirty_column_alone_is_read_as_text() -> None:
    """A value the typed parse refuses sends its column (and only it) to the text path,
    for this chunk and the file's next ones; a non-finite float does the same."""
    state = {"sep": ",", "quote": '"', "columns": ["id", "n", "x", "ok"]}
    typed = {"id": pl.Int64(), "n": pl.Int64(), "x": pl.Float64(), "ok": pl.Boolean()}
    frame = chunk_reader._typed_block(b"id,n,x,ok\n1,2,0.5,true\n2,five,inf,false\n",
                                      state, typed)
    assert frame is not None
    assert frame.schema == {"id": pl.Int64, "n": pl.String, "x": pl.String,
                            "ok": pl.Boolean}
    assert frame["n"].to_list() == ["2", "five"]
    assert state["text"] == {"n", "x"}
    later = chunk_reader._typed_block(b"id,n,x,ok\n3,4,1.5,true\n", state, typed)
    assert later is not None and later.schema["n"] == pl.String


@pytest.mark.parametrize("column", ["n", "note"])
def test_a_byte_not_in_utf8_is_refused_alike(
        tmp_path: Path, settings: Settings, small_chunks: None,
        monkeypatch: pytest.MonkeyPatch, column: str) -> None:
    """A byte that is not UTF-8 in a later chunk (in a typed column or a text one) is
    refused with the same message, naming the line, typed or as text."""
    rows = [_clean(i) for i in range(300)]
    path = _file(tmp_path / "latin.csv", rows)
    at = HEADER.split(",").index(column)
    lines = path.read_bytes().split(b"\n")
    fields = lines[201].split(b",")
    fields[at] = b"caf\xe9" if column == "note" else b"1\xe9"
    lines[201] = b",".join(fields)
    path.write_bytes(b"\n".join(lines))
    messages = []
    for typed in (True, False):
        monkeypatch.setattr(chunk_reader, "TYPED_READ", typed)
        with pytest.raises(SourceError, match="is not UTF-8: byte 0xe9 at line 202") as err:
            ingest(path, f"latin_{typed}", CONTRACT.with_changes(table=f"latin_{typed}"),
                   settings=settings)
        messages.append(str(err.value))
    assert messages[0] == messages[1]


@pytest.mark.parametrize("spans", ["the last row", "an earlier row"])
def test_a_file_without_a_final_newline_and_a_quoted_one(
        tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch,
        spans: str) -> None:
    """Rows are lines only when the newlines are exactly the row ends: a quoted newline
    in a block without a final one made as many newlines as rows, the last row was cut
    at its quoted newline and its raw text re-read as a broken row (a polars error)."""
    rows = [_clean(i) for i in range(6)]
    rows[5 if spans == "the last row" else 2][6] = '"two\nlines"'
    rows[5][1] = "-1"  # the last row is quarantined: its raw text is read again
    path = _file(tmp_path / "d.csv", rows)
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    result, _, refused = _both_ways(path, "no_final_newline", settings, monkeypatch)
    assert (result.accepted, result.quarantined) == (5, 1)
    raw = json.loads(refused["raw"][0])
    assert raw["n"] == "-1"
    assert raw["note"] == ("two\nlines" if spans == "the last row" else "note 5")
