"""The registry's tables: model names, versions, aliases, transitions and notes.

A version points at a model package stored as a content-addressed artifact; aliases
(``production``, ``staging``) point at versions; every change of stage is one row of
``model_transitions`` with who, when, why and the gate results that allowed it.
"""

from __future__ import annotations

import sqlalchemy as sa

from lockgate.store.schema import metadata

registered_models = sa.Table(
    "registered_models",
    metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("created_at", sa.Double, nullable=False),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model_name", sa.String(255), sa.ForeignKey("registered_models.name"),
              nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=True),
    sa.Column("artifact_id", sa.Integer, sa.ForeignKey("artifacts.id"), nullable=False),
    sa.Column("package_sha256", sa.String(64), nullable=False),
    # candidate | staging | production | archived
    sa.Column("stage", sa.String(16), nullable=False, server_default="candidate"),
    sa.Column("details", sa.Text, nullable=True),  # JSON: metrics, lineage, problem type
    sa.Column("created_by", sa.String(255), nullable=True),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.UniqueConstraint("model_name", "version", name="uq_model_versions_name_version"),
)

model_aliases = sa.Table(
    "model_aliases",
    metadata,
    sa.Column("model_name", sa.String(255), sa.ForeignKey("registered_models.name"),
              primary_key=True),
    sa.Column("alias", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
)

model_transitions = sa.Table(
    "model_transitions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model_name", sa.String(255), nullable=False, index=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("action", sa.String(32), nullable=False),  # register | promote | rollback | ...
    sa.Column("from_stage", sa.String(16), nullable=True),
    sa.Column("to_stage", sa.String(16), nullable=False),
    sa.Column("actor", sa.String(255), nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("gates", sa.Text, nullable=True),  # JSON list of gate results
    sa.Column("created_at", sa.Double, nullable=False),
)

model_notes = sa.Table(
    "model_notes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model_name", sa.String(255), nullable=False, index=True),
    sa.Column("version", sa.Integer, nullable=True),
    sa.Column("author", sa.String(255), nullable=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
)
