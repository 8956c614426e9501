"""``Idempotency-Key`` for the state-changing routes of ``lockgate server``: a retry of a
request already applied gets the first answer back and changes nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TypeVar, cast

import sqlalchemy as sa
from fastapi import HTTPException, Request

from lockgate.security.accounts import Principal
from lockgate.server.state import principal
from lockgate.store import Store, audit
from lockgate.store.tables_auth import request_ids

#: A route's answer: JSON-able data, stored as the first answer of its key.
Answer = TypeVar("Answer")


def applied_once(store: Store, request: Request, work: Callable[[], Answer], *,
                 joined: bool = False) -> Answer:
    """Run ``work`` unless this request's ``Idempotency-Key`` was applied already, in
    which case its first answer is returned and nothing changes.

    ``joined``: the claim, the work and the answer are one transaction on one connection
    (:meth:`Store.transaction`): a concurrent retry's claim waits for it and then reads
    the answer, and a failure undoes all three. For short store writes only: the
    transaction holds SQLite's write lock. Otherwise the key is claimed before the work
    (a concurrent retry gets 409), the answer stored after; work that fails releases the
    claim, so a retry runs it again.
    """
    user = principal(request)
    key = request.headers.get("idempotency-key")
    if key is not None and len(key) > 64:
        raise HTTPException(400, "Idempotency-Key is longer than 64 characters.")
    scoped = f"{user.user[:20]}:{key}"[:64] if key else None
    if joined:
        return _applied_joined(store, user, scoped, key, work)
    if scoped is None:
        with audit.acting_as(user.user):
            return work()
    try:
        store.execute_write(sa.insert(request_ids).values(id=scoped, at=time.time(),
                                                          answer_json=""))
    except sa.exc.IntegrityError:
        return cast(Answer, _first_answer(store, scoped))
    try:
        with audit.acting_as(user.user, key):
            result = work()
    except BaseException:
        store.execute_write(sa.delete(request_ids).where(request_ids.c.id == scoped))
        raise
    store.execute_write(sa.update(request_ids).where(request_ids.c.id == scoped).values(
        answer_json=json.dumps(result)))
    return result


def _applied_joined(store: Store, user: Principal, scoped: str | None,
                    key: str | None, work: Callable[[], Answer]) -> Answer:
    claimed = scoped is None
    try:
        with store.transaction() as conn, audit.acting_as(user.user, key):
            if scoped is not None:  # waits for a concurrent holder of the key, then fails
                conn.execute(sa.insert(request_ids).values(id=scoped, at=time.time(),
                                                           answer_json=""))
                claimed = True
            result = work()
            if scoped is not None:
                conn.execute(sa.update(request_ids).where(request_ids.c.id == scoped)
                             .values(answer_json=json.dumps(result)))
            return result
    except sa.exc.IntegrityError:
        if claimed or scoped is None:  # the work's own error, not a repeated key
            raise
        return cast(Answer, _first_answer(store, scoped))


def _first_answer(store: Store, scoped: str) -> object:
    with store.read() as conn:
        answer = conn.execute(sa.select(request_ids.c.answer_json).where(
            request_ids.c.id == scoped)).scalar()
    if not answer:
        raise HTTPException(409, "This request is being applied; retry shortly.") from None
    return json.loads(answer)
