"""``lockgate gc`` and ``lockgate du``: retention that follows lineage, and disk figures."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lockgate.cli.app import console, print_json, settings

_ACTION_STYLE = {"keep": "green", "remove": "red", "purge": "red", "soft-delete": "yellow",
                 "vacuum": "red", "compact": "cyan"}


def gc_command(
    dry_run: bool = typer.Option(False, "--dry-run", "-n",
                                 help="Change nothing; print every decision."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    quiet: bool = typer.Option(False, "--quiet", "-q",
                               help="Only the summary (and what goes), not every kept thing."),
) -> None:
    """Remove what nothing live references; say why each kept thing is kept.

    Never removed: a registered version's package, its training run, and everything
    upstream of that run through lineage. Policies (keep_last, max_age) come from the
    `retention:` section of lockgate.yaml; see docs/retention.md.
    """
    from lockgate.retention import collect_garbage

    report = collect_garbage(dry_run=dry_run, settings=settings())
    if as_json:
        print_json(report.to_dict())
        return
    out = console if console.is_terminal else Console(width=200)
    shown = report.removed if quiet else report.decisions
    table = Table(title="gc --dry-run: what would happen" if dry_run else "gc")
    for column in ("what", "target", "action", "reason", "bytes"):
        table.add_column(column, overflow="fold")
    for d in shown:
        style = _ACTION_STYLE.get(d.action, "")
        action = f"would {d.action}" if dry_run and d.action != "keep" else d.action
        table.add_row(d.subject, escape(d.target), f"[{style}]{action}[/]", escape(d.reason),
                      _size(d.bytes) if d.bytes else "")
    out.print(table)
    verb = "would free" if dry_run else "freed"
    out.print(f"{len(report.kept)} kept, {len(report.removed)} "
              f"{'to remove' if dry_run else 'removed'}; {verb} {_size(report.freed_bytes)}.")
    if dry_run and report.removed:
        out.print("Run `lockgate gc` to apply.")


def du_command(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Space per experiment, table, model and log (and the store's total)."""
    from lockgate.retention import disk_usage
    from lockgate.retention.disk_usage import UsageKind

    usage = disk_usage(settings=settings())
    if as_json:
        print_json(usage.to_dict())
        return
    table = Table(title="Disk usage")
    for column in ("kind", "name", "size", "items"):
        table.add_column(column, justify="right" if column in ("size", "items") else "left")
    kinds: tuple[UsageKind, ...] = ("experiment", "model", "table", "log", "artifacts",
                                    "metadata")
    for kind in kinds:
        for line in usage.of(kind):
            table.add_row(kind, escape(line.name), _size(line.bytes),
                          f"{line.items} {line.detail}")
    (console if console.is_terminal else Console(width=160)).print(table)
    console.print(f"Total: {_size(usage.total_bytes)}.")


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"
