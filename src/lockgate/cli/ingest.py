"""``lockgate ingest``: a file, glob or folder (with a progress bar and a summary), the
HTTP ingest endpoint (``serve``) and a Redis Streams consumer (``stream``)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import click
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from typer.core import TyperCommand, TyperGroup

from lockgate.cli.app import console, print_json, settings
from lockgate.cli.data import render_summary
from lockgate.data import ingest as ingest_batch
from lockgate.data.contract import check_table_name, load_contract
from lockgate.data.ingestion import IngestOptions, resolve_contract
from lockgate.data.source import CsvDialect, FileSource, SqlSource, expand_paths
from lockgate.errors import close_matches

_DEFAULTED = "lockgate.ingest.default_file"


class _DefaultToFile(TyperGroup):
    """`lockgate ingest PATH ...` means `lockgate ingest file PATH ...`; a word close to a
    sub-command that is no file (`lockgate ingest sreve`) is a typo, said so."""

    # typer >= 0.29 types these with the click it vendors (typer._click); the real
    # click's classes are duck-compatible at run time (tests/cli run this path)
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            word = args[0]
            hint = close_matches(word, self.commands)
            if hint and not word.startswith("-") and not Path(word).exists():
                ctx.fail(f"No such command or file {word!r}.{hint}")
            ctx.meta[_DEFAULTED] = True
            args = ["file", *args]
        return super().parse_args(ctx, args)  # type: ignore[arg-type]


class _FileContext(click.Context):
    """Errors of the implied `file` command name what the user typed, `lockgate ingest`."""

    @property
    def command_path(self) -> str:
        path = super().command_path
        if self.meta.get(_DEFAULTED) and path.endswith(" file"):
            return path[: -len(" file")]
        return path


class _FileCommand(TyperCommand):
    context_class = _FileContext  # type: ignore[assignment]


app = typer.Typer(cls=_DefaultToFile, no_args_is_help=True,
                  help="Ingest data: `lockgate ingest PATH --table T [--contract C]`, "
                  "`lockgate ingest serve`, `lockgate ingest stream`; the options of the "
                  "first: `lockgate ingest file --help`.")


@app.command("file", cls=_FileCommand)
def ingest_cmd(
    path: str = typer.Argument(..., help="A CSV/Parquet/JSONL file, a glob or a "
                               "folder; or a SQLAlchemy URL with --query."),
    table: str = typer.Option(..., "--table", "-t", help="Table to land in."),
    contract: str | None = typer.Option(None, "--contract", "-c", help="Contract YAML "
                                        "(default: the table's current contract)."),
    query: str | None = typer.Option(None, "--query", "-q", help="SQL query (PATH is then "
                                     "a database URL)."),
    separator: str | None = typer.Option(None, "--separator", "--sep", help="CSV field "
                                         "separator (default: sniffed among , ; tab |); "
                                         "write a tab as '\\t'."),
    quote: str | None = typer.Option(None, "--quote", help="CSV quote character ('' for "
                                     "none; default: sniffed, usually a double quote)."),
    encoding: str | None = typer.Option(None, "--encoding", help="Text encoding: utf-8, "
                                        "latin-1, cp1252, utf-16... (default: from the "
                                        "byte-order mark, else utf-8)."),
    decimal_comma: bool = typer.Option(False, "--decimal-comma", help="Numbers are written "
                                       "1.234,5."),
    max_quarantine_share: float | None = typer.Option(
        None, "--max-quarantine-share", min=0.0, max=1.0,
        help="Refuse the whole batch (nothing lands) when more than this share of its rows "
             "would be quarantined (default: the contract's)."),
    watermark: str | None = typer.Option(None, "--watermark", help="With --query: extract "
                                         "incrementally, rows whose COLUMN is at or after "
                                         "the last landed value."),
    upsert: bool = typer.Option(False, "--upsert", help="Rows with a landed primary key "
                                "replace it (Delta MERGE; the old row stays readable by "
                                "time travel) instead of being quarantined as duplicates."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable summary."),
) -> None:
    """Ingest one batch: `lockgate ingest data.csv --table churn --contract churn.yaml`."""
    conf = settings()
    check_table_name(table)
    resolved = load_contract(contract) if contract else resolve_contract(table, None, conf)
    options = IngestOptions(max_quarantine_share=max_quarantine_share,
                            mode="upsert" if upsert else "append")
    if query is not None:
        source: FileSource | SqlSource = SqlSource(path, query, watermark=watermark)
        total = None
    else:
        dialect = CsvDialect(separator.replace("\\t", "\t") if separator else None, quote,
                             encoding, decimal_comma)
        total = sum(p.stat().st_size for p in expand_paths(path))
        source = FileSource(path, dialect=dialect)
    profiles = ChunkProfiles(resolved)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                  TextColumn("{task.fields[rows]:>12,} rows"),
                  TextColumn("{task.fields[rate]:>9,.0f} rows/s"), TimeElapsedColumn(),
                  console=console, transient=True, disable=as_json) as bar:
        task = bar.add_task(f"ingesting {path}" if query is None else "ingesting query",
                            total=total, rows=0, rate=0.0)
        began = time.perf_counter()

        def advance(rows: int, read: int) -> None:
            bar.update(task, completed=read if total else None, rows=rows,
                       rate=rows / max(time.perf_counter() - began, 1e-9))

        result = ingest_batch(source, table, resolved, settings=conf, options=options,
                              observe=profiles.add, chunk_progress=advance)
    _store_profiles(result, conf, chunks=profiles)
    if as_json:
        print_json(result.to_dict())
    else:
        render_summary(result.to_dict())


@app.command("serve")
def serve_cmd(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (default local "
                             "only); anything but loopback needs LOCKGATE_INGEST_TOKEN or "
                             "--insecure."),
    port: int = typer.Option(8765, "--port", help="TCP port."),
    contract: list[str] = typer.Option([], "--contract", "-c", help="Contract YAML for a "
                                       "table that does not exist yet; repeatable."),
    insecure: bool = typer.Option(False, "--insecure", help="Accept rows from other machines "
                                  "without a token (prints a warning)."),
    max_body_bytes: int = typer.Option(8 << 20, "--max-body-bytes", min=1024,
                                       help="Larger requests get 413."),
) -> None:
    """Run the HTTP ingest endpoint: POST /tables/{name}/rows with a JSON list of records."""
    import os

    from lockgate.config import ensure_port_free
    from lockgate.data.endpoint import TOKEN_ENV, create_app, ingest_policy
    from lockgate.security import run_server, server_config

    ensure_port_free(host, port)  # before the URL is announced
    conf = settings()
    policy = ingest_policy(conf, host=host, token=os.environ.get(TOKEN_ENV) or None,
                           insecure=insecure, max_body_bytes=max_body_bytes)
    warning = policy.check_start()
    if warning:
        console.print(f"[bold red]{warning}[/]")
    contracts = {c.table: c for c in (load_contract(p) for p in contract)}
    shown = f"[{host}]" if ":" in host else host
    console.print(f"Ingest endpoint on http://{shown}:{port}/tables/{{name}}/rows "
                  "(Ctrl-C to stop)")
    run_server(server_config(create_app(conf, contracts, policy), policy, port=port,
                             log_level="info"))


@app.command("stream")
def stream_cmd(
    redis_url: str = typer.Option(..., "--redis", help="e.g. redis://127.0.0.1:6379/0"),
    stream: str = typer.Option(..., "--stream", help="Redis stream key."),
    table: str = typer.Option(..., "--table", "-t", help="Table to land in."),
    contract: str | None = typer.Option(None, "--contract", "-c", help="Contract YAML."),
    group: str = typer.Option("lockgate", "--group", help="Consumer group."),
    consumer: str = typer.Option("consumer-1", "--consumer", help="Consumer name; restart "
                                 "with the same name to resume."),
    max_rows: int = typer.Option(5000, "--max-rows", min=1, help="Rows per micro-batch."),
    max_seconds: float = typer.Option(1.0, "--max-seconds", min=0.01, help="Longest wait "
                                      "to fill a micro-batch."),
    idle_exit: float | None = typer.Option(None, "--idle-exit", help="Stop after this many "
                                           "seconds without messages."),
    event_id: str | None = typer.Option(None, "--event-id", help="Contract column naming "
                                        "an event: a producer's retry lands once."),
    min_idle: float = typer.Option(60.0, "--min-idle", min=0.01, help="Reclaim another "
                                   "consumer's entries pending this many seconds."),
    max_deliveries: int = typer.Option(5, "--max-deliveries", min=1, help="Dead-letter a "
                                       "message delivered this often without landing."),
    as_json: bool = typer.Option(False, "--json", help="One JSON summary per micro-batch."),
) -> None:
    """Consume a Redis stream into a table: at-least-once delivery, exactly-once landing."""
    from lockgate.data.stream import StreamConfig, consume

    config = StreamConfig(redis_url, stream, table, group, consumer, max_rows, max_seconds,
                          event_id=event_id, min_idle_seconds=min_idle,
                          max_deliveries=max_deliveries)
    conf = settings()

    def show(result: object) -> None:
        _store_profiles(result, conf, snapshot=False)
        data = result.to_dict()  # type: ignore[attr-defined]
        if as_json:
            print_json(data)
        else:
            render_summary(data)

    stop = threading.Event()
    try:
        stats = consume(config, load_contract(contract) if contract else None,
                        settings=conf, stop=stop, idle_seconds=idle_exit, on_batch=show)
    except KeyboardInterrupt:
        stop.set()
        raise
    if not as_json:
        console.print(f"Consumed {stats.rows} rows in {stats.batches} micro-batches "
                      f"({stats.accepted} accepted, {stats.quarantined} quarantined, "
                      f"{stats.skipped} already landed, {stats.deduplicated} copies skipped, "
                      f"{stats.reclaimed} reclaimed, {stats.dead_lettered} dead-lettered).")


class ChunkProfiles:
    """The profile of each chunk's accepted rows, merged once the batch has landed: the
    batch profile of a chunked ingestion without reading the batch back (a chunk whose
    rows changed at the end is profiled again under its number)."""

    def __init__(self, contract: object) -> None:
        self.contract = contract
        self.parts: dict[int, object] = {}

    def add(self, number: int, frame: object) -> None:
        from lockgate.quality.profile import profile

        self.parts[number] = profile(frame, contract=self.contract)  # type: ignore[arg-type]

    def merged(self) -> object | None:
        from lockgate.quality.profile import ProfileError

        parts = [self.parts[k] for k in sorted(self.parts)]
        if not parts:
            return None
        out = parts[0]
        try:
            for part in parts[1:]:
                out = out.merge(part)  # type: ignore[attr-defined]
        except ProfileError:
            return None  # a column changed kind between chunks: profile the batch whole
        return out


def _store_profiles(result: object, conf: object, *, snapshot: bool = True,
                    chunks: ChunkProfiles | None = None) -> None:
    """Profile a version that just landed, so reports, drift and monitoring find it stored.

    A file batch gets the profile of the rows it added (merged from its chunks' when it
    was read in chunks) and of the table as of the new version (the previous snapshot
    merged with the batch when both are stored); a stream micro-batch only the
    (mergeable) profile of its own rows, since re-profiling the whole table per
    micro-batch would grow with the table.
    """
    from lockgate.quality import batch_profile_for, profile_for
    from lockgate.quality.stored_profile import save_profile
    from lockgate.store import Store

    version = getattr(result, "version", None)
    if version is None or not getattr(result, "created", False):
        return
    table = result.table  # type: ignore[attr-defined]
    merged = chunks.merged() if chunks is not None else None
    found = result.dataset_version  # type: ignore[attr-defined]
    if merged is not None and found.details.get("chunked") \
            and getattr(merged, "rows", None) == found.rows_accepted:
        save_profile(Store.open(conf).dataset_version(table, version), "batch",  # type: ignore[arg-type]
                     merged, conf)  # type: ignore[arg-type]
    batch_profile_for(table, version, settings=conf)  # type: ignore[arg-type]
    if snapshot:
        profile_for(table, version, settings=conf)  # type: ignore[arg-type]
