"""Core: metric points keyed by a series number. ``metric_series`` numbers each (run,
metric key) once; a ``metrics`` row carries that number instead of the run id and key,
and no per-row foreign key (the run is checked once per batch, see
``Store.log_metric_tuples``). Existing points keep their ids, so their order (and which
one is the latest write) is unchanged.

Why: a point's insert was mostly the 16-character run id and the key, written into the
row and again into the ``(run_id, key, step)`` index, plus a foreign-key check per row
(on PostgreSQL a trigger per row: two thirds of a ``COPY``'s cost).

Revision ID: core_0005_i18t
Revises: core_0004_i18
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0005_i18t"
down_revision = "core_0004_i18"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "metric_series",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.UniqueConstraint("run_id", "key", name="uq_metric_series_run_key"),
    )
    op.execute("INSERT INTO metric_series (run_id, key) "
               "SELECT run_id, key FROM metrics GROUP BY run_id, key ORDER BY run_id, key")
    op.create_table(
        "metric_points",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("series_id", _ID, nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("timestamp", sa.Double, nullable=False),
        sa.Column("value", sa.Double, nullable=True),
        sa.Column("is_nan", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.execute(
        "INSERT INTO metric_points (id, series_id, step, timestamp, value, is_nan) "
        "SELECT m.id, s.id, m.step, m.timestamp, m.value, m.is_nan FROM metrics m "
        "JOIN metric_series s ON s.run_id = m.run_id AND s.key = m.key ORDER BY m.id")
    op.drop_table("metrics")
    op.rename_table("metric_points", "metrics")
    op.create_index("ix_metrics_series_step", "metrics", ["series_id", "step"])
    if op.get_bind().dialect.name == "postgresql":
        _continue_ids("metric_points")


def downgrade() -> None:
    op.create_table(
        "metrics_by_run",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("timestamp", sa.Double, nullable=False),
        sa.Column("value", sa.Double, nullable=True),
        sa.Column("is_nan", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.execute(
        "INSERT INTO metrics_by_run (id, run_id, key, step, timestamp, value, is_nan) "
        "SELECT m.id, s.run_id, s.key, m.step, m.timestamp, m.value, m.is_nan FROM metrics m "
        "JOIN metric_series s ON s.id = m.series_id ORDER BY m.id")
    op.drop_table("metrics")
    op.drop_table("metric_series")
    op.rename_table("metrics_by_run", "metrics")
    op.create_index("ix_metrics_run_key_step", "metrics", ["run_id", "key", "step"])
    if op.get_bind().dialect.name == "postgresql":
        _continue_ids("metrics_by_run")


def _continue_ids(made_as: str) -> None:
    """PostgreSQL: the copied ids came with the rows, so the renamed table's sequence
    continues after the highest of them; it and the primary key take the usual names."""
    op.execute(f"ALTER SEQUENCE {made_as}_id_seq RENAME TO metrics_id_seq")
    op.execute(f"ALTER INDEX {made_as}_pkey RENAME TO metrics_pkey")
    op.execute("SELECT setval('metrics_id_seq', coalesce(max(id), 0) + 1, false) FROM metrics")
