"""The dashboard's additions to the store: indexes and a summary of last metric values
that keep the runs page fast at 100,000 runs.

- ``ix_ui_runs_start_id``: the default order (newest first, ties by id) walks an index
  at any page instead of sorting ``runs``.
- ``ui_last_metrics`` / ``ui_state``: no longer used. They held a summary of last metric
  values folded in by the dashboard on GET; the core ``latest_metrics`` table (kept at
  write time, migration ``core_0002_i18``) replaced them. The tables stay because
  released migrations are never edited.
"""

from __future__ import annotations

import sqlalchemy as sa

from lockgate.store.schema import metadata, runs

ix_ui_runs_start_id = sa.Index("ix_ui_runs_start_id", runs.c.start_time, runs.c.id)
ix_ui_runs_name = sa.Index("ix_ui_runs_name", runs.c.name)
# ``params (key, value, run_id)`` on SQLite (a covering index for param filters) and
# ``params (key, run_id)`` on PostgreSQL, where a long JSON value would exceed the btree
# row limit and make logging that param fail: created per dialect in ui_0001.

ui_last_metrics = sa.Table(
    "ui_last_metrics",
    metadata,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("metric_id", sa.BigInteger, nullable=False),
    sa.Column("value", sa.Double, nullable=True),  # NULL for NaN, as in ``metrics``
    sa.Index("ix_ui_last_metrics_key_value", "key", "value", "run_id"),
)

ui_state = sa.Table(
    "ui_state",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

#: Saved views of the runs table (#19): a named choice of columns, sort and filter, shared
#: by everyone using this store (the dashboard's "views" menu, ``lockgate runs list
#: --view NAME``). ``owner`` is part of the key: "" is the shared view; a per-user view
#: (the team server's users) is the same name under a user's id, without a migration.
runs_views = sa.Table(
    "runs_views",
    metadata,
    sa.Column("owner", sa.String(255), primary_key=True, server_default=""),
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("experiment", sa.String(255), nullable=True),
    sa.Column("columns", sa.Text, nullable=False),  # JSON list; [] = the default columns
    sa.Column("sort", sa.String(300), nullable=False),
    sa.Column("descending", sa.Boolean, nullable=False),
    sa.Column("filter", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
)
