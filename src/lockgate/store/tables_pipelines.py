"""Tables of the pipelines stage: one row per step run (cache key and outputs, which
serve both the step cache and resume), schedules, and the claims schedulers take on a
due run so that two schedulers never start it twice."""

from __future__ import annotations

import sqlalchemy as sa

from lockgate.store.schema import metadata

pipeline_steps = sa.Table(
    "pipeline_steps",
    metadata,
    sa.Column("step_run_id", sa.String(32), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("pipeline_run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=False,
              index=True),
    sa.Column("node", sa.String(255), nullable=False),
    sa.Column("item", sa.Integer, nullable=True),  # index in a fan-out, else NULL
    sa.Column("cache_key", sa.String(64), nullable=False, index=True),
    sa.Column("cacheable", sa.Boolean, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    # JSON {output name: artifact id}; NULL unless the step produced (or reused) outputs.
    sa.Column("outputs", sa.Text, nullable=True),
    sa.Column("reused_from", sa.String(32), nullable=True),  # step run whose outputs it reused
    sa.Column("created_at", sa.Double, nullable=False),
    # JSON of cache.key_parts: code hash, params, input hashes, tables, libraries.
    sa.Column("key_parts", sa.Text, nullable=True),
    # JSON list of {table, version, latest}: what lg.data.read returned inside the step.
    sa.Column("reads", sa.Text, nullable=True),
    sa.Column("cache_reason", sa.Text, nullable=True),  # why it hit, missed or was reused
)

pipeline_schedules = sa.Table(
    "pipeline_schedules",
    metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("pipeline_ref", sa.Text, nullable=False),
    sa.Column("cron", sa.String(255), nullable=False),
    sa.Column("params_file", sa.Text, nullable=True),
    sa.Column("overrides", sa.Text, nullable=False),  # JSON list of "a.b=1"
    sa.Column("executor", sa.String(32), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("catchup", sa.String(8), nullable=False, server_default="latest"),
)

pipeline_schedule_claims = sa.Table(
    "pipeline_schedule_claims",
    metadata,
    sa.Column("schedule", sa.String(255), primary_key=True),
    sa.Column("due_at", sa.Double, primary_key=True),
    sa.Column("owner", sa.String(255), nullable=False),
    sa.Column("claimed_at", sa.Double, nullable=False),
    sa.Column("pid", sa.Integer, nullable=True),
    # A claim not launched by expires_at is re-taken by another scheduler (at-least-once).
    sa.Column("expires_at", sa.Double, nullable=True),
    sa.Column("launched_at", sa.Double, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
    sa.Column("status", sa.String(16), nullable=False, server_default="launched"),
)
