"""Cursors for the dashboard's numbered pages: where a page of the runs table starts, so
that page N is read from there and not by skipping N - 1 pages.

Why: with ``OFFSET`` the database walks and throws away every run before the page, so
page 1,000 costs 1,000 pages. The pager's links carry the position of the row before the
page (its segment of the order and its sort-key values), and the page is the walk of
its segment from just after that row, an index range wherever the order has an index.
A link typed by hand (``?page=7``, no cursor) is still answered, by an offset.

An order is a list of :class:`Segment` queries read one after the other (a metric sort:
values, then NaN, then runs without the metric; see ``run_query._segments``), each
ordered by :class:`Key` columns ending in the run id, so every order is total and no
run is skipped or shown twice. Cursors are opaque URL-safe text but only data: decoded
as JSON, checked against the listing's order, and every value is a bound parameter.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from lockgate.store import schema as t
from lockgate.store.run_filter import FilterError


class CursorError(FilterError):
    """A page link's cursor that this listing did not hand out (or another sort's)."""


@dataclass(frozen=True, slots=True)
class Key:
    """One column of a segment's order.

    ``nulls_last``: None for a column that is never NULL (no ``NULLS`` clause, which
    would stop PostgreSQL walking an index backwards); True / False for ``NULLS LAST`` /
    ``NULLS FIRST``.
    """

    column: Any
    descending: bool
    nulls_last: bool | None = None

    def order(self) -> Any:
        ordered = self.column.desc() if self.descending else self.column.asc()
        if self.nulls_last is None:
            return ordered
        return sa.nulls_last(ordered) if self.nulls_last else sa.nulls_first(ordered)

    def reversed(self) -> Key:
        flipped = None if self.nulls_last is None else not self.nulls_last
        return Key(self.column, not self.descending, flipped)

    def equal(self, value: Any) -> sa.ColumnElement[bool]:
        return self.column.is_(None) if value is None else self.column == _bound(self, value)

    def beyond(self, value: Any) -> sa.ColumnElement[bool] | None:
        """Rows strictly after ``value`` in this column's order; None if there are none."""
        if value is None:  # NULLS FIRST: every value follows; NULLS LAST: nothing does
            return self.column.is_not(None) if self.nulls_last is False else None
        bound = _bound(self, value)
        after = self.column < bound if self.descending else self.column > bound
        return sa.or_(after, self.column.is_(None)) if self.nulls_last else after


@dataclass(frozen=True, slots=True)
class Segment:
    """A filtered select of runs (no order) and the keys it is read in."""

    select: sa.Select
    keys: tuple[Key, ...]

    def walk(self) -> sa.Select:
        """Run ids and the sort-key values of each, in order."""
        return (self.select.with_only_columns(t.runs.c.id, *(k.column for k in self.keys))
                .order_by(*(k.order() for k in self.keys)))

    def reversed(self) -> Segment:
        return Segment(self.select, tuple(k.reversed() for k in self.keys))

    def after(self, values: Sequence[Any]) -> sa.ColumnElement[bool]:
        """Rows after the row with these key values: ``a >= x AND (a != x OR <the rest
        after theirs>)`` for a key that is never NULL.

        Why this form: ``a >= x`` starts an index range on ``a`` on both backends, and
        the planner's estimate stays right. A row value ``(a, b) > (x, y)`` beside a
        filter's own ``a >= 0.9``, or the usual ``a > x OR (a = x AND ...)``, counts
        the same bound twice: PostgreSQL then expected 66 rows where 5,000 matched, and
        read them through a bitmap and a sort (0.1 s for page 100 at 100k runs) instead
        of walking the index.
        """
        return _after(self.keys, tuple(values))


def _after(keys: Sequence[Key], values: Sequence[Any]) -> sa.ColumnElement[bool]:
    key, value = keys[0], values[0]
    if len(keys) == 1:
        beyond = key.beyond(value)
        return sa.false() if beyond is None else beyond
    rest = _after(keys[1:], values[1:])
    if key.nulls_last is None:
        bound = _bound(key, value)
        reach = key.column <= bound if key.descending else key.column >= bound
        return sa.and_(reach, sa.or_(key.column != bound, rest))
    beyond = key.beyond(value)
    tie = sa.and_(key.equal(value), rest)
    return tie if beyond is None else sa.or_(beyond, tie)


@dataclass(frozen=True, slots=True)
class Cursor:
    """A row's place in an order: its segment and its sort-key values."""

    segment: int
    values: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Row:
    """A run id read by :func:`read`, with its cursor."""

    run_id: str
    cursor: Cursor


def encode(cursor: Cursor, sort: str, descending: bool) -> str:
    """A cursor of the listing sorted by ``sort`` as opaque, URL-safe text."""
    raw = json.dumps([sort, descending, cursor.segment, list(cursor.values)])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(token: str, sort: str, descending: bool, segments: Sequence[Segment]) -> Cursor:
    """The cursor a page link carries, checked against the listing it continues.

    Raises:
        CursorError: malformed, or made for another sort or order of the runs.
    """
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        key, desc, segment, values = json.loads(raw)
        valid = (isinstance(segment, int) and isinstance(values, list)
                 and all(v is None or (isinstance(v, int | float | str)
                                       and not isinstance(v, bool)) for v in values))
    except (ValueError, TypeError, binascii.Error):
        valid = False
    if not valid:
        raise CursorError(
            f"The page link's cursor `{token[:40]}` is not one this page handed out; open "
            "the first page (drop `after` / `before` from the address).")
    if (key, desc) != (sort, descending) or not (
            0 <= segment < len(segments) and len(values) == len(segments[segment].keys)):
        raise CursorError(
            f"The page link's cursor continues another order of the runs (sort `{key}`"
            f"{', descending' if desc else ''}), not sort `{sort}`"
            f"{', descending' if descending else ''}; open the first page of this one "
            "(drop `after` / `before` from the address).")
    return Cursor(segment, tuple(values))


def read(conn: Any, segments: Sequence[Segment], start: Cursor | None, limit: int,
         offset: int = 0) -> list[Row]:
    """Up to ``limit`` rows of the order after ``start`` (from the top when None), or,
    with no cursor, after skipping ``offset`` rows (a page asked for by number only).

    A segment is counted only when an offset starts beyond its end.
    """
    rows: list[Row] = []
    first = 0 if start is None else start.segment
    for index in range(first, len(segments)):
        segment = segments[index]
        walk = segment.walk()
        if start is not None and index == start.segment:
            walk = walk.where(segment.after(start.values))
        walk = walk.limit(limit - len(rows))
        got = conn.execute(walk.offset(offset) if offset else walk).all()
        rows += [Row(r[0], Cursor(index, tuple(r[1:]))) for r in got]
        if len(rows) >= limit:
            break
        if got:
            offset = 0
        elif offset:
            size = conn.execute(sa.select(sa.func.count()).select_from(
                segment.select.with_only_columns(t.runs.c.id).subquery())).scalar_one()
            offset = max(0, offset - int(size))
    return rows


def read_before(conn: Any, segments: Sequence[Segment], end: Cursor,
                limit: int) -> list[Row]:
    """Up to ``limit`` rows of the order before ``end``, nearest first: the same walks
    in reverse, each one the index read backwards."""
    flipped = [s.reversed() for s in segments[:end.segment + 1]][::-1]
    rows = read(conn, flipped, Cursor(0, end.values), limit)
    last = end.segment
    return [Row(r.run_id, Cursor(last - r.cursor.segment, r.cursor.values)) for r in rows]


def _bound(key: Key, value: Any) -> sa.BindParameter[Any]:
    return sa.bindparam(None, value, type_=key.column.type, unique=True)
