"""Quality tables: the stored profile of each dataset version.

Revision ID: quality_0001
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "quality_0001"
down_revision = "0001_core"
branch_labels = ("quality",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quality_profiles",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dataset_version_id", sa.Integer, sa.ForeignKey("dataset_versions.id"), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("artifact_id", sa.Integer, sa.ForeignKey("artifacts.id"), nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("format", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.UniqueConstraint("dataset_version_id", "scope", name="uq_quality_profiles_version_scope"),
    )


def downgrade() -> None:
    op.drop_table("quality_profiles")
