"""The monitoring stage's tables: per-bucket window profiles, window measurements over
time, and alert incidents (one open incident per model and rule, enforced by a unique key).
"""

from __future__ import annotations

import sqlalchemy as sa

from lockgate.store.schema import metadata

# One row per closed time bucket of a model's prediction log: profiled once, merged
# into any window that covers it, never re-read from the Delta table.
monitor_buckets = sa.Table(
    "monitor_buckets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model_name", sa.String(255), nullable=False),
    sa.Column("bucket_start", sa.Double, nullable=False),
    sa.Column("bucket_end", sa.Double, nullable=False),
    sa.Column("n_predictions", sa.BigInteger, nullable=False),
    sa.Column("log_version", sa.BigInteger, nullable=True),  # Delta version profiled
    sa.Column("profile", sa.Text, nullable=False),  # JSON: BucketProfile.to_dict()
    sa.Column("created_at", sa.Double, nullable=False),
    sa.UniqueConstraint("model_name", "bucket_start", "bucket_end",
                        name="uq_monitor_buckets_model_span"),
)

# One row per evaluated window: the measures the report charts over time.
monitor_windows = sa.Table(
    "monitor_windows",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model_name", sa.String(255), nullable=False),
    sa.Column("model_version", sa.Integer, nullable=True),
    sa.Column("window_start", sa.Double, nullable=False),
    sa.Column("window_end", sa.Double, nullable=False),
    sa.Column("n_predictions", sa.BigInteger, nullable=False),
    sa.Column("n_labeled", sa.BigInteger, nullable=False),
    sa.Column("measures", sa.Text, nullable=False),  # JSON {measure: value}
    sa.Column("details", sa.Text, nullable=False),  # JSON: drift per feature, checks, ...
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Index("ix_monitor_windows_model_end", "model_name", "window_end"),
)

# An incident: a rule firing, from its first alert until its resolve message.
monitor_incidents = sa.Table(
    "monitor_incidents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model_name", sa.String(255), nullable=False),
    sa.Column("rule", sa.String(255), nullable=False),
    sa.Column("measure", sa.String(64), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # open | resolved
    # "<model>\x1f<rule>" while open, NULL once resolved: the unique constraint makes a
    # second concurrent "open" fail instead of raising a duplicate alert.
    sa.Column("open_key", sa.String(520), nullable=True),
    sa.Column("opened_at", sa.Double, nullable=False),
    sa.Column("last_seen_at", sa.Double, nullable=False),
    sa.Column("resolved_at", sa.Double, nullable=True),
    sa.Column("value", sa.Double, nullable=True),
    sa.Column("threshold", sa.Double, nullable=False),
    sa.Column("window_start", sa.Double, nullable=False),
    sa.Column("window_end", sa.Double, nullable=False),
    sa.Column("root_cause", sa.Text, nullable=True),  # JSON
    sa.Column("deliveries", sa.Text, nullable=True),  # JSON list of {sink, kind, ok, error}
    sa.Column("retraining", sa.Text, nullable=True),  # JSON
    sa.UniqueConstraint("open_key", name="uq_monitor_incidents_open_key"),
    sa.Index("ix_monitor_incidents_model_rule", "model_name", "rule"),
)
