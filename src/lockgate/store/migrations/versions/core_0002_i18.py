"""Core: the ``latest_metrics`` table (each run's last point of each metric), kept at
write time, backfilled here from the metric rows already stored; an index for top-level
runs newest first.

Revision ID: core_0002_i18
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0002_i18"
down_revision = "0001_core"
branch_labels = None
depends_on = None

# "Last" is the latest write (highest id), as Store.last_metrics has always defined it.
_BACKFILL = """
INSERT INTO latest_metrics (run_id, key, step, timestamp, value, is_nan)
SELECT m.run_id, m.key, m.step, m.timestamp, m.value, m.is_nan
FROM metrics m
JOIN (SELECT max(id) AS id FROM metrics GROUP BY run_id, key) newest ON newest.id = m.id
"""


def upgrade() -> None:
    op.create_table(
        "latest_metrics",
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("timestamp", sa.Double, nullable=False),
        sa.Column("value", sa.Double, nullable=True),
        sa.Column("is_nan", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.execute(_BACKFILL)
    op.create_index("ix_latest_metrics_key_value", "latest_metrics", ["key", "value", "run_id"])
    # Top-level runs newest first (the runs page, `runs list`): an index walk, where
    # ix_runs_parent alone made the planner sort every top-level run.
    op.create_index("ix_runs_parent_start", "runs", ["parent_id", "start_time", "id"])
    if op.get_bind().dialect.name == "postgresql":
        # A btree walked backwards gives DESC NULLS FIRST; best-first sorts want NaN last.
        op.create_index(
            "ix_latest_metrics_key_value_desc", "latest_metrics",
            ["key", sa.text("value DESC NULLS LAST"), sa.text("run_id DESC")],
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_latest_metrics_key_value_desc", table_name="latest_metrics")
    op.drop_index("ix_runs_parent_start", table_name="runs")
    op.drop_index("ix_latest_metrics_key_value", table_name="latest_metrics")
    op.drop_table("latest_metrics")
