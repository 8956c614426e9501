"""The metadata store: SQLAlchemy tables, Alembic migrations and the repository API."""

from lockgate.store.errors import RowAccountingError
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
    RunsPage,
    effective_status,
)
from lockgate.store.repository import Store
from lockgate.store.run_page import PageTokenError

__all__ = [
    "ArtifactRecord",
    "CodeVersion",
    "DatasetVersion",
    "Environment",
    "HardwareSample",
    "LineageEdge",
    "MetricPoint",
    "Note",
    "PageTokenError",
    "RowAccountingError",
    "RunRecord",
    "RunsPage",
    "Store",
    "effective_status",
]
