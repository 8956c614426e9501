"""The team server's tables: users, their API tokens and grants, the audit trail, and
the request ids that make retried writes idempotent.

- ``auth_users``: a person or a job; ``role`` is the global role (reader, writer, admin).
  No passwords: a user authenticates with an API token only.
- ``auth_tokens``: a token is ``lg_<id>_<secret>``; only ``sha256(secret)`` is stored, so
  a leaked database holds no usable token. ``revoked_at`` / ``expires_at`` are read on
  every request (nothing is cached): revocation takes effect at once.
- ``auth_grants``: a role on one experiment or one model (``name`` may be ``*``), and the
  separate right to promote to production (``promote``).
- ``audit_log``: every state change, with who, when, and before/after as JSON.
- ``request_ids``: the id of every state-changing API request already applied, with
  its answer, so a client retrying after a lost response is answered, not applied twice.
"""

from __future__ import annotations

import sqlalchemy as sa

from lockgate.store.schema import metadata

ROLES = ("reader", "writer", "admin")
GRANT_KINDS = ("experiment", "model")

auth_users = sa.Table(
    "auth_users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("created_by", sa.String(255), nullable=True),
    sa.Column("disabled_at", sa.Double, nullable=True),
)

auth_tokens = sa.Table(
    "auth_tokens",
    metadata,
    sa.Column("id", sa.String(16), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("auth_users.id"), nullable=False,
              index=True),
    sa.Column("secret_sha256", sa.String(64), nullable=False),
    sa.Column("label", sa.String(255), nullable=True),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("expires_at", sa.Double, nullable=True),
    sa.Column("revoked_at", sa.Double, nullable=True),
    sa.Column("last_used_at", sa.Double, nullable=True),
)

auth_grants = sa.Table(
    "auth_grants",
    metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("auth_users.id"), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("promote", sa.Boolean, nullable=False, default=False),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("at", sa.Double, nullable=False, index=True),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("action", sa.String(64), nullable=False, index=True),
    sa.Column("target", sa.String(512), nullable=False),
    sa.Column("before_json", sa.Text, nullable=True),
    sa.Column("after_json", sa.Text, nullable=True),
    sa.Column("request_id", sa.String(64), nullable=True),
)

request_ids = sa.Table(
    "request_ids",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("at", sa.Double, nullable=False),
    sa.Column("answer_json", sa.Text, nullable=False),
)
