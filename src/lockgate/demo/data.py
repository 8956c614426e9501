"""Quickstart section: the data layer. Two CSV batches and a stream of records over the
HTTP ingest endpoint land in a versioned table; bad rows are quarantined with reasons."""

from __future__ import annotations

import shutil

import httpx
from rich.table import Table

from lockgate.data import Contract, ingest, quarantined
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
    with IngestServer(ctx.settings, {TABLE: contract}) as server, httpx.Client() as client:
        for start in range(0, len(files.stream), POST_SIZE):
            response = client.post(f"{server.url}/tables/{TABLE}/rows",
                                   json=files.stream[start:start + POST_SIZE], timeout=30)
            response.raise_for_status()
            body = response.json()
            versions.append(body["version"])
            _say(ctx, f"POST {server.url}/tables/{TABLE}/rows", body)
    _show_quarantine(ctx)
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
