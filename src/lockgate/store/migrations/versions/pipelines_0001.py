"""Pipelines tables: step runs (cache index and resume), schedules, schedule claims.

Revision ID: pipelines_0001
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "pipelines_0001"
down_revision = "0001_core"
branch_labels = ("pipelines",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pipeline_steps",
        sa.Column("step_run_id", sa.String(32), sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("pipeline_run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("node", sa.String(255), nullable=False),
        sa.Column("item", sa.Integer, nullable=True),
        sa.Column("cache_key", sa.String(64), nullable=False),
        sa.Column("cacheable", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("outputs", sa.Text, nullable=True),
        sa.Column("reused_from", sa.String(32), nullable=True),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_index("ix_pipeline_steps_pipeline_run_id", "pipeline_steps", ["pipeline_run_id"])
    op.create_index("ix_pipeline_steps_cache_key", "pipeline_steps", ["cache_key"])
    op.create_table(
        "pipeline_schedules",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("pipeline_ref", sa.Text, nullable=False),
        sa.Column("cron", sa.String(255), nullable=False),
        sa.Column("params_file", sa.Text, nullable=True),
        sa.Column("overrides", sa.Text, nullable=False),
        sa.Column("executor", sa.String(32), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_table(
        "pipeline_schedule_claims",
        sa.Column("schedule", sa.String(255), primary_key=True),
        sa.Column("due_at", sa.Double, primary_key=True),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("claimed_at", sa.Double, nullable=False),
        sa.Column("pid", sa.Integer, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("pipeline_schedule_claims")
    op.drop_table("pipeline_schedules")
    op.drop_index("ix_pipeline_steps_cache_key", "pipeline_steps")
    op.drop_index("ix_pipeline_steps_pipeline_run_id", "pipeline_steps")
    op.drop_table("pipeline_steps")
