"""The dashboard's numbered pages read from the cursor their pager links carry: page 100
is the same rows as with an offset, for every sort the table offers, and never an
``OFFSET`` (which walks the 99 pages before it)."""

from __future__ import annotations

import dataclasses
import functools
import math
import random
import re

import pytest
import sqlalchemy as sa

from lockgate.config import Settings
from lockgate.store import Store
from lockgate.store import schema as t
from lockgate.store.run_cursor import CursorError
from lockgate.ui import RunQuery, query_runs
from tests.store.sql_plans import Statement, statements

RUNS = 2_400
PER_PAGE = 20
SORTS = ("start_time", "name", "status", "experiment", "duration", "metrics.score",
         "params.lr", "params.tag")
#: filters that change the order's segments: a bound on the sorted metric (one walk),
#: steps included, a status filter
FILTERED = (("metrics.score", "metrics.score >= 0.3", False),
            ("params.lr", "metrics.score < 0.8", False),
            ("start_time", "", True), ("name", "status = FAILED", False))


def populate(store: Store, runs: int = RUNS, seed: int = 7) -> list[str]:
    """Runs in bulk with ties in every sort key (names, start times, durations, params,
    metric values), NaN and missing metrics, missing and text params, steps and a few
    deleted runs."""
    rng = random.Random(seed)
    experiments = [store.experiment_id("cursor-a"), store.experiment_id("cursor-b")]
    ids = [f"{rng.getrandbits(64):016x}" for _ in range(runs)]
    rows = []
    for i, run_id in enumerate(ids):
        start = 1_000.0 + i // 3  # three runs per start time
        rows.append({
            "id": run_id, "experiment_id": experiments[i % 2], "name": f"run-{i % 50:02d}",
            "kind": "step" if i % 17 == 0 and i else "run",
            "status": rng.choice(["FINISHED", "FAILED", "KILLED"]),
            "parent_id": ids[0] if i % 17 == 0 and i else None, "start_time": start,
            "end_time": None if i % 11 == 0 else start + rng.choice([1.0, 2.5, 4.0]),
            "heartbeat_at": start + 3.0, "heartbeat_seconds": 5.0,
            "deleted_at": 9.0 if i % 97 == 5 else None})
    params = []
    for i, run_id in enumerate(ids):
        if i % 13:
            params.append({"run_id": run_id, "key": "lr",
                           "value": '"auto"' if i % 29 == 0 else str(rng.choice([0.1, 0.01, 1]))})
        params.append({"run_id": run_id, "key": "tag", "value": f'"t{i % 7}"'})
    with store.write() as conn:
        conn.execute(sa.insert(t.runs), rows)
        conn.execute(sa.insert(t.params), params)
    points = []
    for i, run_id in enumerate(ids):
        if i % 9 == 0:
            continue  # no score
        value = math.nan if i % 23 == 0 else rng.choice([0.1, 0.25, 0.5, 0.75, 0.9])
        points.append((run_id, "score", 0, 0.0, value))
    store.log_metric_tuples(points)
    return ids


@pytest.fixture
def store(any_settings: Settings) -> Store:
    store = Store.open(any_settings)
    populate(store)
    return store


def skipped(statement: Statement) -> list[int]:
    """The rows each ``OFFSET`` of a statement skips (SQLite's compiler writes
    ``LIMIT ? OFFSET ?`` for every LIMIT, with 0 when there is no offset)."""
    sql, params = statement.sql, statement.parameters
    out = []
    for match in re.finditer(r"OFFSET\s+(\?|%\((\w+)\)s|\d+)", sql, re.IGNORECASE):
        text = match.group(1)
        if text == "?":
            out.append(int(params[sql[:match.end()].count("?") - 1]))
        elif match.group(2):
            out.append(int(params[match.group(2)]))
        else:
            out.append(int(text))
    return out


def offsets(seen: list[Statement]) -> list[str]:
    """The statements that skip rows with an offset."""
    return [s.sql for s in seen if any(skipped(s))]


def _cases() -> list[tuple[str, str, bool, bool]]:
    plain = [(sort, "", False, descending) for sort in SORTS for descending in (True, False)]
    return plain + [(s, q, steps, d) for s, q, steps in FILTERED for d in (True, False)]


def test_page_100_is_read_from_its_cursor_with_no_offset(store: Store) -> None:
    for sort, q, steps, descending in _cases():
        base = RunQuery(sort=sort, q=q, include_steps=steps, descending=descending,
                        per_page=PER_PAGE)
        query = functools.partial(dataclasses.replace, base)

        last = query_runs(store, query(page=10_000)).pages  # by number: the offset way
        page = min(100, last)
        assert page > 2, (sort, q)
        by_offset = query_runs(store, query(page=page))
        before = query_runs(store, query(page=page - 1))
        assert before.next_page is not None, (sort, q)
        with statements(store) as seen:
            by_cursor = query_runs(store, query(page=page, after=before.next_page))
        case = (sort, q, steps, descending)
        assert [r.id for r in by_cursor.runs] == [r.id for r in by_offset.runs], case
        assert (by_cursor.page, by_cursor.total) == (by_offset.page, by_offset.total), case
        assert seen and not offsets(seen), (case, offsets(seen))
        # and back: the previous link of page N gives page N - 1, with no offset either
        assert by_cursor.previous_page is not None
        with statements(store) as seen:
            back = query_runs(store, query(page=page - 1, before=by_cursor.previous_page))
        assert [r.id for r in back.runs] == [r.id for r in before.runs], case
        assert back.next_page == before.next_page and back.page == page - 1, case
        assert not offsets(seen), (case, offsets(seen))


def test_following_the_pager_lists_every_run_once_in_order(any_settings: Settings) -> None:
    """Every page by cursor, next to the end and previous to the start, is the page by
    number (ties across page boundaries included)."""
    store = Store.open(any_settings)
    populate(store, runs=300)
    for sort, q, steps, descending in _cases():
        base = RunQuery(sort=sort, q=q, include_steps=steps, descending=descending,
                        per_page=35)
        query = functools.partial(dataclasses.replace, base)

        pages = [query_runs(store, query())]
        while pages[-1].next_page:
            pages.append(query_runs(store, query(page=len(pages) + 1,
                                                 after=pages[-1].next_page)))
        case = (sort, q, steps, descending)
        for number, page in enumerate(pages, 1):
            assert [r.id for r in page.runs] == [
                r.id for r in query_runs(store, query(page=number)).runs], (case, number)
        ids = [r.id for p in pages for r in p.runs]
        assert len(ids) == len(set(ids)) == pages[-1].total, case
        going_back = pages[-1]
        while going_back.page > 1:
            going_back = query_runs(store, query(page=going_back.page - 1,
                                                 before=going_back.previous_page or ""))
            assert going_back.runs == pages[going_back.page - 1].runs, (case, going_back.page)


def test_a_page_by_number_alone_is_an_offset(settings: Settings) -> None:
    """What the test above tells apart: the page typed by number skips rows."""
    store = Store.open(settings)
    populate(store, runs=60)
    with statements(store) as seen:
        query_runs(store, RunQuery(per_page=5, page=3))
    assert offsets(seen)


def test_cursors_are_checked(settings: Settings) -> None:
    store = Store.open(settings)
    populate(store, runs=30)
    token = query_runs(store, RunQuery(per_page=5)).next_page
    assert token
    with pytest.raises(CursorError, match="continues another order of the runs"):
        query_runs(store, RunQuery(per_page=5, page=2, sort="name", after=token))
    with pytest.raises(CursorError, match="not one this page handed out"):
        query_runs(store, RunQuery(per_page=5, page=2, after="bm90IGpzb24"))
    forged = __import__("base64").urlsafe_b64encode(b'["start_time", true, 9, [1, "x"]]')
    with pytest.raises(CursorError, match="another order"):
        query_runs(store, RunQuery(per_page=5, page=2, after=forged.decode()))
