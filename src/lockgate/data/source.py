"""Sources: everything a batch can come from, read to one Polars frame.

Files (CSV, Parquet, JSON Lines; a file, a glob or a folder), SQL (SQLAlchemy URL and
query, fetched in chunks with bound parameters), in-memory Polars / pandas / Arrow
frames, and lists of records (the HTTP endpoint and Redis Streams). A CSV read whole is
read as text, so that normalisation, not the reader, decides every type (read in chunks,
its int, float and bool columns are parsed typed: see ``chunk_reader``).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import glob as globbing
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

import polars as pl

from lockgate.data.errors import SourceError, SourceUnreachableError

FORMATS = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet",
           ".jsonl": "jsonl", ".ndjson": "jsonl"}
_PARQUET_MAGIC = b"PAR1"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


@dataclass(frozen=True, slots=True)
class Batch:
    """One batch read from a source: the frame, where it came from, a content hash.

    ``records`` marks JSON records (JSON Lines, HTTP, Redis), where writers routinely omit
    null fields: there an absent key of a nullable column means null, not a missing column.
    """

    frame: pl.DataFrame
    source: str
    content_hash: str
    records: bool = False
    #: Numbers are written with a decimal comma (``1.234,5``); see ``normalize``.
    decimal_comma: bool = False
    #: The source text of rows at given positions, when the reader parsed some columns
    #: typed (a CSV chunk typed at read); None: the frame's text columns are the source.
    text: Callable[[Any], pl.DataFrame] | None = None


if TYPE_CHECKING:
    import pyarrow as pa

    from lockgate.user_types import FrameLike

#: What ``ingest`` reads: a Source, a path (file, glob, folder), a frame or a list of
#: records (:func:`as_source` refuses anything else, naming what it got).
IngestSource: TypeAlias = ("Source | FrameLike | pa.Table | str | Path | "
                           "Sequence[Mapping[str, object]]")


class Source(Protocol):
    """Anything that reads one batch."""

    def read(self, progress: Callable[[int], None] | None = None) -> Batch:
        """Read the batch; ``progress`` is called with rows (or bytes) read so far."""
        ...


@dataclass(frozen=True, slots=True)
class CsvDialect:
    """How a CSV file is written. ``None`` fields are found from the file itself: the
    encoding from its byte-order mark (else UTF-8), the separator and quote by sniffing
    its first lines among ``,`` ``;`` tab and ``|``.

    Attributes:
        separator: field separator (``;`` in most European exports).
        quote: quote character; ``""`` for none.
        encoding: a Python codec name (``utf-8``, ``latin-1``, ``cp1252``, ``utf-16``).
        decimal_comma: numbers are written ``1.234,5``.
    """

    separator: str | None = None
    quote: str | None = None
    encoding: str | None = None
    decimal_comma: bool = False

    def __post_init__(self) -> None:
        problems = []
        if self.separator is not None and len(self.separator) != 1:
            problems.append(f"separator must be one character, got {self.separator!r} "
                            "(write a tab as `\\t`)")
        if self.quote is not None and len(self.quote) > 1:
            problems.append(f"quote must be one character or empty, got {self.quote!r}")
        if self.encoding is not None:
            try:
                codecs.lookup(self.encoding)
            except LookupError:
                problems.append(f"unknown encoding {self.encoding!r}; use e.g. utf-8, "
                                "latin-1, cp1252 or utf-16")
        if self.decimal_comma and self.separator == ",":
            problems.append("a decimal comma needs another separator (`;` usually)")
        if problems:
            raise SourceError("Bad CSV options: " + "; ".join(problems) + ".")


@dataclass(frozen=True, slots=True)
class FileSource:
    """CSV, Parquet or JSON Lines: one file, a glob (``data/*.csv``) or a folder.

    ``dialect`` says how CSV files are written (default: found from each file).
    """

    path: str | Path
    format: str | None = None
    separator: str | None = None
    dialect: CsvDialect = field(default_factory=CsvDialect)

    def read(self, progress: Callable[[int], None] | None = None) -> Batch:
        files = expand_paths(self.path)
        dialect = self.dialect
        if self.separator is not None:
            dialect = replace(dialect, separator=self.separator)
        digest = hashlib.sha256()
        frames = []
        for path in files:
            data = path.read_bytes()
            digest.update(data)
            frames.append(_read_file(path, data, self.format, dialect))
            if progress:
                progress(len(data))
        frame = _concat(frames, files)
        records = all((self.format or FORMATS.get(f.suffix.lower())) == "jsonl" for f in files)
        return Batch(frame, ",".join(str(f) for f in files), digest.hexdigest(), records,
                     decimal_comma=dialect.decimal_comma)


@dataclass(frozen=True, slots=True)
class SqlSource:
    """A query against a database by SQLAlchemy URL, fetched ``chunk_size`` rows at a time.

    Parameters are bound (``WHERE region = :region``), never formatted into the text.

    ``watermark``: a column of the query's result (an update time or an increasing id)
    for incremental extraction: ``ingest`` then reads only the rows at or after the
    highest value already landed (inclusive, so rows written at that very instant are not
    missed; the rows seen twice are copies and are skipped by primary key).
    """

    url: str
    query: str
    params: Mapping[str, Any] = field(default_factory=dict)
    chunk_size: int = 50_000
    watermark: str | None = None

    def __post_init__(self) -> None:
        if self.watermark is not None and not _IDENTIFIER.match(self.watermark):
            raise SourceError(f"Watermark column {self.watermark!r} must be a plain column "
                              "name (letters, digits, `_`).")

    def since(self, value: object) -> SqlSource:
        """The incremental query: the rows whose watermark is at or after ``value``."""
        if self.watermark is None:
            raise SourceError("since() needs a watermark column.")
        if value is None:
            return self
        # The query is the operator's (code, not data); the column name was checked as a
        # plain identifier in __post_init__; the watermark value is a bound parameter.
        query = (f'SELECT * FROM ({self.query}) AS lockgate_source '  # noqa: S608
                 f'WHERE "{self.watermark}" >= :lockgate_watermark')
        return SqlSource(self.url, query, {**self.params, "lockgate_watermark": value},
                         self.chunk_size, self.watermark)

    @contextlib.contextmanager
    def streamed(self) -> Iterator[tuple[list[str], Any]]:
        """``(columns, result)`` of the query, fetched ``chunk_size`` rows at a time (a
        server-side cursor where the driver has one); the engine is disposed after.

        Why one place: the whole read and the chunked read turn the same database
        failures into the same errors.

        Raises:
            SourceError: a bad URL or missing driver, or the query failed.
            SourceUnreachableError: the database cannot be reached.
        """
        import sqlalchemy as sa

        try:
            engine = sa.create_engine(self.url)
        except Exception as exc:  # bad URL or missing driver
            raise SourceError(f"Cannot use database URL {_redact(self.url)}: {exc}") from exc
        try:
            with engine.connect() as conn:
                result = conn.execution_options(
                    stream_results=True, yield_per=self.chunk_size).execute(
                    sa.text(self.query), dict(self.params))
                yield list(result.keys()), result
        except sa.exc.OperationalError as exc:
            raise SourceUnreachableError(
                f"Cannot reach the database {_redact(self.url)}: {_first_line(exc.orig)} "
                "Check that the server runs and the URL is right; nothing was ingested."
            ) from exc
        except sa.exc.SQLAlchemyError as exc:
            raise SourceError(f"The query failed on {_redact(self.url)}: {exc}") from exc
        finally:
            engine.dispose()

    def read(self, progress: Callable[[int], None] | None = None) -> Batch:
        frames: list[pl.DataFrame] = []
        with self.streamed() as (columns, result):
            total = 0
            while rows := result.fetchmany(self.chunk_size):
                frames.append(_rows_frame(columns, rows))
                total += len(rows)
                if progress:
                    progress(total)
        frame = pl.concat(frames, how="vertical_relaxed") if frames else pl.DataFrame(
            {c: pl.Series(c, [], pl.String) for c in columns})
        return Batch(frame, f"sql:{_redact(self.url)}", frame_hash(frame))


@dataclass(frozen=True, slots=True)
class FrameSource:
    """An in-memory Polars, pandas or Arrow frame."""

    frame: Any
    name: str = "frame"

    def read(self, progress: Callable[[int], None] | None = None) -> Batch:
        frame = to_polars(self.frame)
        return Batch(frame, self.name, frame_hash(frame))


@dataclass(frozen=True, slots=True)
class RecordsSource:
    """A list of JSON-like records (HTTP ingest, Redis Streams), every value as text."""

    records: Sequence[Mapping[str, Any]]
    name: str = "records"

    def read(self, progress: Callable[[int], None] | None = None) -> Batch:
        frame = records_frame(self.records)
        return Batch(frame, self.name, frame_hash(frame), records=True)


def as_source(source: Any) -> Source:
    """Turn what a caller passes to ``ingest`` into a Source.

    Raises:
        SourceError: the object is not a known kind of source.
    """
    if hasattr(source, "read") and not isinstance(source, str | Path) and \
            isinstance(source, FileSource | SqlSource | FrameSource | RecordsSource):
        return source
    if isinstance(source, str | Path):
        return FileSource(source)
    if isinstance(source, list | tuple) and all(isinstance(r, Mapping) for r in source):
        return RecordsSource(source)
    if _is_frame(source):
        return FrameSource(source)
    if hasattr(source, "read") and callable(source.read):
        return source
    raise SourceError(
        f"Cannot ingest a {type(source).__name__}: give a path (file, glob or folder), a "
        "Polars/pandas/Arrow frame, a list of records, or a SqlSource(url, query)."
    )


def expand_paths(path: str | Path) -> list[Path]:
    """A file, a glob or a folder to a sorted list of data files.

    Raises:
        SourceError: nothing matches, or a folder holds no data files.
    """
    text = str(path)
    if any(ch in text for ch in "*?["):
        files = sorted(Path(p) for p in globbing.glob(text, recursive=True) if Path(p).is_file())
        if not files:
            raise SourceError(f"No file matches the pattern {text}.")
        return files
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in FORMATS)
        if not files:
            raise SourceError(f"Folder {p} holds no {', '.join(sorted(FORMATS))} files.")
        return files
    if not p.exists():
        raise SourceError(f"File {p} does not exist.")
    return [p]


def records_frame(records: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """Records to an all-text frame (numbers and booleans written as a CSV would)."""
    columns: dict[str, None] = {}
    for record in records:
        if not isinstance(record, Mapping):
            raise SourceError(f"A record must be a JSON object, found {type(record).__name__}.")
        columns.update(dict.fromkeys(record))
    return pl.DataFrame([_text_series(str(c), [r.get(c) for r in records]) for c in columns])


def _text_series(name: str, values: list[Any]) -> pl.Series:
    """One column as text; homogeneous scalars are converted by Polars, the rest by hand."""
    kinds = {type(v) for v in values} - {type(None)}
    if kinds <= {str}:
        return pl.Series(name, values, pl.String)
    if len(kinds) == 1 and kinds <= {int, float, bool}:
        try:
            return pl.Series(name, values).cast(pl.String)
        except (OverflowError, pl.exceptions.PolarsError, TypeError):
            pass
    return pl.Series(name, [_text(v) for v in values], pl.String)


def to_polars(frame: Any) -> pl.DataFrame:
    """A Polars, pandas or Arrow frame as a Polars frame."""
    if isinstance(frame, pl.DataFrame):
        return frame
    if isinstance(frame, pl.LazyFrame):
        return frame.collect()
    try:
        converted = pl.from_pandas(frame) if _is_pandas(frame) else pl.from_arrow(frame)
        return converted if isinstance(converted, pl.DataFrame) else converted.to_frame()
    except Exception as exc:
        raise SourceError(f"Cannot convert a {type(frame).__name__} to a frame: {exc}") from exc


def frame_hash(frame: pl.DataFrame) -> str:
    """A content hash of a frame (column names, types and values)."""
    buffer = io.BytesIO()
    frame.write_ipc_stream(buffer, compression="uncompressed")
    return hashlib.sha256(buffer.getvalue()).hexdigest()


def _read_file(path: Path, data: bytes, fmt: str | None, dialect: CsvDialect) -> pl.DataFrame:
    kind = fmt or FORMATS.get(path.suffix.lower())
    if kind is None:
        raise SourceError(
            f"{path}: unknown file type `{path.suffix}`; use one of "
            f"{', '.join(sorted(FORMATS))} or pass format='csv'|'parquet'|'jsonl'.")
    if not data.strip():
        raise SourceError(f"{path} is empty: nothing to ingest.")
    is_parquet = data[:4] == _PARQUET_MAGIC and data[-4:] == _PARQUET_MAGIC
    if kind == "parquet" and not is_parquet:
        raise SourceError(f"{path} has a .parquet name but is not a Parquet file "
                          "(no PAR1 magic bytes). Check how it was produced.")
    if kind != "parquet" and not is_parquet:
        data = _as_utf8(path, data, dialect.encoding)
    if kind != "parquet" and (is_parquet or b"\x00" in data[:4096]):
        raise SourceError(f"{path} is named {path.suffix} but holds binary data"
                          + (" (it is a Parquet file: rename it to .parquet)."
                             if is_parquet else "."))
    try:
        if kind == "parquet":
            return pl.read_parquet(io.BytesIO(data))
        if kind == "jsonl":
            return _read_jsonl(path, data)
        sep, quote = _dialect(path, data, dialect)
        _check_header(path, data, sep)
        frame = pl.read_csv(io.BytesIO(data), infer_schema=False, separator=sep,
                            quote_char=quote or None)
        _check_short_rows(path, data, sep, frame, quote)
        return frame
    except SourceError:
        raise
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise SourceError(f"{path} is not a valid {kind.upper()} file: "
                          f"{_first_line(exc)} Nothing was ingested.") from exc


def _read_jsonl(path: Path, data: bytes, first_line: int = 1) -> pl.DataFrame:
    records = []
    for number, line in enumerate(data.decode("utf-8").splitlines(), first_line):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SourceError(f"{path} line {number} is not valid JSON: {exc.msg}. "
                              "Nothing was ingested.") from exc
        if not isinstance(record, dict):
            raise SourceError(f"{path} line {number} is a JSON {type(record).__name__}, "
                              "expected an object.")
        records.append(record)
    return records_frame(records)


def _dialect(path: Path, data: bytes, dialect: CsvDialect) -> tuple[str, str]:
    """The separator and quote to read ``data`` with: the given ones, else sniffed."""
    default_sep = "\t" if path.suffix.lower() == ".tsv" else ","
    if dialect.separator is not None and dialect.quote is not None:
        return dialect.separator, dialect.quote
    head = data[:65_536].decode("utf-8", "ignore")
    if len(data) > 65_536:  # sniff whole lines only
        head = head.rsplit("\n", 1)[0]
    try:
        found = csv.Sniffer().sniff(head, delimiters=",;\t|")
        sep, quote = found.delimiter, found.quotechar or '"'
    except csv.Error:
        sep, quote = default_sep, '"'
    if sep not in head.split("\n", 1)[0]:  # the sniffer guessed without the header
        sep = default_sep
    return dialect.separator or sep, dialect.quote if dialect.quote is not None else quote


def _check_header(path: Path, data: bytes, separator: str) -> None:
    """A header without the separator but with another one means the file would be read
    with the wrong separator: say so instead of a shape error or a one-column table."""
    header = data[:65_536].split(b"\n", 1)[0].decode("utf-8", "ignore")
    if separator in header:
        return
    others = [s for s in (",", ";", "\t", "|") if s != separator and s in header]
    if others:
        shown = "\\t" if others[0] == "\t" else others[0]
        raise SourceError(
            f"{path} would be read as one column named {header[:60]!r} with separator "
            f"{separator!r}, but its header holds {others[0]!r}. Pass `--separator "
            f"'{shown}'` (FileSource(..., dialect=CsvDialect(separator={others[0]!r}))). "
            "Nothing was ingested.")


def _as_utf8(path: Path, data: bytes, encoding: str | None) -> bytes:
    """The file's text as UTF-8 bytes: decoded with the given encoding, else by its BOM
    (UTF-8, UTF-16, UTF-32), else as UTF-8 (refused with the fix when it is not)."""
    if encoding is None:
        for bom, codec in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                           (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                           (codecs.BOM_UTF16_BE, "utf-16")):
            if data.startswith(bom):
                encoding = codec
                break
    if encoding is None:
        _check_utf8(path, data)
        return data
    try:
        return data.decode(encoding).lstrip("\ufeff").encode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SourceError(f"{path} is not {encoding}: byte {data[exc.start]:#04x} near line "
                          f"{line}. Pass the file's encoding with `--encoding`.") from exc


def _check_short_rows(path: Path, data: bytes, separator: str, frame: pl.DataFrame,
                      quote: str = '"', line_offset: int = 0) -> None:
    """Refuse rows with fewer fields than the header, as rows with more are refused.

    Polars pads a short row (and a blank line) with nulls, which would land as a row whose
    last columns are silently missing. Padding always leaves the last column null, so the
    field count runs only when that column has a null.

    Raises:
        SourceError: names the first short rows by line and the fix.
    """
    width = frame.width
    if width < 2 or frame.get_column(frame.columns[-1]).null_count() == 0:
        return
    short = (_short_lines(data, separator, width)
             if (not quote or quote.encode() not in data) and b"\x1f" not in data else
             _short_records(data, separator, width, quote or '"'))
    if short:
        lines = ", ".join(f"line {line + line_offset} ({count} fields)"
                          for line, count in short[:5])
        more = f" and {len(short) - 5} more" if len(short) > 5 else ""
        raise SourceError(
            f"{path} has rows with fewer fields than its {width} header columns: {lines}"
            f"{more}. Remove blank lines and write missing values as empty fields "
            "(`a,,c`). Nothing was ingested.")


def _short_lines(data: bytes, separator: str, width: int) -> list[tuple[int, int]]:
    """(line, fields) of short rows of a CSV without quotes: one line is one row, so
    counting separators per line in Polars is exact (and fast)."""
    lines = pl.read_csv(io.BytesIO(data), has_header=False, separator="\x1f", quote_char=None,
                        infer_schema=False, new_columns=["line"]).get_column("line")
    counts = (lines.str.count_matches(separator, literal=True).fill_null(-1) + 1).slice(1)
    index = (counts < width).arg_true()
    return list(zip((index + 2).to_list(), counts.gather(index).to_list(), strict=True))


def _short_records(data: bytes, separator: str, width: int,
                   quote: str = '"') -> list[tuple[int, int]]:
    """(line, fields) of short rows, quote-aware (a quoted value may span lines)."""
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=separator,
                        quotechar=quote)
    next(reader, None)  # the header
    return [(reader.line_num, len(row)) for row in reader if len(row) < width]


def _check_utf8(path: Path, data: bytes, line_offset: int = 0) -> None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1 + line_offset
        raise SourceError(
            f"{path} is not UTF-8: byte {data[exc.start]:#04x} at line {line}. Pass its "
            "encoding, e.g. `--encoding cp1252` (Windows exports) or `--encoding latin-1` "
            "(FileSource(..., dialect=CsvDialect(encoding='cp1252')))."
        ) from exc


def _concat(frames: list[pl.DataFrame], files: list[Path]) -> pl.DataFrame:
    if len(frames) == 1:
        return frames[0]
    first = set(frames[0].columns)
    for frame, path in zip(frames[1:], files[1:], strict=True):
        if set(frame.columns) != first:
            raise SourceError(
                f"{path} has columns {sorted(frame.columns)} but {files[0]} has "
                f"{sorted(first)}; ingest them as separate batches.")
    return pl.concat(frames, how="diagonal_relaxed")


def _rows_frame(columns: list[str], rows: Sequence[Any]) -> pl.DataFrame:
    data = {c: [r[i] for r in rows] for i, c in enumerate(columns)}
    try:
        return pl.DataFrame(data, strict=False)
    except Exception:
        return pl.DataFrame({c: [_text(v) for v in vs] for c, vs in data.items()},
                            schema=dict.fromkeys(columns, pl.String))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _is_pandas(frame: Any) -> bool:
    return type(frame).__module__.startswith("pandas")


def _is_frame(obj: Any) -> bool:
    return isinstance(obj, pl.DataFrame | pl.LazyFrame) or _is_pandas(obj) or \
        type(obj).__module__.startswith("pyarrow")


def _first_line(exc: BaseException | None) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__).rstrip(".") + "."


def _redact(url: str) -> str:
    from lockgate.config import _redact as redact

    return redact(url)
