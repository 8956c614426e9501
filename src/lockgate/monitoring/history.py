"""The monitor's history as stored: the windows it measured and the models it watched.

What the report, the CLI and the dashboard read back of ``monitor_windows`` (and which
models have incidents), as frozen records, so none of them queries the table itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from lockgate.monitoring.contract_check import read_violations
from lockgate.store import Store
from lockgate.store.records import from_row
from lockgate.store.tables_monitoring import monitor_incidents as t_incidents
from lockgate.store.tables_monitoring import monitor_windows as t_windows


@dataclass(frozen=True, slots=True)
class RecordedWindow:
    """One evaluated window as the monitor recorded it."""

    id: int
    model_name: str
    model_version: int | None
    window_start: float
    window_end: float
    n_predictions: int
    n_labeled: int
    measures: dict[str, Any] = field(default_factory=dict)
    #: Drift per feature, prediction drift, shadow, violations, performance, versions.
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of the report (``start``/``end`` for the span)."""
        return {"id": self.id, "model_version": self.model_version,
                "start": self.window_start, "end": self.window_end,
                "n_predictions": self.n_predictions, "n_labeled": self.n_labeled,
                "measures": self.measures, "details": self.details}


def recorded_windows(store: Store, model_name: str, *, since: float | None = None,
                     limit: int = 1000) -> list[RecordedWindow]:
    """The newest ``limit`` recorded windows of a model, oldest first."""
    query = sa.select(t_windows).where(t_windows.c.model_name == model_name)
    if since is not None:
        query = query.where(t_windows.c.window_end >= since)
    query = query.order_by(t_windows.c.window_end.desc(), t_windows.c.id.desc()).limit(limit)
    with store.read() as conn:
        rows = list(conn.execute(query))
    return [from_row(RecordedWindow, r, measures=json.loads(r.measures),
                     details=_stored_details(r.details)) for r in reversed(rows)]


def window_history(store: Store, model_name: str, *, since: float | None = None,
                   limit: int = 1000) -> list[dict[str, Any]]:
    """Recorded windows of a model, oldest first, in the report's JSON form (behind
    ``lockgate server``: read through it, for a user who may read the model)."""
    if getattr(store, "remote", False):
        params = {"limit": limit, **({"since": since} if since is not None else {})}
        return list(store.request(  # type: ignore[attr-defined]
            "GET", f"/monitoring/models/{model_name}/windows", params=params).json())
    return [w.to_dict() for w in recorded_windows(store, model_name, since=since,
                                                  limit=limit)]


def _stored_details(text: str) -> dict[str, Any]:
    """A window's stored details, its violations under the door's check names (a window
    stored with monitoring's older ``not_null:``/``max_length:`` reads as ``null:``...)."""
    details: dict[str, Any] = json.loads(text)
    if isinstance(details.get("violations"), dict):
        details["violations"] = read_violations(details["violations"])
    return details


def monitored_models(store: Store) -> list[str]:
    """Names of the models with a recorded window or incident, sorted."""
    with store.read() as conn:
        names = set(conn.execute(sa.select(t_windows.c.model_name).distinct()).scalars())
        names |= set(conn.execute(sa.select(t_incidents.c.model_name).distinct()).scalars())
    return sorted(names)
