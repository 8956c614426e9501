"""What batch scoring reads: a file (CSV, Parquet, JSON Lines) or a versioned lockgate
table (``orders@v7``), streamed in chunks of at most ``chunk_rows`` rows so inputs
larger than memory are scored in constant memory.

CSV is read as text by ingestion's own chunked reader, so the contract (through the same
normalisation) decides every type; Parquet and Delta keep their types.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa

from lockgate.config import Settings
from lockgate.data.source import records_frame
from lockgate.data.table import scan as scan_table
from lockgate.data.table import table_path
from lockgate.data.tables import parse_table_ref
from lockgate.errors import LockgateError, NotFoundError
from lockgate.location import StoragePath, storage_options

#: Bytes of CSV text read at a time (whole rows; re-cut into ``chunk_rows``).
CSV_BLOCK_BYTES = 4 << 20
FILE_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl",
                ".ndjson": "jsonl"}


class BatchInputError(LockgateError, ValueError):
    """The batch-scoring input cannot be read as given."""


@dataclass(frozen=True, slots=True)
class BatchInput:
    """Where the rows come from.

    Attributes:
        kind: ``csv``, ``parquet``, ``jsonl`` or ``table``.
        path: the file, or the table's Delta folder.
        label: how it reads in messages and lineage (``orders@v3``, ``data.csv``).
        version: the table version read (tables only).
        rows: total rows when known up front (Parquet, tables), for the progress bar.
    """

    kind: str
    path: StoragePath
    label: str
    version: int | None = None
    rows: int | None = None
    records: bool = False

    def chunks(self, chunk_rows: int) -> Iterator[pl.DataFrame]:
        """The rows, ``chunk_rows`` at a time."""
        if self.kind == "csv":
            yield from _csv_chunks(_local(self.path), chunk_rows)
        elif self.kind == "jsonl":
            yield from _jsonl_chunks(_local(self.path), chunk_rows)
        else:
            yield from _arrow_chunks(self._batches(chunk_rows), chunk_rows)

    def _batches(self, chunk_rows: int) -> Iterator[pa.RecordBatch]:
        if self.kind == "parquet":
            import pyarrow.parquet as pq

            yield from pq.ParquetFile(self.path).iter_batches(batch_size=chunk_rows)
            return
        from deltalake import DeltaTable

        table = DeltaTable(str(self.path), version=self.version,
                           storage_options=storage_options(self.path))
        yield from table.to_pyarrow_dataset().to_batches(batch_size=chunk_rows)


def open_input(source: str | Path, settings: Settings) -> BatchInput:
    """Resolve ``source``: an existing file by its suffix, else ``TABLE[@VERSION]``.

    Raises:
        BatchInputError: an unknown file type.
        NotFoundError: neither a file nor a table (or no such version).
    """
    path = Path(source)
    if path.is_file():
        kind = FILE_FORMATS.get(path.suffix.lower())
        if kind is None:
            raise BatchInputError(
                f"Cannot score {path}: unknown file type `{path.suffix}`. Use CSV, Parquet "
                f"or JSON Lines ({', '.join(sorted(FILE_FORMATS))}), or a table as "
                "TABLE@VERSION.")
        rows = _parquet_rows(path) if kind == "parquet" else None
        return BatchInput(kind, path, str(path), rows=rows, records=kind == "jsonl")
    if path.suffix.lower() in FILE_FORMATS or len(path.parts) > 1:
        raise NotFoundError(f"Cannot score {path}: no such file. Pass an existing "
                            "CSV/Parquet/JSONL file, or TABLE@VERSION of a lockgate table.")
    table, version = parse_table_ref(str(source))
    folder = table_path(settings, table)
    if not (folder / "_delta_log").is_dir():
        raise NotFoundError(
            f"`{source}` is neither a file nor a lockgate table (no Delta table at {folder}). "
            "Pass a CSV/Parquet/JSONL path, or TABLE@VERSION (see `lockgate data tables`).")
    from deltalake import DeltaTable

    try:
        delta = DeltaTable(str(folder), version=version,
                           storage_options=storage_options(folder))
    except Exception as exc:
        raise NotFoundError(f"Table `{table}` has no version {version}: {exc}") from exc
    rows = int(scan_table(folder, version=delta.version()).select(pl.len())
               .collect().item())
    return BatchInput("table", folder, f"{table}@v{delta.version()}", delta.version(),
                      rows)


def _parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def _csv_chunks(path: Path, chunk_rows: int) -> Iterator[pl.DataFrame]:
    """CSV through ingestion's chunked reader: text columns, the dialect sniffed, the
    encoding, header and short rows checked, in blocks of bytes cut after a whole row
    (flat memory: Arrow's streaming CSV reader grew by ~250 MB per million rows)."""
    from lockgate.data.chunk_reader import chunked
    from lockgate.data.source import FileSource

    read = chunked(FileSource(path, format="csv"), chunk_bytes=CSV_BLOCK_BYTES)
    if read is None:  # pragma: no cover - a file source is always read in chunks
        raise BatchInputError(f"{path} cannot be read in chunks.")
    yield from _recut((chunk.frame for chunk in read), chunk_rows)


def _jsonl_chunks(path: Path, chunk_rows: int) -> Iterator[pl.DataFrame]:
    records: list[dict[str, object]] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except ValueError as exc:
                raise BatchInputError(f"{path} line {number} is not JSON: {exc}") from exc
            if len(records) >= chunk_rows:
                yield records_frame(records)
                records = []
    if records:
        yield records_frame(records)


def _arrow_chunks(batches: Iterator[pa.RecordBatch], chunk_rows: int
                  ) -> Iterator[pl.DataFrame]:
    """Record batches (whatever size the reader chose) in chunks of ``chunk_rows``."""
    return _recut((pl.DataFrame(pa.Table.from_batches([b])) for b in batches), chunk_rows)


def _recut(frames: Iterator[pl.DataFrame], chunk_rows: int) -> Iterator[pl.DataFrame]:
    """Re-cut frames of any size into ``chunk_rows`` (the last one shorter)."""
    pending: list[pl.DataFrame] = []
    size = 0
    for frame in frames:
        pending.append(frame)
        size += frame.height
        while size >= chunk_rows:
            joined = pl.concat(pending, how="vertical_relaxed")
            yield joined.head(chunk_rows)
            rest = joined.slice(chunk_rows)
            pending, size = ([rest], rest.height) if rest.height else ([], 0)
    if size:
        yield pl.concat(pending, how="vertical_relaxed")


def _local(path: StoragePath) -> Path:
    """A file input's path: files given on the command line are local."""
    if not isinstance(path, Path):
        raise BatchInputError(f"`{path}` is not a local file; read files from disk or use "
                              "`table:NAME` for a table on the data root.")
    return path
