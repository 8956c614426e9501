"""Labels become data: predictions joined with the ground truth that came back, landed
as a versioned, validated lockgate table (``_labeled_NAME``) that training can read.

Each row is one labeled prediction: the model's input features, the contract's key,
entity and event-time columns as the request sent them (what a training row needs to be
split like the training data), the label as the target column, and its lineage
(``request_id``, ``model_version``, ``batch_id``, when it was predicted and labeled,
what was predicted). The table goes through ingestion, so
labels are validated against the model's contract like any data (a label outside the
target's allowed values is quarantined with its reason) and every update is a new
version. An update lands only labels not landed before (by ``request_id``, the primary
key); a later correction of a landed label is quarantined as ``duplicate:request_id``,
visibly, rather than silently rewriting history. A label the door refused is not
offered again, but a corrected label for the same prediction is.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import polars as pl

from lockgate.config import Settings
from lockgate.data import ColumnSpec, Contract, FrameSource, ingest
from lockgate.data.table import scan as scan_table
from lockgate.data.table import table_path
from lockgate.monitoring.watched_model import WatchedModel
from lockgate.monitoring.window import scan_log
from lockgate.serving.prediction_log import context_columns, feedback_path, predictions_path

LINEAGE_COLUMNS = ("request_id", "model_version", "batch_id", "prediction", "predicted_at",
                   "labeled_at")


def labeled_table_name(model_name: str) -> str:
    """The labeled table of a model: ``_labeled_<name>``."""
    return f"_labeled_{model_name}"


@dataclass(frozen=True, slots=True)
class LabeledUpdate:
    """What one update of the labeled table did."""

    table: str
    version: int | None
    rows_landed: int
    rows_quarantined: int
    reasons: dict[str, int]
    already_landed: int

    @property
    def ref(self) -> str | None:
        """``_labeled_churn@v2``, or None when nothing new was landed."""
        return None if self.version is None else f"{self.table}@v{self.version}"


def labeled_contract(model: WatchedModel) -> Contract:
    """The labeled table's contract: the model's features and target, plus lineage."""
    target = str(model.contract.target)
    # a label repeats across requests, so no model column stays unique here; the
    # context columns (key, entity, event time) may be missing from an older log
    context = [dataclasses.replace(model.contract.column(c), unique=False, nullable=True)
               for c in context_columns(model.contract, model.features)]
    specs = [dataclasses.replace(model.contract.column(c), unique=False)
             for c in (*model.features, target)]
    specs[len(model.features):len(model.features)] = context
    specs += [ColumnSpec("request_id", "string", nullable=False),
              ColumnSpec("model_version", "int", nullable=False),
              ColumnSpec("batch_id", "string"),
              ColumnSpec("prediction", "string"),
              ColumnSpec("predicted_at", "datetime", nullable=False),
              ColumnSpec("labeled_at", "datetime", nullable=False)]
    return Contract(
        table=labeled_table_name(model.name), version="1", columns=tuple(specs),
        primary_key=("request_id",), target=target, event_time="predicted_at",
        on_schema_change="fail", on_duplicate="quarantine")


def update_labeled(model: WatchedModel, *, settings: Settings) -> LabeledUpdate:
    """Land every label that arrived since the last update as a new table version.

    Raises:
        PredictionLogError: the model has no prediction log yet.
    """
    table = labeled_table_name(model.name)
    target = str(model.contract.target)
    joined = _joined(model, settings)
    if joined.height == 0:
        return LabeledUpdate(table, None, 0, 0, {}, 0)
    landed = _landed_ids(settings, table)
    refused = _quarantined_labels(settings, table, target)
    fresh = joined.filter(~pl.col("request_id").is_in(landed.implode())).join(
        refused, on=["request_id", target], how="anti")
    if fresh.height == 0:
        return LabeledUpdate(table, None, 0, 0, {}, joined.height)
    result = ingest(FrameSource(fresh), table, labeled_contract(model), settings=settings)
    return LabeledUpdate(table, result.version, result.accepted,
                         result.quarantined, dict(result.reasons),
                         joined.height - fresh.height)


def _joined(model: WatchedModel, settings: Settings) -> pl.DataFrame:
    """Predictions with their latest label, in the labeled table's column names."""
    target = str(model.contract.target)
    feedback = feedback_path(settings, model.name)
    if not (feedback / "_delta_log").is_dir():
        return pl.DataFrame()
    labels = (scan_log(feedback).select("request_id", "label", "timestamp")
              .sort("timestamp", maintain_order=True).unique("request_id", keep="last")
              .rename({"timestamp": "labeled_at"}).collect())
    log = scan_log(predictions_path(settings, model.name), model.name)
    names = log.collect_schema().names()
    context = context_columns(model.contract, model.features)
    wanted = [*model.features, *(c for c in context if c in names), "request_id",
              "model_version", "prediction", "timestamp",
              *(["batch_id"] if "batch_id" in names else [])]
    predictions = (log.filter(pl.col("request_id").is_in(labels["request_id"].implode()))
                   .select(wanted).collect())
    joined = predictions.join(labels, on="request_id", how="inner").rename(
        {"timestamp": "predicted_at", "label": target})
    # a log written before it carried them: the columns are null (and the retraining
    # data says how many labeled rows it could not use)
    joined = joined.with_columns([pl.lit(None).alias(c) for c in context
                                  if c not in joined.columns])
    if "batch_id" not in joined.columns:
        joined = joined.with_columns(pl.lit(None, pl.String).alias("batch_id"))
    return joined.with_columns(pl.col("prediction").cast(pl.String))


def _landed_ids(settings: Settings, table: str) -> pl.Series:
    path = table_path(settings, table)
    if not (path / "_delta_log").is_dir():
        return pl.Series("request_id", [], dtype=pl.String)
    return scan_table(path).select("request_id").collect()["request_id"]


def _quarantined_labels(settings: Settings, table: str, target: str) -> pl.DataFrame:
    """(request_id, label) pairs the door already refused: not offered again, while a
    corrected label for the same prediction is."""
    from lockgate.data.table import quarantine_path

    empty = pl.DataFrame(schema={"request_id": pl.String, target: pl.String})
    path = quarantine_path(settings, table)
    if not (path / "_delta_log").is_dir():
        return empty
    raw = scan_table(path).select("raw").collect()["raw"]
    return pl.DataFrame({
        "request_id": raw.str.json_path_match("$.request_id"),
        target: raw.str.json_path_match(f"$.{target}")}).drop_nulls("request_id")


def labeled_rows_since(settings: Settings, model_name: str, since: float) -> int:
    """Labeled rows landed after ``since`` (epoch seconds): evidence a model registered
    at ``since`` has not seen."""
    from lockgate.store import Store

    table = labeled_table_name(model_name)
    try:
        versions = Store.open(settings).dataset_versions(table)
    except LookupError:
        return 0
    return sum(v.rows_accepted for v in versions if v.created_at > since)
