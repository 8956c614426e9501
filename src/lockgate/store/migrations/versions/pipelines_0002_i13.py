"""Pipelines: what a step's cache key is made of, the tables it read and why it hit or
missed; schedules' catch-up policy; claims that expire and record their launch.

Revision ID: pipelines_0002_i13
Revises: pipelines_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "pipelines_0002_i13"
down_revision = "pipelines_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pipeline_steps") as batch:
        batch.add_column(sa.Column("key_parts", sa.Text, nullable=True))
        batch.add_column(sa.Column("reads", sa.Text, nullable=True))
        batch.add_column(sa.Column("cache_reason", sa.Text, nullable=True))
    with op.batch_alter_table("pipeline_schedules") as batch:
        batch.add_column(sa.Column("catchup", sa.String(8), nullable=False,
                                   server_default="latest"))
    with op.batch_alter_table("pipeline_schedule_claims") as batch:
        batch.add_column(sa.Column("expires_at", sa.Double, nullable=True))
        batch.add_column(sa.Column("launched_at", sa.Double, nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer, nullable=False,
                                   server_default="1"))
        batch.add_column(sa.Column("status", sa.String(16), nullable=False,
                                   server_default="launched"))


def downgrade() -> None:
    with op.batch_alter_table("pipeline_schedule_claims") as batch:
        for name in ("status", "attempts", "launched_at", "expires_at"):
            batch.drop_column(name)
    with op.batch_alter_table("pipeline_schedules") as batch:
        batch.drop_column("catchup")
    with op.batch_alter_table("pipeline_steps") as batch:
        for name in ("cache_reason", "reads", "key_parts"):
            batch.drop_column(name)
