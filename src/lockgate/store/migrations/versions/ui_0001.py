"""Dashboard: indexes on runs and params, and the last-metric summary for the runs page.

Revision ID: ui_0001
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "ui_0001"
down_revision = "0001_core"
branch_labels = ("ui",)
depends_on = None


def upgrade() -> None:
    op.create_index("ix_ui_runs_start_id", "runs", ["start_time", "id"])
    op.create_index("ix_ui_runs_name", "runs", ["name"])
    # Covering on SQLite; PostgreSQL's btree row limit forbids indexing long JSON values.
    if op.get_bind().dialect.name == "sqlite":
        op.create_index("ix_ui_params_key", "params", ["key", "value", "run_id"])
    else:
        op.create_index("ix_ui_params_key", "params", ["key", "run_id"])
    op.create_table(
        "ui_last_metrics",
        sa.Column("run_id", sa.String(32), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("metric_id", sa.BigInteger, nullable=False),
        sa.Column("value", sa.Double, nullable=True),
    )
    op.create_index("ix_ui_last_metrics_key_value", "ui_last_metrics", ["key", "value", "run_id"])
    op.create_table(
        "ui_state",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ui_state")
    op.drop_index("ix_ui_last_metrics_key_value", table_name="ui_last_metrics")
    op.drop_table("ui_last_metrics")
    op.drop_index("ix_ui_params_key", table_name="params")
    op.drop_index("ix_ui_runs_name", table_name="runs")
    op.drop_index("ix_ui_runs_start_id", table_name="runs")
