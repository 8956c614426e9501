"""``lockgate db``: the metadata store's schema."""

from __future__ import annotations

import typer

from lockgate.cli.app import console, settings
from lockgate.store import Store

app = typer.Typer(help="Metadata store: migrations.", no_args_is_help=True)


@app.command("upgrade")
def upgrade() -> None:
    """Apply pending migrations to the metadata store."""
    store = Store.open(settings(), migrate=False)
    ran = store.upgrade()
    shown = store.writer.url.render_as_string(hide_password=True)
    console.print(f"{'Migrated' if ran else 'Already current'}: {shown}")
