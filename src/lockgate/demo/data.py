"""Quickstart section: the data layer. Two CSV batches and a stream of records over the
HTTP ingest endpoint land in a versioned table; bad rows are quarantined with reasons.
Then the delivery stories: a Redis stream with a poison message and a producer retry
(skipped with a note when no Redis server answers), an incremental SQL extraction with an
update (SQLite), and the quarantine exported for the people who fix the source."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
from rich.table import Table

from lockgate.data import ColumnSpec, Contract, ingest, quarantined
from lockgate.data.endpoint import IngestServer
from lockgate.data.quarantine import summary
from lockgate.demo.context import DemoContext
from lockgate.demo.dataset import CONTRACT, write_demo_dataset

TABLE = "churn"
POST_SIZE = 100


def run(ctx: DemoContext) -> None:
    """Generate the churn dataset, ingest two batch files, stream the rest over HTTP,
    then show the versions and the quarantine grouped by reason."""
    ctx.heading("Data: contract, ingestion, validation at the door, versioned tables")
    folder = ctx.workdir / "data"
    files = write_demo_dataset(folder)
    contract_path = folder / "churn_contract.yaml"
    shutil.copyfile(CONTRACT, contract_path)
    contract = Contract.from_yaml(contract_path)
    versions = []
    for path in files.batches:
        result = ingest(path, TABLE, contract, settings=ctx.settings)
        versions.append(result.version)
        _say(ctx, f"{path.name}", result.to_dict())
    with IngestServer(ctx.settings, {TABLE: contract}, batch_seconds=0.02) as server, \
            httpx.Client() as client:
        for start in range(0, len(files.stream), POST_SIZE):
            response = client.post(f"{server.url}/tables/{TABLE}/rows",
                                   json=files.stream[start:start + POST_SIZE], timeout=30)
            response.raise_for_status()
            body = response.json()
            versions.append(body["version"])
            _say(ctx, f"POST {server.url}/tables/{TABLE}/rows", body)
    _show_quarantine(ctx)
    _stream_story(ctx)
    _incremental_story(ctx, folder)
    _export_story(ctx, folder)
    _chunked_story(ctx, files.batches[0], contract)
    ctx.results["data_table"] = TABLE
    ctx.results["data_contract_path"] = str(contract_path)
    ctx.results["data_versions"] = versions
    ctx.hint("Versions", f"lockgate data versions {TABLE}")
    ctx.hint("Rows as of the first batch", f"lockgate data show {TABLE}@{versions[0]}")
    ctx.hint("Quarantine by reason", f"lockgate data quarantine {TABLE}")


def _say(ctx: DemoContext, what: str, result: dict) -> None:
    reasons = ", ".join(f"{k}={v}" for k, v in sorted(result["reasons"].items()))
    ctx.console.print(
        f"  {what} -> [bold]{result['table']}@v{result['version']}[/]: "
        f"{result['accepted']} accepted, {result['quarantined']} quarantined"
        + (f" ({reasons})" if reasons else ""))


def _show_quarantine(ctx: DemoContext) -> None:
    rows = quarantined(TABLE, settings=ctx.settings)
    table = Table(title=f"Quarantine of {TABLE}: {rows.height} rows, grouped by reason")
    for col in ("reason", "rows", "example raw values"):
        table.add_column(col, overflow="fold")
    for rec in summary(rows).iter_rows(named=True):
        table.add_row(rec["reason"], str(rec["rows"]), rec["example"][:100])
    ctx.console.print(table)


EVENTS = Contract("churn_events", "1", (
    ColumnSpec("event_id", "string", nullable=False), ColumnSpec("customer_id", "int"),
    ColumnSpec("kind", "category", allowed=("login", "ticket", "upgrade")),
    ColumnSpec("at", "datetime", nullable=False)), primary_key=("event_id",))
PLANS = Contract("plans", "1", (
    ColumnSpec("customer_id", "int", nullable=False), ColumnSpec("plan", "category"),
    ColumnSpec("updated_at", "datetime", nullable=False)), primary_key=("customer_id",))


def _stream_story(ctx: DemoContext) -> None:
    """Good messages land, a poison message and an unknown field are quarantined and
    acked, a producer's retry lands once."""
    import json
    import uuid

    from lockgate.data.errors import SourceUnreachableError
    from lockgate.data.stream import StreamConfig, connect, consume, publish

    url = "redis://127.0.0.1:6379/0"
    try:
        client = connect(url)
    except SourceUnreachableError:
        ctx.console.print(f"  [yellow]Redis stream story skipped[/]: no Redis server at {url} "
                          "(start one with `redis-server` to see it).")
        return
    key = f"lockgate-quickstart:{uuid.uuid4().hex[:10]}"
    events = EVENTS.with_changes(table=_fresh_table(ctx, EVENTS.table))
    good = [{"event_id": f"e{i}", "customer_id": 100 + i, "kind": "login",
             "at": f"2025-03-0{1 + i}T10:00:00Z"} for i in range(5)]
    try:
        publish(client, key, good[:3])
        client.xadd(key, {"json": '{"event_id": "e9", "kind": '})  # truncated: poison
        publish(client, key, [good[2], *good[3:], {**good[0], "event_id": "e7", "colour": 1}])
        stats = consume(StreamConfig(url, key, events.table, max_seconds=0.05), events,
                        settings=ctx.settings, idle_seconds=0.2)
        pending = client.xpending(key, "lockgate")["pending"]
    finally:
        client.delete(key)
    held = quarantined(events.table, settings=ctx.settings)
    reasons = sorted(r for rs in held["reasons"].to_list() for r in rs)
    ctx.console.print(
        f"  redis stream {key}: {stats.accepted} landed, {stats.quarantined} quarantined "
        f"({', '.join(reasons)}), {stats.deduplicated} producer retry skipped, "
        f"{pending} left pending")
    ctx.expect(stats.accepted == 5 and stats.deduplicated == 1 and pending == 0, "data",
               "a stream's 5 good events land once, nothing pending",
               f"{stats.accepted} landed, {stats.deduplicated} copies, {pending} pending")
    ctx.expect(reasons == ["message:not_a_json_object", "schema:new:colour"], "data",
               "the poison message and the unknown field quarantined", json.dumps(reasons))


def _chunked_story(ctx: DemoContext, path: Path, contract: Contract) -> None:
    """The first batch file again, into a table of its own, read in 16 kB chunks (a 100M
    row file goes the same way, in bounded memory): one version, every row accounted for,
    the same rows as the whole-file landing; ``lockgate ingest`` shows a bar per chunk."""
    import time

    from lockgate.data import read
    from lockgate.data.ingestion import IngestOptions

    copy = contract.with_changes(table=f"{TABLE}_chunked")
    seen: list[int] = []
    began = time.perf_counter()
    result = ingest(path, copy.table, copy, settings=ctx.settings,
                    options=IngestOptions(chunk_bytes=16_384),
                    chunk_progress=lambda rows, read: seen.append(rows))
    rate = result.ingested / max(time.perf_counter() - began, 1e-9)
    if not result.created:  # the quickstart ran before on this home
        ctx.console.print(f"  {path.name} in {result.chunks} chunks: {result.warnings[0]}")
        ctx.expect(result.chunks > 1, "data", "the file read in several chunks",
                   f"{result.chunks} chunks")
        return
    ctx.console.print(
        f"  {path.name} in {result.chunks} chunks of 16 kB -> [bold]{copy.table}@v"
        f"{result.version}[/] ({rate:,.0f} rows/s): {result.accepted} accepted + "
        f"{result.quarantined} quarantined = {result.ingested} ingested"
        + (f" ({result.deduplicated} copies skipped)" if result.deduplicated else ""))
    whole = read(TABLE, version=0, settings=ctx.settings)
    chunked = read(copy.table, settings=ctx.settings)
    ctx.expect(result.chunks > 1 and len(seen) == result.chunks, "data",
               "the file read in several chunks, progress after each",
               f"{result.chunks} chunks, {len(seen)} progress reports")
    ctx.expect(result.accepted + result.quarantined == result.ingested
               and chunked.sort(chunked.columns).equals(whole.sort(whole.columns)), "data",
               "accepted + quarantined == ingested, the same rows as the whole-file landing",
               f"{result.accepted} + {result.quarantined} vs {result.ingested}; "
               f"{chunked.height} vs {whole.height} rows")
    ctx.hint("Ingest with a progress bar per chunk", f"lockgate ingest {path.name} --table "
             f"{copy.table} --contract churn_contract.yaml")


def _incremental_story(ctx: DemoContext, folder: Path) -> None:
    """Extract a CRM table by its update time; an updated row replaces its key (MERGE)
    and the old one stays readable by time travel."""
    import datetime as dt

    import sqlalchemy as sa

    from lockgate.data import SqlSource, read
    from lockgate.data.ingestion import IngestOptions

    plans = PLANS.with_changes(table=_fresh_table(ctx, PLANS.table))
    database = folder / f"{plans.table}_crm.db"
    database.unlink(missing_ok=True)
    url = f"sqlite:///{database}"
    engine = sa.create_engine(url)
    t0 = dt.datetime(2025, 3, 1, 9, 0)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE crm (customer_id INTEGER PRIMARY KEY, plan TEXT, "
                             "updated_at TIMESTAMP)"))
        conn.execute(sa.text("INSERT INTO crm VALUES (:i, :p, :t)"),
                     [{"i": i, "p": "basic", "t": t0 + dt.timedelta(minutes=i)}
                      for i in range(1, 4)])
    source = SqlSource(url, "SELECT customer_id, plan, updated_at FROM crm",
                       watermark="updated_at")
    upsert = IngestOptions(mode="upsert")
    first = ingest(source, plans.table, plans, settings=ctx.settings, options=upsert)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE crm SET plan = 'premium', updated_at = :t "
                             "WHERE customer_id = 2"), {"t": t0 + dt.timedelta(hours=1)})
        conn.execute(sa.text("INSERT INTO crm VALUES (4, 'standard', :t)"),
                     {"t": t0 + dt.timedelta(hours=1)})
    engine.dispose()
    second = ingest(source, plans.table, settings=ctx.settings, options=upsert)
    now = read(plans.table, settings=ctx.settings)
    before = read(plans.table, version=first.version, settings=ctx.settings)
    plan = {r["customer_id"]: r["plan"] for r in now.iter_rows(named=True)}
    old = {r["customer_id"]: r["plan"] for r in before.iter_rows(named=True)}
    ctx.console.print(
        f"  sql {url} by updated_at: v{first.version} {first.accepted} rows; "
        f"v{second.version} {second.accepted} rows ({second.updated} updated, "
        f"{second.deduplicated} boundary copies skipped); customer 2 is `{plan[2]}` now, "
        f"`{old[2]}` in v{first.version}")
    ctx.expect(second.updated == 1 and second.accepted == 2 and now.height == 4
               and plan[2] == "premium" and old[2] == "basic", "data",
               "the incremental extraction lands one new and one updated row, the old row "
               "readable by time travel",
               f"{second.accepted} accepted, {second.updated} updated, plan {plan.get(2)}")
    ctx.hint("An incremental SQL extraction",
             f"lockgate ingest {url} --query 'SELECT * FROM crm' --table {plans.table} "  # noqa: S608 - a printed command
             "--watermark updated_at --upsert")


def _fresh_table(ctx: DemoContext, base: str) -> str:
    """``base``, or ``base_2``... when a quickstart already ran in this home: each story
    starts from an empty table so it shows (and checks) the same thing every time."""
    taken = set(ctx.store.dataset_tables())
    if base not in taken:
        return base
    return next(f"{base}_{i}" for i in range(2, 10_000) if f"{base}_{i}" not in taken)


def _export_story(ctx: DemoContext, folder: Path) -> None:
    from lockgate.data.quarantine import export

    rows = quarantined(TABLE, settings=ctx.settings)
    path = export(rows, folder / "churn_quarantine.csv")
    lines = path.read_text(encoding="utf-8").count("\n")
    ctx.console.print(f"  quarantine exported: {rows.height} rows with reasons and record "
                      f"numbers -> {path}")
    ctx.expect(lines == rows.height + 1 and rows.height > 0, "data",
               "every quarantined row exported, one line each", f"{lines - 1} of {rows.height}")
    ctx.hint("Export the quarantine", f"lockgate data quarantine {TABLE} --export rows.csv")
