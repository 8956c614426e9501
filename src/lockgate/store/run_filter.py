"""The runs filter language, parsed into bound SQL (never evaluated); shared by the
dashboard and any other reader of runs.

    params.lr > 0.01 and metrics.auc >= 0.9
    (tags.team = 'risk' or name = "baseline") and not status = FAILED

Fields are ``params.<key>``, ``metrics.<key>`` (the run's last logged value),
``tags.<key>``, and the run columns ``name``, ``status``, ``experiment``, ``kind``,
``id``. Operators: ``= == != < <= > >=`` and ``~`` (contains). Values are numbers,
quoted strings, bare words, ``true``/``false``/``null``. A key with unusual characters
is quoted: ``params."model.depth" = 3``. Every value becomes a bound parameter.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from lockgate.errors import LockgateError, NotFoundError, close_matches
from lockgate.store import schema as t
from lockgate.store.repository import status_clause as store_status_clause

MAX_LENGTH = 2000
MAX_TERMS = 32
RUN_FIELDS = ("name", "status", "experiment", "kind", "id")
SCOPES = ("params", "metrics", "tags")
_OPS = ("==", "!=", "<=", ">=", "=", "<", ">", "~")
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<lp>\() | (?P<rp>\)) |
        (?P<op>==|!=|<=|>=|=|<|>|~) |
        (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*") |
        (?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.])) |
        (?P<word>[A-Za-z_][\w\-/:@]*) |
        (?P<dot>\.)
    )""",
    re.VERBOSE,
)


class FilterError(LockgateError, ValueError):
    """A filter expression on the runs page cannot be parsed."""


@dataclass(frozen=True, slots=True)
class Token:
    """One lexical token of a filter and where it starts."""

    kind: str
    text: str
    pos: int


@dataclass(frozen=True, slots=True)
class Field:
    """A filtered field: ``scope`` is params / metrics / tags / run."""

    scope: str
    key: str


#: Counts the rows of a select (the select carries its own LIMIT); see ``parse_filter``.
Counter = Callable[[sa.Select], int]
#: A metric comparison matching at least this many runs is checked run by run (a
#: correlated EXISTS, one primary-key lookup per run read); below it, as the list of the
#: matching runs (IN), which the planner walks instead of the runs.
DENSE_MATCHES = 5_000


def parse_filter(expression: str, *, dialect: str = "sqlite",
                 summary: bool = False, count: Counter | None = None,
                 joined: Mapping[str, Any] | None = None
                 ) -> sa.ColumnElement[bool] | None:
    """Turn a filter expression into a SQLAlchemy condition on ``runs``.

    Args:
        expression: the text typed in the filter box; empty means no filter.
        dialect: ``sqlite`` or ``postgresql``; numeric casts differ.
        summary: kept for callers written before ``latest_metrics``; ignored, since
            metric conditions always read that table (it is current at write time).
        count: on SQLite, counts how many runs a metric comparison matches (capped at
            ``DENSE_MATCHES``, one index range) to choose its form. Why: SQLite keeps no
            value histograms, so it cannot tell ``metrics.auc >= 0.9`` (100k of 1M runs:
            checking each run read is cheapest, and a list of 100k ids costs ~0.3 s to
            build) from ``metrics.auc >= 0.9999`` (89 runs: walking the list is cheapest,
            checking each of 1M runs costs seconds). PostgreSQL's planner knows both.
        joined: metric key -> the ``value`` column of a ``latest_metrics`` row the
            query already inner-joins for every run it lists (a sort walking that
            metric's index): comparisons on that metric read it, instead of a second
            read of the same values that the planner joins with the walk (PostgreSQL
            hash-joined the two ranges and sorted them: 0.5 s at 1M runs).

    Returns:
        A condition with bound parameters, or None for an empty expression.

    Raises:
        FilterError: the text is not a valid filter; the message points at the position.
    """
    text = expression.strip()
    if not text:
        return None
    if len(text) > MAX_LENGTH:
        raise FilterError(f"The filter is {len(text)} characters long; the limit is {MAX_LENGTH}.")
    return _Parser(text, dialect, summary, count, joined).parse()


def tokenize(text: str) -> list[Token]:
    """Split a filter into tokens.

    Raises:
        FilterError: a character that starts no token.
    """
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise FilterError(
                f"Unexpected character {text[pos:].lstrip()[:1]!r} at position {pos + 1} of "
                f"the filter `{text}`. Write e.g. `params.lr > 0.01 and metrics.auc >= 0.9`."
            )
        kind = match.lastgroup or ""
        tokens.append(Token(kind, match.group(kind), match.start(kind)))
        pos = match.end()
    return tokens


@dataclass(frozen=True, slots=True)
class MetricBound:
    """A comparison every run a filter selects satisfies: ``metrics.<key> <op> value``."""

    key: str
    op: str
    value: float

    def on(self, column: Any) -> sa.ColumnElement[bool]:
        """The same comparison on another column holding the metric's last value."""
        return _compare(column, "=" if self.op == "==" else self.op, self.value)


_BOUNDS = ("<", "<=", ">", ">=", "=", "==")


def metric_bounds(expression: str) -> list[MetricBound]:
    """The metric comparisons a filter requires of every run it selects (those joined to
    the whole filter by ``and`` only, not under ``or`` or ``not``).

    Why: ``metrics.auc >= 0.9`` sorted by ``metrics.auc`` can then walk the sort index
    from 0.9 only, instead of from the lowest value checking each run, and the runs with
    no (or a NaN) ``auc`` need no look at all. A filter that fails to parse has none.
    """
    text = expression.strip()
    if not text or len(text) > MAX_LENGTH:
        return []
    parser = _Parser(text, "sqlite", False)
    try:
        parser.parse()
    except FilterError:
        return []
    return parser.required


class _Parser:
    """Recursive descent: or > and > not > comparison | ( expr )."""

    def __init__(self, text: str, dialect: str, summary: bool,
                 count: Counter | None = None,
                 joined: Mapping[str, Any] | None = None) -> None:
        self.joined = dict(joined or {})
        self.text = text
        self.dialect = dialect
        self.summary = summary
        self.count = count
        self.tokens = tokenize(text)
        self.i = 0
        self.terms = 0
        self.required: list[MetricBound] = []  # of the clause parsed last (see metric_bounds)

    def parse(self) -> sa.ColumnElement[bool]:
        clause = self._or()
        if self.i < len(self.tokens):
            self._fail(f"unexpected `{self.tokens[self.i].text}`", self.tokens[self.i])
        return clause

    def _peek_word(self, *words: str) -> bool:
        tok = self.tokens[self.i] if self.i < len(self.tokens) else None
        return tok is not None and tok.kind == "word" and tok.text.lower() in words

    def _or(self) -> sa.ColumnElement[bool]:
        parts = [self._and()]
        while self._peek_word("or"):
            self.i += 1
            parts.append(self._and())
        if len(parts) > 1:
            self.required = []  # a bound of one alternative binds no run
        return parts[0] if len(parts) == 1 else sa.or_(*parts)

    def _and(self) -> sa.ColumnElement[bool]:
        parts = [self._not()]
        required = list(self.required)
        while self._peek_word("and"):
            self.i += 1
            parts.append(self._not())
            required += self.required
        self.required = required
        return parts[0] if len(parts) == 1 else sa.and_(*parts)

    def _not(self) -> sa.ColumnElement[bool]:
        if self._peek_word("not"):
            self.i += 1
            negated = sa.not_(self._not())
            self.required = []
            return negated
        return self._atom()

    def _atom(self) -> sa.ColumnElement[bool]:
        tok = self._next("a field such as `params.lr` or `(`")
        if tok.kind == "lp":
            inner = self._or()
            closing = self._next("`)`")
            if closing.kind != "rp":
                self._fail("expected `)`", closing)
            return inner
        field = self._field(tok)
        op = self._next("an operator (= != < <= > >= ~)")
        if op.kind != "op":
            self._fail(f"expected an operator after `{tok.text}`, found `{op.text}`", op)
        value = self._value(self._next("a value"))
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise FilterError(f"The filter has more than {MAX_TERMS} comparisons; simplify it.")
        self.required = ([MetricBound(field.key, op.text, value)] if field.scope == "metrics"
                         and isinstance(value, float) and op.text in _BOUNDS else [])
        if field.scope == "metrics" and field.key in self.joined:
            return _joined_metric(self.joined[field.key], field.key, op.text, value)
        return comparison(field, op.text, value, self.dialect, summary=self.summary,
                          count=self.count)

    def _field(self, tok: Token) -> Field:
        if tok.kind != "word":
            self._fail(f"expected a field such as `params.lr`, found `{tok.text}`", tok)
        word = tok.text.lower()
        if word in SCOPES:
            dot = self._next("`.` and a key")
            if dot.kind != "dot":
                self._fail(f"expected `.` after `{tok.text}`", dot)
            key = self._next("a key")
            if key.kind == "str":
                return Field(word, _unquote(key.text))
            if key.kind not in ("word", "num"):
                self._fail(f"expected a key after `{tok.text}.`", key)
            name = key.text
            while self.i + 1 < len(self.tokens) and self.tokens[self.i].kind == "dot" \
                    and self.tokens[self.i + 1].kind in ("word", "num") \
                    and self.tokens[self.i + 1].pos == self.tokens[self.i].pos + 1:
                name += "." + self.tokens[self.i + 1].text
                self.i += 2
            return Field(word, name)
        if word in RUN_FIELDS:
            return Field("run", word)
        hint = close_matches(word, [*SCOPES, *RUN_FIELDS])
        self._fail(
            f"unknown field `{tok.text}`; use params.<key>, metrics.<key>, tags.<key> or one "
            f"of {', '.join(RUN_FIELDS)}{hint}", tok,
        )
        raise AssertionError("unreachable")

    def _value(self, tok: Token) -> Any:
        if tok.kind == "num":
            return float(tok.text)
        if tok.kind == "str":
            return _unquote(tok.text)
        if tok.kind == "word":
            lowered = tok.text.lower()
            return {"true": True, "false": False, "null": None, "none": None}.get(
                lowered, tok.text
            )
        self._fail(f"expected a value, found `{tok.text}`", tok)
        raise AssertionError("unreachable")

    def _next(self, expected: str) -> Token:
        if self.i >= len(self.tokens):
            raise FilterError(
                f"The filter `{self.text}` ends early: expected {expected} at its end."
            )
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def _fail(self, message: str, tok: Token) -> None:
        raise FilterError(
            f"Cannot read the filter `{self.text}` at position {tok.pos + 1}: {message}. "
            "Example: `params.lr > 0.01 and metrics.auc >= 0.9 and tags.team = risk`."
        )


def comparison(field: Field, op: str, value: Any, dialect: str, *,
               summary: bool = False, count: Counter | None = None) -> sa.ColumnElement[bool]:
    """One bound comparison on a run field, param, tag or last metric value.

    Params, tags and metrics are semi-joins, ``runs.id IN (SELECT run_id ... WHERE
    key = :k AND value <op> :v)``: one range of an index per filter, instead of one
    correlated lookup per run; metrics read ``latest_metrics``, never the history.
    """
    op = "=" if op == "==" else op
    if field.scope == "metrics":
        if not isinstance(value, float) and value is not None:
            raise FilterError(
                f"metrics.{field.key} {op} {value!r}: metrics are numbers; compare with a number."
            )
        if count is not None and dialect == "sqlite" and value is not None:
            return _metric_check(field.key, op, value, count)
        return _semi_join(t.latest_metrics, field.key, op, value, lambda column: column)
    if field.scope == "params":
        if isinstance(value, float):
            return _semi_join(t.params, field.key, op, value, lambda c: numeric(c, dialect))
        if op == "~" or value is None:
            return _semi_join(t.params, field.key, op, value, lambda c: c)
        return _semi_join(t.params, field.key, op, json.dumps(value), lambda c: c)
    if field.scope == "tags":
        if isinstance(value, float) and op not in ("=", "!=", "~"):
            return _semi_join(t.tags, field.key, op, value, lambda c: numeric(c, dialect))
        return _semi_join(t.tags, field.key, op, None if value is None else _text(value),
                          lambda c: c)
    return _run_clause(field.key, op, value)


def _semi_join(table: sa.Table, key: str, op: str, value: Any,
               convert: Any) -> sa.ColumnElement[bool]:
    """``runs.id IN (rows of table with this key whose value compares)``; ``= null``
    means no such row (or a NULL value), as a correlated NULL comparison would."""
    keyed = sa.select(table.c.run_id).where(table.c.key == key)
    if value is None and op in ("=", "!="):
        present = keyed.where(table.c.value.is_not(None))
        return t.runs.c.id.not_in(present) if op == "=" else t.runs.c.id.in_(present)
    if value is None:
        raise FilterError(f"{key} {op} null: only = and != work with null.")
    return t.runs.c.id.in_(keyed.where(_compare(convert(table.c.value), op, value)))


def _joined_metric(column: Any, key: str, op: str, value: Any) -> sa.ColumnElement[bool]:
    """A comparison on the metric's joined last value (see ``parse_filter``'s
    ``joined``); ``= null`` is a NULL (NaN) value, as the run has the row."""
    op = "=" if op == "==" else op
    if not isinstance(value, float) and value is not None:
        raise FilterError(
            f"metrics.{key} {op} {value!r}: metrics are numbers; compare with a number.")
    if value is None and op not in ("=", "!="):
        raise FilterError(f"{key} {op} null: only = and != work with null.")
    return _compare(column, op, value)


def _metric_check(key: str, op: str, value: float, count: Counter) -> sa.ColumnElement[bool]:
    """A metric comparison on SQLite, as a list (IN) when it matches few runs, as a
    run-by-run check (EXISTS) when it matches many (see ``parse_filter``'s ``count``)."""
    last = t.latest_metrics
    compared = _compare(last.c.value, op, value)
    matching = sa.select(last.c.run_id).where(last.c.key == key, compared)
    if count(matching.limit(DENSE_MATCHES)) < DENSE_MATCHES:
        return t.runs.c.id.in_(matching)
    return sa.exists().where(last.c.run_id == t.runs.c.id, last.c.key == key, compared)


def capped_counter(conn: Any) -> Counter:
    """A ``Counter`` on an open connection."""
    return lambda select: int(conn.execute(
        sa.select(sa.func.count()).select_from(select.subquery())).scalar_one())


def last_metric_value(key: str) -> sa.ScalarSelect[Any]:
    """The last logged value of a run's metric (latest write, as Store.last_metrics):
    one primary-key lookup in ``latest_metrics``."""
    last = t.latest_metrics
    return (
        sa.select(last.c.value)
        .where(last.c.run_id == t.runs.c.id, last.c.key == key)
        .correlate(t.runs)
        .scalar_subquery()
    )


def numeric(column: Any, dialect: str) -> sa.ColumnElement[Any]:
    """A text column as a number, NULL where it is not numeric (on both backends)."""
    if dialect == "postgresql":
        pattern = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"
        return sa.case(
            (column.op("~")(sa.literal(pattern)), sa.cast(column, sa.Double)), else_=None
        )
    # Nested so json_type never sees malformed JSON (it would raise, not return NULL).
    inner = sa.case(
        (sa.func.json_type(column).in_(["integer", "real"]), sa.cast(column, sa.Double)),
        else_=None,
    )
    return sa.case((sa.func.json_valid(column) == 1, inner), else_=None)


def _run_clause(name: str, op: str, value: Any) -> sa.ColumnElement[bool]:
    if name == "status" and op in ("=", "!="):
        clause = status_clause(str(value).upper())
        return clause if op == "=" else sa.not_(clause)
    column = {
        "name": t.runs.c.name, "kind": t.runs.c.kind, "id": t.runs.c.id,
        "experiment": t.experiments.c.name, "status": t.runs.c.status,
    }[name]
    return _compare(column, op, None if value is None else _text(value))


def status_clause(status: str) -> sa.ColumnElement[bool]:
    """A status filter with the store's liveness rule (stale RUNNING = CRASHED)."""
    try:
        return store_status_clause(status)
    except NotFoundError as exc:
        raise FilterError(str(exc) + close_matches(status, t.RUN_STATUSES)) from exc


def _compare(column: Any, op: str, value: Any) -> sa.ColumnElement[bool]:
    if value is None:
        if op == "=":
            return column.is_(None)
        if op == "!=":
            return column.is_not(None)
    if op == "~":
        return column.contains(str(value), autoescape=True)
    bound: sa.BindParameter[Any] = sa.bindparam(None, value, unique=True)
    return {
        "=": column == bound, "!=": column != bound, "<": column < bound,
        "<=": column <= bound, ">": column > bound, ">=": column >= bound,
    }[op]


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", r"\1", body)
