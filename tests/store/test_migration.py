"""Migrations: the light "is this store current?" check agrees with Alembic."""

from __future__ import annotations

import subprocess
import sys

from alembic.script import ScriptDirectory

from lockgate.config import Settings
from lockgate.store import Store, migration


def test_heads_agree_with_alembic() -> None:
    script = ScriptDirectory.from_config(migration.alembic_config())
    assert migration.head_revisions() == set(script.get_heads())


def test_opening_a_current_store_does_not_import_alembic(settings: Settings) -> None:
    """Alembic (and its parse of every script) is paid only when a migration runs."""
    Store.open(settings)  # creates and migrates
    code = (
        "import sys; from lockgate.config import Settings; from lockgate.store import Store;"
        f"s = Store.open(Settings(home={str(settings.home)!r})); s.count_runs();"
        "print('alembic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
    assert migration.current_revisions(Store.open(settings).writer) == \
        migration.head_revisions()
