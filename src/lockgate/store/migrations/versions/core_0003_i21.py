"""Core: soft delete of runs. ``runs.deleted_at`` is set by ``lockgate runs delete``
(hidden from listings, search and the dashboard, restorable) and cleared by ``runs
restore``; ``lockgate gc`` purges runs deleted longer than the grace period.

Revision ID: core_0003_i21
Revises: core_0002_i18
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0003_i21"
down_revision = "core_0002_i18"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD COLUMN on both backends: a batch (copy-and-rename) of `runs` would trip
    # SQLite's foreign keys from every table that references it
    op.add_column("runs", sa.Column("deleted_at", sa.Double, nullable=True))
    # Purging finds runs deleted before a cutoff without reading the live ones.
    op.create_index("ix_runs_deleted_at", "runs", ["deleted_at"])


def downgrade() -> None:
    op.drop_index("ix_runs_deleted_at", table_name="runs")
    if op.get_bind().dialect.name == "sqlite":  # SQLite >= 3.35 drops a column in place
        op.execute("ALTER TABLE runs DROP COLUMN deleted_at")
    else:
        op.drop_column("runs", "deleted_at")
