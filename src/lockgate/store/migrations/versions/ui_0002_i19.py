"""Dashboard: saved views of the runs table (columns, sort, filter), shared per store.

Revision ID: ui_0002_i19
Revises: ui_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "ui_0002_i19"
down_revision = "ui_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs_views",
        sa.Column("owner", sa.String(255), primary_key=True, server_default=""),
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("experiment", sa.String(255), nullable=True),
        sa.Column("columns", sa.Text, nullable=False),
        sa.Column("sort", sa.String(300), nullable=False),
        sa.Column("descending", sa.Boolean, nullable=False),
        sa.Column("filter", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("runs_views")
