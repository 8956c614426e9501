"""``lockgate server``: run the team server and manage its users, tokens and grants.

These commands work on the server's own store (run them where the server runs, with the
same ``LOCKGATE_DB_URL``); the API offers the same to admins over HTTP.
"""

from __future__ import annotations

import dataclasses
import os

import typer

from lockgate.cli.app import console, print_json, settings
from lockgate.config import Settings, ensure_port_free
from lockgate.store import Store

app = typer.Typer(help="The team server: users, roles, tokens, the audit trail.",
                  no_args_is_help=True)
user_app = typer.Typer(help="Users.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens: create, list, revoke.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")

ADMIN_TOKEN_ENV = "LOCKGATE_SERVER_ADMIN_TOKEN"  # noqa: S105 (a variable name)


def _settings() -> Settings:
    return dataclasses.replace(settings(), tracking_uri=None)


def _store() -> Store:
    return Store.open(_settings())


@app.command("init")
def init(name: str = typer.Option("admin", "--name", help="The first admin's user name.")
         ) -> None:
    """Create the first admin and print its token once (or use $LOCKGATE_SERVER_ADMIN_TOKEN)."""
    from lockgate.security import accounts

    chosen = os.environ.get(ADMIN_TOKEN_ENV) or None
    token = accounts.init_admin(_store(), name, token=chosen)
    if chosen:
        console.print(f"Admin `{name}` created with the token from {ADMIN_TOKEN_ENV}.")
        return
    console.print(f"Admin `{name}` created. Its token, shown this once (only its hash is "
                  "kept):")
    print(token)


@app.command("start")
def start(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by "
                             "default; put a TLS proxy in front beyond one machine)."),
    port: int = typer.Option(8700, "--port", min=0, max=65535, help="Port to listen on."),
) -> None:
    """Serve the REST API and the dashboard to the users of this store."""
    from lockgate.server.app import serve

    ensure_port_free(host, port)
    shown = f"[{host}]" if ":" in host else host
    console.print(f"lockgate server on [bold cyan]http://{shown}:{port}/[/] (API: /api/v1, "
                  "Ctrl+C stops)")
    serve(_settings(), host=host, port=port)


@user_app.command("add")
def user_add(name: str, role: str = typer.Option(
        "reader", "--role", help="none (sees only its grants), reader, writer or admin.")
        ) -> None:
    """Add a user (then give it a token with `lockgate server token create NAME`)."""
    from lockgate.security import accounts

    accounts.create_user(_store(), name, role)
    console.print(f"User `{name}` ({role}) added.")


@user_app.command("list")
def user_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every user and its global role."""
    from lockgate.security import accounts

    found = accounts.users(_store())
    if as_json:
        print_json([{"name": n, "role": r} for n, r in found])
        return
    for name, role in found:
        console.print(f"{name}\t{role}")


@token_app.command("create")
def token_create(name: str, label: str = typer.Option(None, "--label"),
                 expires_days: float = typer.Option(None, "--expires-days", min=0.0)) -> None:
    """Issue a token for a user; printed once."""
    from lockgate.security import accounts

    expires = None if expires_days is None else expires_days * 86400
    print(accounts.issue_token(_store(), name, label=label, expires_in_s=expires))


@token_app.command("list")
def token_list(user: str = typer.Option(None, "--user"),
               as_json: bool = typer.Option(False, "--json")) -> None:
    """Tokens (ids, never secrets) with their state."""
    from lockgate.security import accounts

    found = accounts.list_tokens(_store(), user)
    if as_json:
        print_json([{**dataclasses.asdict(t), "active": t.active} for t in found])
        return
    for info in found:
        state = "active" if info.active else "revoked" if info.revoked_at else "expired"
        console.print(f"{info.id}\t{info.user}\t{state}\t{info.label or ''}")


@token_app.command("revoke")
def token_revoke(token_id: str) -> None:
    """Revoke a token (by id); refused from the next request on."""
    from lockgate.security import accounts

    accounts.revoke_token(_store(), token_id)
    console.print(f"Token {token_id} revoked.")


@app.command("grant")
def grant(user: str, kind: str = typer.Argument(..., help="experiment or model"),
          name: str = typer.Argument(..., help="its name, or * for all"),
          role: str = typer.Argument(..., help="reader, writer or admin"),
          promote: bool = typer.Option(False, "--promote",
                                       help="May move the model's production alias.")) -> None:
    """Give a user a role on one experiment or model (and the right to promote)."""
    from lockgate.security import accounts

    accounts.set_grant(_store(), user, kind, name, role, promote=promote)
    console.print(f"{user}: {role} on {kind} `{name}`{' (may promote)' if promote else ''}.")
