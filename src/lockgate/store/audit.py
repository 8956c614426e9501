"""The audit trail: who changed what, when, from what to what.

Every state change lockgate makes (a run created, a model registered, an alias moved, a
gate overridden, data released from quarantine, a deletion) is appended here with its
actor. Behind ``lockgate server`` the actor is the authenticated user (set for the
request with :func:`acting_as`); embedded, it is the operating-system user
(``os:<login>``), so a laptop's history says who ran it too.

    with acting_as("alice"):
        store.create_run(...)            # audited as alice
    audit.entries(store, action="run.created")
"""

from __future__ import annotations

import contextlib
import contextvars
import getpass
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from lockgate.store.tables_auth import audit_log

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from lockgate.store.repository import Store

#: The actions recorded; a new kind of state change adds its name here.
ACTIONS = (
    "run.created", "run.ended", "model.registered", "alias.moved", "gate.overridden",
    "quarantine.released", "deleted", "user.created", "token.created", "token.revoked",
    "grant.set", "model.stage_changed", "model.noted", "dataset.updated",
    "restored", "purged", "gc.ran", "view.saved", "view.deleted", "monitor.ran",
    "pipeline.step_recorded", "profile.linked", "gate.configured",
    "monitor.delivered", "monitor.retraining", "dataset.versioned",
)

_ACTOR: contextvars.ContextVar[str | None] = contextvars.ContextVar("lockgate_actor",
                                                                    default=None)
_REQUEST: contextvars.ContextVar[str | None] = contextvars.ContextVar("lockgate_request",
                                                                      default=None)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One recorded state change."""

    id: int
    at: float
    actor: str
    action: str
    target: str
    before: Any
    after: Any
    request_id: str | None


def os_actor() -> str:
    """The operating-system user as an actor (``os:alice``)."""
    try:
        return f"os:{getpass.getuser()}"
    except Exception:  # no user database in some containers
        return "os:unknown"


def current_actor() -> str:
    """Who is acting now: the server's authenticated user, else the OS user."""
    return _ACTOR.get() or os_actor()


def authenticated_actor() -> str | None:
    """The server's authenticated user for this request, or None when embedded."""
    return _ACTOR.get()


@contextlib.contextmanager
def acting_as(actor: str, request_id: str | None = None) -> Iterator[None]:
    """Attribute every audit record written inside the block to ``actor``."""
    token = _ACTOR.set(actor)
    request = _REQUEST.set(request_id)
    try:
        yield
    finally:
        _ACTOR.reset(token)
        _REQUEST.reset(request)


def record(store: Store, action: str, target: str, *, before: Any = None, after: Any = None,
           conn: Connection | None = None) -> None:
    """Append one audit entry (in ``conn``'s transaction when given, so the change and
    its record commit together)."""
    if action not in ACTIONS:
        raise ValueError(f"Unknown audit action {action!r}; add it to audit.ACTIONS.")
    row = {"at": time.time(), "actor": current_actor()[:255], "action": action,
           "target": target[:512], "before_json": _json(before), "after_json": _json(after),
           "request_id": _REQUEST.get()}
    statement = sa.insert(audit_log).values(**row)
    if conn is not None:
        conn.execute(statement)
    else:
        store.execute_write(statement)


def record_many(store: Store, action: str, changes: Sequence[tuple[str, Any, Any]], *,
                conn: Connection) -> None:
    """Append one entry per ``(target, before, after)`` in ``conn``'s transaction, in one
    statement (a gc pass may purge thousands of runs)."""
    if action not in ACTIONS:
        raise ValueError(f"Unknown audit action {action!r}; add it to audit.ACTIONS.")
    if not changes:
        return
    now, actor, request = time.time(), current_actor()[:255], _REQUEST.get()
    conn.execute(sa.insert(audit_log), [
        {"at": now, "actor": actor, "action": action, "target": target[:512],
         "before_json": _json(before), "after_json": _json(after), "request_id": request}
        for target, before, after in changes])


def entries(store: Store, *, action: str | None = None, actor: str | None = None,
            target: str | None = None, since: float | None = None,
            limit: int = 100) -> list[AuditEntry]:
    """Audit entries, newest first, optionally filtered (``target`` is a prefix; behind
    ``lockgate server``: asked of it, for an admin)."""
    if getattr(store, "remote", False):
        params = {"action": action, "actor": actor, "target": target, "since": since,
                  "limit": max(1, limit)}
        found = store.request("GET", "/audit", params={  # type: ignore[attr-defined]
            k: v for k, v in params.items() if v is not None}).json()
        return [AuditEntry(int(e["id"]), float(e["at"]), e["actor"], e["action"],
                           e["target"], e["before"], e["after"], e["request_id"])
                for e in found]
    query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(max(1, limit))
    if action:
        query = query.where(audit_log.c.action == action)
    if actor:
        query = query.where(audit_log.c.actor == actor)
    if target:
        query = query.where(audit_log.c.target.startswith(target, autoescape=True))
    if since is not None:
        query = query.where(audit_log.c.at >= since)
    with store.read() as conn:
        rows = conn.execute(query).all()
    return [AuditEntry(int(r.id), float(r.at), r.actor, r.action, r.target,
                       _load(r.before_json), _load(r.after_json), r.request_id) for r in rows]


def entry_dict(entry: AuditEntry) -> dict[str, Any]:
    """An entry as plain JSON-able data (API, CLI ``--json``)."""
    return {"id": entry.id, "at": entry.at, "actor": entry.actor, "action": entry.action,
            "target": entry.target, "before": entry.before, "after": entry.after,
            "request_id": entry.request_id}


def _json(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        value = dict(value)
    return json.dumps(value, default=str, sort_keys=True)


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)
