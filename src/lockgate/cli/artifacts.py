"""``lockgate artifacts``: list a run's artifacts and fetch them as files."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from lockgate.artifacts import ArtifactStore
from lockgate.cli.app import console, print_json, settings
from lockgate.store import ArtifactRecord
from lockgate.tracking.run_view import RunView

app = typer.Typer(help="A run's artifacts: list, get.", no_args_is_help=True)


@app.command("list")
def list_command(
    run_id: str = typer.Argument(..., help="Run id or a unique prefix of it."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List a run's artifacts (for a pipeline run: its steps' outputs too)."""
    view = _view(run_id)
    records = _records(view)
    if as_json:
        print_json([{"output": k, "id": r.id, "name": r.name, "media_type": r.media_type,
                     "size": r.size, "sha256": r.sha256, "materializer": r.materializer}
                    for k, r in records.items()])
        return
    if not records:
        console.print(f"Run {view.id} saved no artifacts.")
        return
    render_records(f"Artifacts of {view.record.name} ({view.id})", records)
    console.print(f"Fetch one: lockgate artifacts get {view.id[:8]} NAME --out DIR")


@app.command("get")
def get_command(
    run_id: str = typer.Argument(..., help="Run id or a unique prefix of it."),
    name: str | None = typer.Argument(None, help="Artifact name (default: all of them)."),
    out: Path = typer.Option(Path("."), "--out", "-o", help="Folder to write into."),
) -> None:
    """Write a run's artifacts (hash-verified) into a folder, named after the artifact."""
    view = _view(run_id)
    records = _records(view)
    chosen = {name: view.outputs.records[name] if name in view.outputs.records
              else view.artifact_record(name)} if name else records
    write(view.artifacts_store, chosen, out)


def write(artifacts: ArtifactStore, records: dict[str, ArtifactRecord], out: Path) -> None:
    """Export each record into ``out`` under its output name, printing where."""
    for key, record in records.items():
        path = artifacts.export(record, out, name=key if key != record.name else None)
        console.print(f"wrote {path} ({record.size:,} bytes, {record.media_type})",
                      highlight=False)


def render_records(title: str, records: dict[str, ArtifactRecord]) -> None:
    """A table of artifacts by name."""
    table = Table(title=title)
    for column in ("name", "id", "type", "size", "sha256"):
        table.add_column(column, justify="right" if column == "size" else "left")
    for key, r in records.items():
        table.add_row(key, str(r.id), r.media_type, f"{r.size:,}", r.sha256[:12])
    console.print(table)


def _view(run_id: str) -> RunView:
    artifacts = ArtifactStore.open(settings())
    return RunView(artifacts.store.get_run(run_id), artifacts)


def _records(view: RunView) -> dict[str, ArtifactRecord]:
    records = {a.name: a for a in view.artifacts}
    records.update(view.outputs.records)
    return records
