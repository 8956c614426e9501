"""The metadata store's tables (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Times are UTC epoch seconds (double precision): cheap to write in bulk, identical on
both backends, and trivially sortable. JSON payloads are stored as text so that the
same schema works on every backend. Later stages add their tables in their own
migration branches (see ``migrations/versions``).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

#: KILLED: stopped by a signal (SIGTERM, Ctrl-C); TIMED_OUT: a step killed at its timeout;
#: CRASHED is written by nobody alive: readers decide it from a stale heartbeat.
RUN_STATUSES = ("RUNNING", "FINISHED", "FAILED", "CRASHED", "SKIPPED", "CACHED", "KILLED",
                "TIMED_OUT")

experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("created_at", sa.Double, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("experiment_id", sa.Integer, sa.ForeignKey("experiments.id"), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False, server_default="run"),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("parent_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=True),
    sa.Column("start_time", sa.Double, nullable=False),
    sa.Column("end_time", sa.Double, nullable=True),
    sa.Column("heartbeat_at", sa.Double, nullable=False),
    sa.Column("heartbeat_seconds", sa.Double, nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("host", sa.String(255), nullable=True),
    sa.Column("pid", sa.Integer, nullable=True),
    # Soft delete (core_0003_i21): set by `runs delete`, hidden from every listing.
    sa.Column("deleted_at", sa.Double, nullable=True),
    sa.Index("ix_runs_experiment_start", "experiment_id", "start_time"),
    sa.Index("ix_runs_parent", "parent_id"),
    sa.Index("ix_runs_status", "status"),
    sa.Index("ix_runs_parent_start", "parent_id", "start_time", "id"),  # core_0002_i18
    sa.Index("ix_runs_deleted_at", "deleted_at"),  # core_0003_i21
)

params = sa.Table(
    "params",
    metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),  # JSON
)

# Each (run, metric key) ever logged, numbered once (core_0005_i18t): a point carries
# the number, not the run id and key, which made most of its row and its index entry.
metric_series = sa.Table(
    "metric_series",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("key", sa.String(255), nullable=False),
    sa.UniqueConstraint("run_id", "key", name="uq_metric_series_run_key"),
)

metrics = sa.Table(
    "metrics",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    # No foreign key: a check per point was two thirds of a COPY's cost on PostgreSQL.
    # ``Store.log_metric_tuples`` resolves (on PostgreSQL: locks) a batch's series in its
    # transaction, and a purge deletes a run's points with its series.
    sa.Column("series_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"),
              nullable=False),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("timestamp", sa.Double, nullable=False),
    # SQLite turns NaN into NULL, so NaN is stored as NULL + is_nan, on both backends.
    sa.Column("value", sa.Double, nullable=True),
    sa.Column("is_nan", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_metrics_series_step", "series_id", "step"),
)

# Each run's last logged point of each metric ("last" = the latest write, as
# ``Store.last_metrics`` defines it), upserted in the same transaction as the metric
# batch so sorting and filtering by a metric read one row per run, never the history.
latest_metrics = sa.Table(
    "latest_metrics",
    metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("timestamp", sa.Double, nullable=False),
    sa.Column("value", sa.Double, nullable=True),  # NULL for NaN, as in ``metrics``
    sa.Column("is_nan", sa.Boolean, nullable=False, server_default=sa.false()),
    # Serves ``metrics.k <op> v`` (an index range) and sorts by a metric (an index walk,
    # either way: sorts order ``value`` without a NULLS clause). PostgreSQL's copy
    # ``(key, value DESC NULLS LAST, run_id)`` from core_0002_i18 is dropped in core_0004_i18.
    sa.Index("ix_latest_metrics_key_value", "key", "value", "run_id"),
)

tags = sa.Table(
    "tags",
    metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Index("ix_tags_key_value", "key", "value"),
)

notes = sa.Table(
    "notes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=False, index=True),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("author", sa.String(255), nullable=True),
    sa.Column("text", sa.Text, nullable=False),
)

artifacts = sa.Table(
    "artifacts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=True, index=True),
    sa.Column("name", sa.String(512), nullable=False),
    sa.Column("uri", sa.Text, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False, index=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("media_type", sa.String(128), nullable=False),
    sa.Column("materializer", sa.String(64), nullable=True),
    sa.Column("created_at", sa.Double, nullable=False),
)

dataset_versions = sa.Table(
    "dataset_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("table_name", sa.String(255), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("source", sa.Text, nullable=True),
    sa.Column("batch_id", sa.String(128), nullable=True),
    sa.Column("rows_ingested", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("rows_accepted", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("rows_quarantined", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("content_hash", sa.String(64), nullable=True),
    sa.Column("contract_version", sa.String(64), nullable=True),
    # passed | failed | not_run: the training gate reads this.
    sa.Column("validation_status", sa.String(16), nullable=False, server_default="not_run"),
    sa.Column("checks", sa.Text, nullable=True),  # JSON: per-check pass / fail counts
    sa.Column("details", sa.Text, nullable=True),  # JSON: anything else the data stage keeps
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=True),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.UniqueConstraint("table_name", "version", name="uq_dataset_versions_table_version"),
)

lineage = sa.Table(
    "lineage",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=False, index=True),
    sa.Column("direction", sa.String(16), nullable=False),  # consumed | produced
    sa.Column("artifact_id", sa.Integer, sa.ForeignKey("artifacts.id"), nullable=True, index=True),
    sa.Column(
        "dataset_version_id",
        sa.Integer,
        sa.ForeignKey("dataset_versions.id"),
        nullable=True,
        index=True,
    ),
    sa.Column("role", sa.String(255), nullable=True),  # input / output name
    sa.Column("note", sa.Text, nullable=True),  # e.g. an allow_unvalidated reason
    sa.Column("created_at", sa.Double, nullable=False),
)

code_versions = sa.Table(
    "code_versions",
    metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("commit", sa.String(64), nullable=True),
    sa.Column("branch", sa.String(255), nullable=True),
    sa.Column("dirty", sa.Boolean, nullable=True),
    sa.Column("repo_root", sa.Text, nullable=True),
    sa.Column("diff_artifact_id", sa.Integer, sa.ForeignKey("artifacts.id"), nullable=True),
)

environments = sa.Table(
    "environments",
    metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("python", sa.String(64), nullable=False),
    sa.Column("platform", sa.String(255), nullable=False),
    sa.Column("packages", sa.Text, nullable=False),  # JSON {name: version}
    sa.Column("settings", sa.Text, nullable=True),  # JSON resolved lockgate settings
)

console_logs = sa.Table(
    "console_logs",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=False, index=True),
    sa.Column("stream", sa.String(8), nullable=False),
    sa.Column("timestamp", sa.Double, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
)

hardware_samples = sa.Table(
    "hardware_samples",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=False, index=True),
    sa.Column("timestamp", sa.Double, nullable=False),
    sa.Column("cpu_percent", sa.Double, nullable=True),
    sa.Column("rss_bytes", sa.BigInteger, nullable=True),
    sa.Column("system_memory_percent", sa.Double, nullable=True),
    sa.Column("gpu_utilization", sa.Double, nullable=True),
    sa.Column("gpu_memory_bytes", sa.BigInteger, nullable=True),
)
