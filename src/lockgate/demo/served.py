"""The whole quickstart through ``lockgate server``: a team server on 127.0.0.1 over the
quickstart's store, a fresh admin token, and every section run by a client pointed at it
(``LOCKGATE_TRACKING_URI`` and ``LOCKGATE_TOKEN``), unchanged.

Where the bytes go: artifacts and packages are uploaded through the server's blob and
chunked-upload API; Delta tables (ingested data, quarantine, prediction logs) are
written by the client to the data root it shares with the server (here the same
folder; for a team, the same ``s3://`` prefix) and each version is registered through
the API. Every record (runs, metrics, dataset versions, lineage, the step ledger,
profiles, the registry, monitoring) is written by the server, audited under the
token's user.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import uuid
from collections.abc import Iterator

from rich.console import Console

from lockgate.config import Settings
from lockgate.demo.context import DemoContext
from lockgate.security import accounts
from lockgate.store import Store
from lockgate.store.remote import TOKEN_ENV


def run_served_quickstart(settings: Settings, console: Console, *,
                          only: list[str] | None = None, quiet: bool = False) -> DemoContext:
    """Start ``lockgate server`` over ``settings``' store on 127.0.0.1, issue a fresh admin
    token, and run the quickstart (every section, or ``only`` these) through it.

    ``ctx.results["served_by"]`` names the server's URL and the quickstart's user, whose
    name the server's audit log gives every write.
    """
    from lockgate.demo.quickstart import run_quickstart
    from lockgate.server import TeamServer

    settings = dataclasses.replace(settings, tracking_uri=None)  # the server's own store
    store = Store.open(settings)
    user = f"quickstart-{uuid.uuid4().hex[:6]}"
    accounts.create_user(store, user, "admin")  # what `lockgate server user add` does
    token = accounts.issue_token(store, user, label="quickstart --server")
    with TeamServer(settings) as server, _token(token):
        console.print(f"lockgate server on {server.url}; the quickstart runs through it as "
                      f"`{user}` (admin)")
        client = dataclasses.replace(settings, tracking_uri=server.url)
        try:
            ctx = run_quickstart(client, console, only=only, quiet=quiet)
        finally:
            Store.close_all(server.url)
    ctx.results["served_by"] = {"url": server.url, "user": user}
    return ctx


@contextlib.contextmanager
def _token(token: str) -> Iterator[None]:
    """``LOCKGATE_TOKEN`` set for the block (and child processes), restored after."""
    previous = os.environ.get(TOKEN_ENV)
    os.environ[TOKEN_ENV] = token
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(TOKEN_ENV, None)
        else:
            os.environ[TOKEN_ENV] = previous
