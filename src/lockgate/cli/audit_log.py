"""``lockgate audit-log``: who changed what, when, from what to what."""

from __future__ import annotations

import time

import typer

from lockgate.cli.app import console, print_json, settings


def audit_log_command(
    action: str = typer.Option(None, "--action", help="e.g. run.created, alias.moved."),
    actor: str = typer.Option(None, "--actor", help="a user, or os:<login> for embedded use."),
    target: str = typer.Option(None, "--target", help="a prefix: model:churn, run:ab12."),
    limit: int = typer.Option(50, "--limit", min=1),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The audit trail of this store, newest first."""
    import dataclasses

    from lockgate.store import Store, audit

    store = Store.open(dataclasses.replace(settings(), tracking_uri=None))
    found = audit.entries(store, action=action, actor=actor, target=target, limit=limit)
    if as_json:
        print_json([audit.entry_dict(e) for e in found])
        return
    for e in found:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(e.at))
        change = f"{e.before} -> {e.after}" if e.before is not None else f"{e.after}"
        console.print(f"{when}  {e.actor:<16} {e.action:<20} {e.target}  {change}",
                      markup=False, highlight=False)
