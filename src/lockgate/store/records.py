"""Frozen records returned by the store: values the caller can inspect, never live rows."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, TypeVar

#: A RUNNING run whose last heartbeat is older than this many intervals is CRASHED: one
#: missed beat is tolerated (a loaded machine), two are not.
CRASH_GRACE_FACTOR = 2.0
CRASH_GRACE_SECONDS = 0.0


def effective_status(status: str, heartbeat_at: float, heartbeat_seconds: float,
                     now: float | None = None) -> str:
    """Decide liveness on read: a RUNNING run whose heartbeat stopped is CRASHED.

    Why on read: a process killed with SIGKILL cannot mark itself, and a reaper
    process may not exist. Every reader applies the same rule, so no run stays
    RUNNING forever, including one killed before its first heartbeat.
    """
    if status != "RUNNING":
        return status
    now = time.time() if now is None else now
    if now - heartbeat_at > crash_after(heartbeat_seconds):
        return "CRASHED"
    return status


def crash_after(heartbeat_seconds: float) -> float:
    """Seconds without a heartbeat after which a run counts as CRASHED."""
    return CRASH_GRACE_FACTOR * heartbeat_seconds + CRASH_GRACE_SECONDS


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One run: a tracked block of work, a pipeline run or a step run."""

    id: str
    name: str
    experiment: str
    kind: str
    status: str
    parent_id: str | None
    start_time: float
    end_time: float | None
    heartbeat_at: float
    error: str | None
    host: str | None = None
    pid: int | None = None
    #: When ``runs delete`` hid the run (None: live); ``runs restore`` clears it.
    deleted_at: float | None = None

    @property
    def duration(self) -> float | None:
        """Seconds from start to end (or to the last heartbeat while unfinished)."""
        end = self.end_time if self.end_time is not None else self.heartbeat_at
        return max(0.0, end - self.start_time)


@dataclass(frozen=True, slots=True)
class RunsPage:
    """One page of runs and the token that continues the listing (None at its end)."""

    runs: list[RunRecord]
    next_page: str | None


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One logged metric value."""

    key: str
    step: int
    timestamp: float
    value: float


@dataclass(frozen=True, slots=True)
class ArtifactRecord:
    """An artifact registered in the store, pointing at content-addressed bytes."""

    id: int
    run_id: str | None
    name: str
    uri: str
    sha256: str
    size: int
    media_type: str
    materializer: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class DatasetVersion:
    """A version of a table: one ingestion batch, with its counts and validation verdict."""

    id: int
    table_name: str
    version: int
    source: str | None
    batch_id: str | None
    rows_ingested: int
    rows_accepted: int
    rows_quarantined: int
    content_hash: str | None
    contract_version: str | None
    validation_status: str
    checks: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    created_at: float = 0.0

    @property
    def ref(self) -> str:
        """Readable id, e.g. ``orders@v7``."""
        return f"{self.table_name}@v{self.version}"


@dataclass(frozen=True, slots=True)
class LineageEdge:
    """A run consumed or produced an artifact or a dataset version."""

    id: int
    run_id: str
    direction: str
    artifact_id: int | None
    dataset_version_id: int | None
    role: str | None
    note: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class CodeVersion:
    """Git state of the code a run executed."""

    commit: str | None
    branch: str | None
    dirty: bool | None
    repo_root: str | None
    diff_artifact_id: int | None


@dataclass(frozen=True, slots=True)
class Environment:
    """Python, platform and installed distributions of a run."""

    python: str
    platform: str
    packages: dict[str, str]
    settings: dict[str, Any]


@dataclass(frozen=True, slots=True)
class HardwareSample:
    """One sample of the machine's load while a run was alive."""

    timestamp: float
    cpu_percent: float | None
    rss_bytes: int | None
    system_memory_percent: float | None
    gpu_utilization: float | None
    gpu_memory_bytes: int | None


@dataclass(frozen=True, slots=True)
class Note:
    """A free-text note on a run."""

    id: int
    created_at: float
    author: str | None
    text: str


_R = TypeVar("_R")


def from_row(cls: type[_R], row: Any, **values: Any) -> _R:
    """A record built from a result row by field name (never by position, so a column
    added to a table or a select in another order cannot shift the fields).

    ``values`` give fields the row does not hold as they are (a decoded JSON column, a
    column under another name, a value joined from elsewhere); every other field is the
    row's column of the same name.

    Raises:
        KeyError: the row has no column of that name (a select that misses a field).
    """
    mapping = row._mapping if hasattr(row, "_mapping") else row
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    return cls(**{name: values[name] if name in values else mapping[name] for name in names})
