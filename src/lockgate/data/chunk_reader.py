"""Reading a source in chunks: a file (CSV, Parquet, JSON Lines; a glob or a folder) or a
SQL result, as a sequence of frames of bounded size, so a batch of any length goes
through the door in bounded memory.

Each chunk keeps the checks the whole-file reader makes (encoding, dialect, header, short
rows, binary data), with line numbers counted from the start of the file. The content
hash is taken over the same bytes as the whole-file reader (the files' bytes, in order),
so a file is "the same content" whichever way it was read.

CSV columns the contract types as int, float or bool are parsed typed by the CSV reader
itself (``column_types``), not read as text and cast again: the read is strict, and a
column holding a value the typed parse refuses (or a non-finite float) is read again as
text, in that chunk and the file's next ones, so normalisation quarantines those cells
exactly as it always did. A typed chunk keeps its bytes, so the source text of the rows
that need it (the quarantined ones) is read again, and only theirs (:class:`SourceText`).
"""

from __future__ import annotations

import codecs
import hashlib
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import polars as pl

from lockgate.data.errors import SourceError
from lockgate.data.source import (
    _PARQUET_MAGIC,
    FORMATS,
    CsvDialect,
    FileSource,
    SqlSource,
    _check_header,
    _check_short_rows,
    _check_utf8,
    _dialect,
    _first_line,
    _read_jsonl,
    _redact,
    _rows_frame,
    expand_paths,
)

#: Bytes of CSV / JSON Lines text per chunk (about 300k rows of a 12-column file).
CHUNK_BYTES = 32 << 20
#: Rows per chunk of a Parquet file.
CHUNK_ROWS = 500_000
_READ = 8 << 20
#: Parse CSV columns typed at read where ``column_types`` says so (False: every column as
#: text; both land the same rows and reasons, see tests/data/test_typed_read.py).
TYPED_READ = True
#: The source columns of a CSV (its header) -> those to parse typed, with their types.
ColumnTypes = Callable[[list[str]], dict[str, pl.DataType]]


@dataclass(frozen=True, slots=True)
class Chunk:
    """One chunk of a batch.

    Attributes:
        frame: the chunk's rows (text columns for CSV and JSON, typed otherwise).
        first_row: position in the batch of the chunk's first row.
        source: where the batch comes from (all files, comma-separated).
        records: JSON records (an absent key of a nullable column is a null).
        decimal_comma: numbers are written ``1.234,5``.
        read: bytes (files) or rows (SQL) read so far, for progress.
        text: the source text of chosen rows, when some columns were parsed typed at
            read (None: every column of ``frame`` is the source text).
    """

    frame: pl.DataFrame
    first_row: int
    source: str
    records: bool = False
    decimal_comma: bool = False
    read: int = 0
    text: SourceText | None = None


class SourceText:
    """The source text of rows of a CSV chunk that was parsed typed: its rows read again
    as text, only those asked for (the quarantined rows, a few), from the chunk's bytes.

    Each row is one line when the chunk's newlines are exactly its row ends (as many as
    the rows that end with one: all, or all but a last row without a final newline);
    those lines alone are parsed. Otherwise (a quoted value spans lines) the whole chunk
    is read again.
    """

    def __init__(self, header: bytes, block: bytes, rows: int, separator: str,
                 quote: str) -> None:
        self._header, self._block, self._rows = header, block, rows
        self._separator, self._quote = separator, quote or None

    def rows(self, positions: np.ndarray) -> pl.DataFrame:
        """The rows at ``positions`` (in the chunk, in that order), every column as text."""
        positions = np.asarray(positions, dtype=np.int64)
        block = self._block
        ends = np.flatnonzero(np.frombuffer(block, np.uint8) == 10)
        # every row ends with a newline but perhaps the last: the newlines are exactly
        # the row ends (none quoted) when there are as many as rows ending with one
        ending = self._rows if block.endswith(b"\n") else self._rows - 1
        whole = len(ends) == ending
        if not whole:
            return self._read(self._header + block)[positions.tolist()]
        starts = np.concatenate(([0], ends + 1))
        stops = np.append(ends + 1, len(block))
        lines = [block[starts[i]:stops[i]] for i in positions.tolist()]
        text = b"".join(line if line.endswith(b"\n") else line + b"\n" for line in lines)
        return self._read(self._header + text)

    def _read(self, data: bytes) -> pl.DataFrame:
        return pl.read_csv(io.BytesIO(data), infer_schema=False, separator=self._separator,
                           quote_char=self._quote)


class ChunkedRead:
    """The chunks of one source, and its content hash once they have all been read.

    ``column_types`` (settable between chunks, as the contract in force may evolve): the
    CSV columns to parse typed at read; None reads every column as text.
    """

    def __init__(self, chunks: Iterator[Chunk], digest: Any) -> None:
        self._chunks = chunks
        self._digest = digest
        self.column_types: ColumnTypes | None = None

    def __iter__(self) -> Iterator[Chunk]:
        return self._chunks

    @property
    def content_hash(self) -> str:
        """The hash of everything read (complete only after the last chunk)."""
        return str(self._digest.hexdigest())


def chunked(source: Any, *, chunk_bytes: int | None = None,
            chunk_rows: int | None = None) -> ChunkedRead | None:
    """The chunks of ``source``, or None for a source that is read whole (frames,
    records, incremental SQL). Sizes default to ``CHUNK_BYTES`` / ``CHUNK_ROWS``."""
    chunk_bytes = chunk_bytes or CHUNK_BYTES
    chunk_rows = chunk_rows or CHUNK_ROWS
    if isinstance(source, FileSource):
        digest = hashlib.sha256()
        read = ChunkedRead(iter(()), digest)
        read._chunks = _file_chunks(source, digest, chunk_bytes, chunk_rows,
                                    lambda: read.column_types)
        return read
    if isinstance(source, SqlSource) and source.watermark is None:
        digest = hashlib.sha256()
        return ChunkedRead(_sql_chunks(source, digest), digest)
    return None


def _file_chunks(source: FileSource, digest: Any, chunk_bytes: int, chunk_rows: int,
                 types: Callable[[], ColumnTypes | None] = lambda: None) -> Iterator[Chunk]:
    files = expand_paths(source.path)
    dialect = source.dialect
    if source.separator is not None:
        dialect = replace(dialect, separator=source.separator)
    name = ",".join(str(f) for f in files)
    kinds = [source.format or FORMATS.get(f.suffix.lower()) for f in files]
    records = all(k == "jsonl" for k in kinds)
    row, done, columns = 0, 0, None
    for path, kind in zip(files, kinds, strict=True):
        if kind is None:
            raise SourceError(
                f"{path}: unknown file type `{path.suffix}`; use one of "
                f"{', '.join(sorted(FORMATS))} or pass format='csv'|'parquet'|'jsonl'.")
        reader = (_parquet_frames(path, digest, chunk_rows) if kind == "parquet"
                  else _text_frames(path, kind, dialect, digest, chunk_bytes, types))
        for frame, size in reader:
            text = None
            if isinstance(frame, tuple):
                frame, text = frame
            done += size
            if columns is None:
                columns = frame.columns
            elif set(frame.columns) != set(columns):
                raise SourceError(
                    f"{path} has columns {sorted(frame.columns)} but {files[0]} has "
                    f"{sorted(columns)}; ingest them as separate batches.")
            if frame.height:
                yield Chunk(frame, row, name, records, dialect.decimal_comma, done, text)
                row += frame.height
    if columns is None:
        raise SourceError(f"{name} is empty: nothing to ingest.")


def _parquet_frames(path: Path, digest: Any,
                    chunk_rows: int) -> Iterator[tuple[pl.DataFrame, int]]:
    import pyarrow.parquet as pq

    with path.open("rb") as handle:  # hash the bytes the whole-file reader hashes
        head = handle.read(4)
        handle.seek(-4, io.SEEK_END) if path.stat().st_size >= 8 else None
        tail = handle.read(4)
    if head != _PARQUET_MAGIC or tail != _PARQUET_MAGIC:
        raise SourceError(f"{path} has a .parquet name but is not a Parquet file "
                          "(no PAR1 magic bytes). Check how it was produced.")
    with path.open("rb") as handle:
        while block := handle.read(_READ):
            digest.update(block)
    try:
        file = pq.ParquetFile(path)
        size, rows = path.stat().st_size, max(file.metadata.num_rows, 1)
        for batch in file.iter_batches(batch_size=chunk_rows):
            frame = cast(pl.DataFrame, pl.from_arrow(batch))
            yield frame, size * frame.height // rows
        if file.metadata.num_rows == 0:
            yield cast(pl.DataFrame, pl.from_arrow(file.schema_arrow.empty_table())), size
    except (OSError, ValueError, pl.exceptions.PolarsError) as exc:
        raise SourceError(f"{path} is not a valid PARQUET file: {_first_line(exc)} "
                          "Nothing was ingested.") from exc


def _text_blocks(path: Path, encoding: str | None, digest: Any,
                 chunk_bytes: int) -> Iterator[tuple[bytes, int]]:
    """The file as UTF-8 text in blocks of about ``chunk_bytes`` (any cut), with the
    raw bytes each block consumed. The encoding is the given one, else the BOM's."""
    with path.open("rb") as handle:
        first = handle.read(min(chunk_bytes, _READ))
        digest.update(first)
        if encoding is None:
            for bom, codec in ((codecs.BOM_UTF32_LE, "utf-32"),
                               (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
                               (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
                if first.startswith(bom):
                    encoding = codec
                    break
        decoder = codecs.getincrementaldecoder(encoding)() if encoding else None
        block, consumed = first, len(first)
        while True:
            more = handle.read(chunk_bytes) if consumed else b""
            if more:
                digest.update(more)
            final = not more
            if decoder is not None:
                try:
                    text = decoder.decode(block, final=final)
                except UnicodeDecodeError as exc:
                    raise SourceError(f"{path} is not {encoding}: byte {block[exc.start]:#04x}."
                                      " Pass the file's encoding with `--encoding`.") from exc
                yield text.lstrip("\ufeff").encode("utf-8"), consumed
            else:
                yield block, consumed
            if final:
                return
            block, consumed = more, len(more)


def _row_blocks(path: Path, encoding: str | None, quote: str | None, digest: Any,
                chunk_bytes: int) -> Iterator[tuple[bytes, int]]:
    """UTF-8 blocks cut after a whole row: at a newline outside quotes (an even count
    of quote characters since the block began: a quoted value may hold newlines)."""
    carry = b""
    q = quote.encode() if quote else b""
    for block, consumed in _text_blocks(path, encoding, digest, chunk_bytes):
        buffer = carry + block if carry else block
        cut = buffer.rfind(b"\n") + 1
        quoted = bool(q) and q in buffer  # (a find stops early; a count reads it all)
        while quoted and cut and buffer.count(q, 0, cut) % 2:
            cut = buffer.rfind(b"\n", 0, cut - 1) + 1
        if cut == 0:
            carry = buffer
            continue
        carry = buffer[cut:]
        yield buffer[:cut], consumed
    if carry and (len(carry) > 65_536 or carry.strip()):
        yield carry, 0


def _text_frames(path: Path, kind: str, dialect: CsvDialect, digest: Any, chunk_bytes: int,
                 types: Callable[[], ColumnTypes | None] = lambda: None,
                 ) -> Iterator[tuple[Any, int]]:
    """CSV or JSON Lines in chunks of rows, each checked as the whole-file reader does;
    a CSV chunk parsed partly typed comes as ``(frame, SourceText)``."""
    if path.stat().st_size == 0:
        raise SourceError(f"{path} is empty: nothing to ingest.")
    with path.open("rb") as handle:
        head = handle.read(65_536)
    wide = head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE,
                            codecs.BOM_UTF32_BE)) or dialect.encoding is not None
    if head[:4] == _PARQUET_MAGIC or (b"\x00" in head[:4096] and not wide):
        raise SourceError(f"{path} is named {path.suffix} but holds binary data"
                          + (" (it is a Parquet file: rename it to .parquet)."
                             if head[:4] == _PARQUET_MAGIC else "."))
    if kind == "jsonl":
        line = 0
        for block, size in _row_blocks(path, dialect.encoding, None, digest, chunk_bytes):
            _block_utf8(path, block, line)
            frame = _read_jsonl(path, block, first_line=line + 1)
            line += block.count(b"\n")
            yield frame, size
        return
    state: dict[str, Any] = {}
    line = 0  # lines before the block
    for block, size in _row_blocks(path, dialect.encoding, dialect.quote or '"', digest,
                                   chunk_bytes):
        if not state:
            block = _csv_header(path, block, dialect, state)
            line = 1
        if len(block) < 65_536 and not block.strip():  # (strip copies: small blocks only)
            yield _empty(state["columns"]), size
            continue
        wanted = types() if TYPED_READ and not dialect.decimal_comma else None
        typed = _typed_columns(wanted, state["columns"]) if wanted is not None else {}
        yield _csv_block(path, block, line, state, typed), size
        line += block.count(b"\n")
    if not state:
        raise SourceError(f"{path} is empty: nothing to ingest.")


def _csv_header(path: Path, block: bytes, dialect: CsvDialect,
                state: dict[str, Any]) -> bytes:
    """Read the dialect and header from the first block; return the rows after it."""
    if not block.strip():
        raise SourceError(f"{path} is empty: nothing to ingest.")
    _block_utf8(path, block[:65_536].rsplit(b"\n", 1)[0] if len(block) > 65_536 else block, 0)
    sep, quote = _dialect(path, block[:65_536 + 1], dialect)
    _check_header(path, block, sep)
    end = block.find(b"\n") + 1 or len(block)
    header = block[:end] if block[:end].endswith(b"\n") else block[:end] + b"\n"
    try:
        columns = pl.read_csv(io.BytesIO(header), infer_schema=False, separator=sep,
                              quote_char=quote or None, n_rows=0).columns
    except (pl.exceptions.PolarsError, ValueError) as exc:
        raise SourceError(f"{path} is not a valid CSV file: {_first_line(exc)} "
                          "Nothing was ingested.") from exc
    state.update(header=header, columns=columns, sep=sep, quote=quote)
    return block[end:]


def _typed_columns(types: ColumnTypes, columns: list[str]) -> dict[str, pl.DataType]:
    """The header's columns to parse typed (a name the header holds twice: none of it)."""
    found = types(columns)
    return {c: t for c, t in found.items() if columns.count(c) == 1}


def _csv_block(path: Path, block: bytes, line: int, state: dict[str, Any],
               typed: dict[str, pl.DataType] | None = None) -> Any:
    """A block of rows as a frame: the ``typed`` columns parsed typed when every value
    of theirs parses (then ``(frame, SourceText)``), else every column as text."""
    data = state["header"] + block
    if typed:
        frame = _typed_block(data, state, typed)
        if frame is not None:
            _check_short_rows(path, data, state["sep"], frame, state["quote"],
                              line_offset=line - 1)
            return frame, SourceText(state["header"], block, frame.height, state["sep"],
                                     state["quote"])
    try:
        frame = pl.read_csv(io.BytesIO(data), infer_schema=False, separator=state["sep"],
                            quote_char=state["quote"] or None)
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        _block_utf8(path, block, line)
        raise SourceError(f"{path} is not a valid CSV file: {_first_line(exc)} (in the "
                          f"rows from line {line + 1}.) Nothing was ingested.") from exc
    _check_short_rows(path, data, state["sep"], frame, state["quote"], line_offset=line - 1)
    return frame


def _typed_block(data: bytes, state: dict[str, Any],
                 typed: dict[str, pl.DataType]) -> pl.DataFrame | None:
    """The strict typed parse, or None (the text path then reads it all and says which
    value failed where). A column holding a value the parse refuses, or a float the
    contract refuses (NaN, infinite), is read as text instead, in this chunk and the
    next ones (``state["text"]``): a dirty column costs itself, not the whole file."""
    typed = {c: t for c, t in typed.items() if c not in state.setdefault("text", set())}
    while typed:
        try:
            frame = pl.read_csv(io.BytesIO(data), infer_schema=False, separator=state["sep"],
                                quote_char=state["quote"] or None, schema_overrides=typed)
        except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
            found = _REFUSED.search(str(exc))
            index = int(found.group(1)) - 1 if found else -1
            column = state["columns"][index] if 0 <= index < len(state["columns"]) else None
            if column not in typed:
                return None
            refused = [column]
        else:
            refused = _not_finite(frame, [c for c, t in typed.items() if t.is_float()])
            if not refused:
                return frame
        for column in refused:
            typed.pop(column, None)
            state["text"].add(column)
    return None


#: Where the typed CSV parse names the column it refused a value of (worded otherwise, or
#: another error: the chunk is read as text, which names the problem itself).
_REFUSED = re.compile(r"at column .* \(column number (\d+)\)")


def _not_finite(frame: pl.DataFrame, floats: list[str]) -> list[str]:
    if not floats:
        return []
    row = frame.select([pl.col(c).is_finite().not_().any() for c in floats]).row(0)
    return [c for c, bad in zip(floats, row, strict=True) if bad]


def _block_utf8(path: Path, block: bytes, line: int) -> None:
    """A block that is not UTF-8: the whole-file reader's message, at the file's line."""
    _check_utf8(path, block, line_offset=line)


def _empty(columns: list[str]) -> pl.DataFrame:
    return pl.DataFrame({c: pl.Series(c, [], pl.String) for c in columns})


def _sql_chunks(source: SqlSource, digest: Any,
                on_rows: Callable[[int], None] | None = None) -> Iterator[Chunk]:
    """A query's result ``chunk_size`` rows at a time (a server-side cursor where the
    driver has one, ``stream_results``); the hash is over each chunk's Arrow IPC."""
    name = f"sql:{_redact(source.url)}"
    with source.streamed() as (columns, result):
        total = 0
        while rows := result.fetchmany(source.chunk_size):
            frame = _rows_frame(columns, rows)
            buffer = io.BytesIO()
            frame.write_ipc_stream(buffer, compression="uncompressed")
            digest.update(buffer.getvalue())
            yield Chunk(frame, total, name, read=total + len(rows))
            total += len(rows)
        if total == 0:
            yield Chunk(_empty(columns), 0, name)
