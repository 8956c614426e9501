"""Incidents: a rule firing, kept in the store from its first alert to its resolve.

This is where deduplication lives. A firing rule with no open incident opens one and
sends one ``alert``; while it keeps firing, later windows only bump ``last_seen_at``;
the first window where it holds on enough samples and no longer fires resolves the
incident and sends one ``resolve``. An ``insufficient`` window changes nothing. The open
incident's unique ``open_key`` makes two monitors racing on the same rule open it once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from lockgate.errors import NotFoundError
from lockgate.monitoring.alert_rule import AlertRule, RuleOutcome
from lockgate.monitoring.alert_sink import AlertDeliveryError, AlertEvent, AlertSink
from lockgate.store import Store
from lockgate.store.records import from_row
from lockgate.store.tables_monitoring import monitor_incidents as t_inc


@dataclass(frozen=True, slots=True)
class Incident:
    """One incident as stored."""

    id: int
    model_name: str
    rule: str
    measure: str
    severity: str
    status: str
    opened_at: float
    last_seen_at: float
    resolved_at: float | None
    value: float | None
    threshold: float
    window_start: float
    window_end: float
    root_cause: dict[str, Any] = field(default_factory=dict)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    retraining: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class Transition:
    """What the incident logic did for one rule on one window."""

    action: str  # opened | continued | resolved | none
    incident: Incident | None
    event: AlertEvent | None


def _open_key(model_name: str, rule: str) -> str:
    return f"{model_name}\x1f{rule}"


def open_incident(store: Store, model_name: str, rule: str) -> Incident | None:
    """The open incident of this model and rule, if any."""
    with store.read() as conn:
        row = conn.execute(sa.select(t_inc).where(
            t_inc.c.open_key == _open_key(model_name, rule))).mappings().first()
    return _record(row) if row else None


def incidents(store: Store, model_name: str | None = None, *, status: str | None = None,
              limit: int = 100, models: Collection[str] | None = None) -> list[Incident]:
    """Incidents newest first, optionally of one model and status (behind ``lockgate
    server``: those of the models the user may read).

    ``models``: only incidents of these models, chosen in the query before the limit
    (the server's view of a user limited to its grants; None: every model). Behind a
    server it is the token's grants that choose, so ``models`` is not sent.
    """
    if getattr(store, "remote", False):
        path = "/monitoring/incidents" if model_name is None else \
            f"/monitoring/models/{model_name}/incidents"
        params = {"limit": limit, **({"status": status} if status else {})}
        return [_incident(found) for found in store.request(  # type: ignore[attr-defined]
            "GET", path, params=params).json()]
    query = sa.select(t_inc).order_by(t_inc.c.opened_at.desc(), t_inc.c.id.desc()).limit(limit)
    if model_name is not None:
        query = query.where(t_inc.c.model_name == model_name)
    if models is not None:
        query = query.where(t_inc.c.model_name.in_(sorted(models)))
    if status is not None:
        query = query.where(t_inc.c.status == status)
    with store.read() as conn:
        return [_record(row) for row in conn.execute(query).mappings()]


def get_incident(store: Store, incident_id: int) -> Incident:
    """One incident by id.

    Raises:
        NotFoundError: no incident has this id.
    """
    if getattr(store, "remote", False):
        return _incident(store.request(  # type: ignore[attr-defined]
            "GET", f"/monitoring/incidents/{int(incident_id)}").json())
    with store.read() as conn:
        row = conn.execute(sa.select(t_inc).where(t_inc.c.id == incident_id)).mappings().first()
    if row is None:
        raise NotFoundError(f"No monitoring incident {incident_id}. List them with "
                            "`lockgate monitor report NAME`.")
    return _record(row)


def apply_outcome(store: Store, model_name: str, rule: AlertRule, outcome: RuleOutcome, *,
                  window: tuple[float, float], root_cause: dict[str, Any] | None = None
                  ) -> Transition:
    """Open, continue or resolve this rule's incident from one window's outcome.

    Returns:
        The transition, with the event to send (``alert`` or ``resolve``) or None.
    """
    current = open_incident(store, model_name, rule.name)
    now = time.time()
    if outcome.firing and current is None:
        opened = _insert(store, model_name, rule, outcome, window, root_cause or {}, now)
        if opened is None:  # another monitor opened it first: theirs is the alert
            return Transition("continued", open_incident(store, model_name, rule.name), None)
        return Transition("opened", opened, event_for("alert", opened, rule, outcome, window))
    if outcome.firing and current is not None:
        store.execute_write(sa.update(t_inc).where(t_inc.c.id == current.id).values(
            last_seen_at=now, value=outcome.value, window_end=window[1]))
        return Transition("continued", get_incident(store, current.id), None)
    if outcome.state == "ok" and current is not None:
        result = store.execute_write(sa.update(t_inc).where(
            t_inc.c.id == current.id, t_inc.c.status == "open").values(
            status="resolved", open_key=None, resolved_at=now, last_seen_at=now))
        if not result.rowcount:
            return Transition("none", current, None)
        resolved = get_incident(store, current.id)
        return Transition("resolved", resolved,
                          event_for("resolve", resolved, rule, outcome, window))
    return Transition("none", current, None)


def deliver(store: Store, event: AlertEvent, sinks: Sequence[AlertSink]) -> list[dict[str, Any]]:
    """Send ``event`` to every sink; a failing sink is recorded, never stops the others.

    Returns:
        One ``{sink, kind, ok, error}`` entry per sink, also appended to the incident.
    """
    results = []
    for sink in sinks:
        try:
            sink.send(event)
            results.append({"sink": sink.name, "kind": event.kind, "ok": True, "error": None,
                            "at": time.time()})
        except AlertDeliveryError as exc:
            results.append({"sink": sink.name, "kind": event.kind, "ok": False,
                            "error": str(exc), "at": time.time()})
    if getattr(store, "remote", False):  # behind `lockgate server`: appended by it
        store.request(  # type: ignore[attr-defined]
            "POST", f"/monitoring/models/{event.model_name}/incidents/"
                    f"{int(event.incident_id)}/deliveries",
            json_body={"deliveries": results}, idempotent=True)
        return results
    append_deliveries(store, event.incident_id, results)
    return results


def append_deliveries(store: Store, incident_id: int, results: list[dict[str, Any]]) -> None:
    """Append sink deliveries to an incident's record (embedded store)."""
    previous = get_incident(store, incident_id).deliveries
    store.execute_write(sa.update(t_inc).where(t_inc.c.id == incident_id).values(
        deliveries=json.dumps(previous + results, default=str)))


def set_retraining(store: Store, incident_id: int, retraining: dict[str, Any]) -> None:
    """Record what retraining decided / started for an incident (behind ``lockgate
    server``: through it, a writer of the incident's model)."""
    if getattr(store, "remote", False):
        name = get_incident(store, incident_id).model_name
        store.request(  # type: ignore[attr-defined]
            "PUT", f"/monitoring/models/{name}/incidents/{int(incident_id)}/retraining",
            json_body={"retraining": json.loads(json.dumps(retraining, default=str))},
            idempotent=True)
        return
    store.execute_write(sa.update(t_inc).where(t_inc.c.id == incident_id).values(
        retraining=json.dumps(retraining, default=str)))


def _insert(store: Store, model_name: str, rule: AlertRule, outcome: RuleOutcome,
            window: tuple[float, float], root_cause: dict[str, Any], now: float
            ) -> Incident | None:
    try:
        result = store.execute_write(sa.insert(t_inc).values(
            model_name=model_name, rule=rule.name, measure=rule.measure,
            severity=rule.severity, status="open", open_key=_open_key(model_name, rule.name),
            opened_at=now, last_seen_at=now, value=outcome.value, threshold=rule.threshold,
            window_start=window[0], window_end=window[1],
            root_cause=json.dumps(root_cause, default=str), deliveries="[]",
        ))
    except sa.exc.IntegrityError:
        return None
    return get_incident(store, int(result.inserted_primary_key[0]))


def event_for(kind: str, incident: Incident, rule: AlertRule, outcome: RuleOutcome,
              window: tuple[float, float]) -> AlertEvent:
    """The ``alert`` (an incident opened) or ``resolve`` message of an incident."""
    if kind == "alert":
        message = f"{rule.name} firing on {incident.model_name}: {outcome.describe(rule.measure)}"
        summary = incident.root_cause.get("summary")
        if summary:
            message += f". {summary}"
    else:
        message = (f"{rule.name} resolved on {incident.model_name}: "
                   f"{outcome.describe(rule.measure)}")
    return AlertEvent(
        kind=kind, incident_id=incident.id, model_name=incident.model_name, rule=rule.name,
        measure=rule.measure, severity=rule.severity, value=outcome.value,
        threshold=rule.threshold, op=rule.op, window_start=window[0], window_end=window[1],
        samples=outcome.samples, message=message, root_cause=incident.root_cause,
    )


def _incident(data: dict[str, Any]) -> Incident:
    """An incident from its :meth:`Incident.to_dict` form (the server's answer)."""
    names = set(Incident.__slots__)
    return Incident(**{k: v for k, v in data.items() if k in names})


def _record(row: Any) -> Incident:
    return from_row(
        Incident, row, id=int(row["id"]), root_cause=json.loads(row["root_cause"] or "{}"),
        deliveries=json.loads(row["deliveries"] or "[]"),
        retraining=json.loads(row["retraining"] or "{}"))
