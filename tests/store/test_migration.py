"""Migrations: the light "is this store current?" check agrees with Alembic."""

from __future__ import annotations

import subprocess
import sys

import pytest
from alembic import command
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


@pytest.mark.postgres
def test_upgrade_analyses_the_tables_a_migration_changed(pg_url: str) -> None:
    """A column added to a full table gets planner statistics at once (core_0003_i21
    left ``runs.deleted_at`` without any, and PostgreSQL took ``deleted_at IS NULL`` as
    0.5% selective until autovacuum came by); tables no migration touched are left."""
    store = Store(pg_url)
    store.upgrade()
    for index in range(300):
        store.create_run(f"r{index}")
    config = migration.alembic_config()
    with store.writer.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "core_0003_i21-1")
    analysed_before = _last_analysed(store)
    assert store.upgrade() is True
    with store.read() as conn:
        stats = conn.exec_driver_sql(
            "SELECT null_frac FROM pg_stats WHERE schemaname = current_schema() "
            "AND tablename = 'runs' AND attname = 'deleted_at'").scalars().all()
    analysed = _last_analysed(store)
    assert stats == [1.0]  # every run is live, and the planner knows it
    assert analysed["runs"] is not None and analysed["runs"] != analysed_before["runs"]
    assert analysed["params"] == analysed_before["params"]  # untouched by core_0003_i21


def _last_analysed(store: Store) -> dict[str, object]:
    with store.read() as conn:
        return dict(conn.exec_driver_sql(
            "SELECT relname, last_analyze FROM pg_stat_user_tables "
            "WHERE schemaname = current_schema()").all())


def test_changed_tables_are_those_whose_columns_or_indexes_differ(settings: Settings) -> None:
    store = Store.open(settings)
    with store.writer.begin() as conn:
        before = migration.table_shapes(conn)
        conn.exec_driver_sql("ALTER TABLE tags ADD COLUMN extra TEXT")
        conn.exec_driver_sql("CREATE INDEX ix_notes_text ON notes (text)")
        conn.exec_driver_sql("CREATE TABLE fresh (id INTEGER)")
        after = migration.table_shapes(conn)
    assert migration.changed_tables(before, after) == ["fresh", "notes", "tags"]
    assert migration.changed_tables(after, after) == []


@pytest.mark.postgres
def test_latest_metrics_keeps_one_value_index(pg_url: str) -> None:
    """core_0004_i18 drops PostgreSQL's ``(key, value DESC NULLS LAST, run_id)`` copy of
    the value index (no query needs it: see the test below); a downgrade brings it back."""
    store = Store(pg_url)
    store.upgrade()

    def indexes() -> set[str]:
        with store.read() as conn:
            return set(conn.exec_driver_sql(
                "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
                "AND tablename = 'latest_metrics'").scalars())

    assert indexes() == {"latest_metrics_pkey", "ix_latest_metrics_key_value"}
    config = migration.alembic_config()
    with store.writer.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "core_0004_i18-1")
    assert "ix_latest_metrics_key_value_desc" in indexes()
    assert store.upgrade() is True
    assert indexes() == {"latest_metrics_pkey", "ix_latest_metrics_key_value"}


def test_metric_orders_need_no_descending_index(any_settings: Settings) -> None:
    """Every order on a metric's value that the listings issue (the dashboard, its pager,
    ``page_runs``, ``search_runs``) has no NULLS clause on the value, so the one
    ``(key, value, run_id)`` index serves it read forwards or backwards: ``DESC NULLS
    LAST`` (or ``ASC NULLS FIRST``) would need an index of its own."""
    import re

    from lockgate.store.run_search import find_runs
    from lockgate.ui import RunQuery, query_runs
    from tests.store.sql_plans import statements

    store = Store.open(any_settings)
    for index in range(6):
        run_id = store.create_run(f"r{index}")
        store.log_metric_tuples([(run_id, "auc", 0, 0.0, index / 10)])
    store.create_run("bare")
    with statements(store) as seen:
        for descending in (True, False):
            for q in ("", "metrics.auc >= 0.2"):
                first = query_runs(store, RunQuery(sort="metrics.auc", q=q, per_page=2,
                                                   descending=descending))
                query_runs(store, RunQuery(sort="metrics.auc", q=q, per_page=2, page=2,
                                           descending=descending, after=first.next_page or ""))
                find_runs(store, q, f"metrics.auc {'DESC' if descending else 'ASC'}")
            page = store.page_runs(sort_metric="auc", ascending=not descending, limit=2)
            store.page_runs(sort_metric="auc", ascending=not descending, limit=2,
                            after=page.next_page)
    orders = [re.search(r"ORDER BY (.*?)(?:LIMIT|$)", s.sql, re.S) for s in seen]
    on_values = [m[1] for m in orders if m and re.search(r"\w+\.value", m[1])]
    assert on_values, "no metric order seen"
    assert not [o for o in on_values if "NULLS" in o.upper()], on_values
