"""Opening stores: migrations, bad URLs, unreachable servers, read-only homes."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from lockgate.cli.main import main
from lockgate.config import Settings
from lockgate.errors import StoreError
from lockgate.store import Store, migration


def test_migrations_reach_every_head_and_are_idempotent(any_settings: Settings) -> None:
    store = Store.open(any_settings)
    assert migration.current_revisions(store.writer) == migration.head_revisions()
    assert store.upgrade() is False
    names = sa.inspect(store.reader).get_table_names()
    assert {"runs", "metrics", "lineage", "dataset_versions", "hardware_samples"} <= set(names)


def test_sqlite_uses_wal(settings: Settings) -> None:
    store = Store.open(settings)
    with store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_malformed_url_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is not a database URL"):
        Store.open(Settings(home=tmp_path, db_url="not a url"))


def test_unreachable_postgres_is_a_clear_error(tmp_path: Path) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:1/test?connect_timeout=2"
    with pytest.raises(StoreError, match="Is PostgreSQL running"):
        Store.open(Settings(home=tmp_path, db_url=url))


def test_read_only_home_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Root ignores permission bits, so as root the folder is made immutable instead."""
    home = tmp_path / "home"
    home.mkdir()
    locked = _make_read_only(home)
    monkeypatch.setenv("LOCKGATE_HOME", str(home))
    try:
        code = main(["runs", "list"])
    finally:
        _make_writable(home, locked)
    err = capsys.readouterr().err
    assert code == 1
    assert "Make the folder writable or set LOCKGATE_HOME" in " ".join(err.split())
    assert "Traceback" not in err


def _make_read_only(path: Path) -> bool:
    if os.geteuid() != 0:
        path.chmod(0o555)
        return False
    if shutil.which("chattr") is None:
        pytest.skip("running as root without chattr: cannot make a folder read-only")
    subprocess.run(["chattr", "+i", str(path)], check=True)
    return True


def _make_writable(path: Path, locked: bool) -> None:
    if locked:
        subprocess.run(["chattr", "-i", str(path)], check=True)
    path.chmod(0o755)


def test_database_path_that_is_a_folder_is_a_clear_error(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "lockgate.db").mkdir(parents=True)
    with pytest.raises(StoreError, match="is a folder"):
        Store.open(Settings(home=home))
