"""Monitoring tables: per-bucket window profiles, window measurements, alert incidents.

Revision ID: monitoring_0001
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "monitoring_0001"
down_revision = "0001_core"
branch_labels = ("monitoring",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitor_buckets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_name", sa.String(255), nullable=False),
        sa.Column("bucket_start", sa.Double, nullable=False),
        sa.Column("bucket_end", sa.Double, nullable=False),
        sa.Column("n_predictions", sa.BigInteger, nullable=False),
        sa.Column("log_version", sa.BigInteger, nullable=True),
        sa.Column("profile", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.UniqueConstraint("model_name", "bucket_start", "bucket_end", name="uq_monitor_buckets_model_span"),
    )
    op.create_table(
        "monitor_windows",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_name", sa.String(255), nullable=False),
        sa.Column("model_version", sa.Integer, nullable=True),
        sa.Column("window_start", sa.Double, nullable=False),
        sa.Column("window_end", sa.Double, nullable=False),
        sa.Column("n_predictions", sa.BigInteger, nullable=False),
        sa.Column("n_labeled", sa.BigInteger, nullable=False),
        sa.Column("measures", sa.Text, nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Index("ix_monitor_windows_model_end", "model_name", "window_end"),
    )
    op.create_table(
        "monitor_incidents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_name", sa.String(255), nullable=False),
        sa.Column("rule", sa.String(255), nullable=False),
        sa.Column("measure", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("open_key", sa.String(520), nullable=True),
        sa.Column("opened_at", sa.Double, nullable=False),
        sa.Column("last_seen_at", sa.Double, nullable=False),
        sa.Column("resolved_at", sa.Double, nullable=True),
        sa.Column("value", sa.Double, nullable=True),
        sa.Column("threshold", sa.Double, nullable=False),
        sa.Column("window_start", sa.Double, nullable=False),
        sa.Column("window_end", sa.Double, nullable=False),
        sa.Column("root_cause", sa.Text, nullable=True),
        sa.Column("deliveries", sa.Text, nullable=True),
        sa.Column("retraining", sa.Text, nullable=True),
        sa.UniqueConstraint("open_key", name="uq_monitor_incidents_open_key"),
        sa.Index("ix_monitor_incidents_model_rule", "model_name", "rule"),
    )


def downgrade() -> None:
    op.drop_table("monitor_incidents")
    op.drop_table("monitor_windows")
    op.drop_table("monitor_buckets")
