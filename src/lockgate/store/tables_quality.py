"""The quality stage's table: the profile stored for each dataset version.

A profile is computed once per dataset version and scope, saved as a JSON artifact, and
linked here, so reports, drift checks and model packages reuse it without re-reading the
table.
"""

from __future__ import annotations

import sqlalchemy as sa

from lockgate.store.schema import metadata

#: "snapshot": the table as of the version (what training reads);
#: "batch": only the rows that version added.
PROFILE_SCOPES = ("snapshot", "batch")

quality_profiles = sa.Table(
    "quality_profiles",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dataset_version_id", sa.Integer, sa.ForeignKey("dataset_versions.id"),
              nullable=False),
    sa.Column("scope", sa.String(16), nullable=False),
    sa.Column("artifact_id", sa.Integer, sa.ForeignKey("artifacts.id"), nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("format", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.UniqueConstraint("dataset_version_id", "scope", name="uq_quality_profiles_version_scope"),
)
