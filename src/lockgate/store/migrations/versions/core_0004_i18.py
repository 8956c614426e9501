"""Core: drop ``ix_latest_metrics_key_value_desc`` (PostgreSQL only), which no query reads.

``core_0002_i18`` made it for best-first sorts that put NaN last in one ``ORDER BY value
DESC NULLS LAST``. Metric sorts now read the runs with a value and those without in
separate walks (``store/run_page.py``, ``run_query.py``, ``run_search.py``), ordered by
``value`` without a ``NULLS`` clause, which ``ix_latest_metrics_key_value (key, value,
run_id)`` serves read forwards or backwards; the planner picked the copy only for
ranges either one serves. It cost a third index write on every metric batch's upsert
and as much disk as the other (15 MB at 100k runs).

Revision ID: core_0004_i18
Revises: core_0003_i21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0004_i18"
down_revision = "core_0003_i21"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_latest_metrics_key_value_desc", table_name="latest_metrics",
                      if_exists=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            "ix_latest_metrics_key_value_desc", "latest_metrics",
            ["key", sa.text("value DESC NULLS LAST"), sa.text("run_id DESC")],
        )
