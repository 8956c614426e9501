"""The metadata store: SQLAlchemy tables, Alembic migrations and the repository API."""

from lockgate.store.records import (
    ArtifactRecord,
    CodeVersion,
    DatasetVersion,
    Environment,
    HardwareSample,
    LineageEdge,
    MetricPoint,
    Note,
    RunRecord,
    effective_status,
)
from lockgate.store.repository import Store

__all__ = [
    "ArtifactRecord",
    "CodeVersion",
    "DatasetVersion",
    "Environment",
    "HardwareSample",
    "LineageEdge",
    "MetricPoint",
    "Note",
    "RunRecord",
    "Store",
    "effective_status",
]
