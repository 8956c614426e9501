"""Registry tables: registered models, versions, aliases, transitions, notes.

Revision ID: registry_0001
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "registry_0001"
down_revision = "0001_core"
branch_labels = ("registry",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registered_models",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_name", sa.String(255), sa.ForeignKey("registered_models.name"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=True),
        sa.Column("artifact_id", sa.Integer, sa.ForeignKey("artifacts.id"), nullable=False),
        sa.Column("package_sha256", sa.String(64), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False, server_default="candidate"),
        sa.Column("details", sa.Text, nullable=True),
        sa.Column("created_by", sa.String(255), nullable=True),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.UniqueConstraint("model_name", "version", name="uq_model_versions_name_version"),
    )
    op.create_table(
        "model_aliases",
        sa.Column("model_name", sa.String(255), sa.ForeignKey("registered_models.name"), primary_key=True),
        sa.Column("alias", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    op.create_table(
        "model_transitions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_name", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_stage", sa.String(16), nullable=True),
        sa.Column("to_stage", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(255), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("gates", sa.Text, nullable=True),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_index("ix_model_transitions_model_name", "model_transitions", ["model_name"])
    op.create_table(
        "model_notes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_name", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer, nullable=True),
        sa.Column("author", sa.String(255), nullable=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_index("ix_model_notes_model_name", "model_notes", ["model_name"])


def downgrade() -> None:
    for index, table in (("ix_model_notes_model_name", "model_notes"),
                         ("ix_model_transitions_model_name", "model_transitions")):
        op.drop_index(index, table_name=table)
    for table in ("model_notes", "model_transitions", "model_aliases", "model_versions",
                  "registered_models"):
        op.drop_table(table)
