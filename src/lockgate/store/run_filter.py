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


def parse_filter(expression: str, *, dialect: str = "sqlite",
                 summary: bool = False) -> sa.ColumnElement[bool] | None:
    """Turn a filter expression into a SQLAlchemy condition on ``runs``.

    Args:
        expression: the text typed in the filter box; empty means no filter.
        dialect: ``sqlite`` or ``postgresql``; numeric casts differ.
        summary: kept for callers written before ``latest_metrics``; ignored, since
            metric conditions always read that table (it is current at write time).

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
    return _Parser(text, dialect, summary).parse()


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


class _Parser:
    """Recursive descent: or > and > not > comparison | ( expr )."""

    def __init__(self, text: str, dialect: str, summary: bool) -> None:
        self.text = text
        self.dialect = dialect
        self.summary = summary
        self.tokens = tokenize(text)
        self.i = 0
        self.terms = 0

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
        return parts[0] if len(parts) == 1 else sa.or_(*parts)

    def _and(self) -> sa.ColumnElement[bool]:
        parts = [self._not()]
        while self._peek_word("and"):
            self.i += 1
            parts.append(self._not())
        return parts[0] if len(parts) == 1 else sa.and_(*parts)

    def _not(self) -> sa.ColumnElement[bool]:
        if self._peek_word("not"):
            self.i += 1
            return sa.not_(self._not())
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
        return comparison(field, op.text, value, self.dialect, summary=self.summary)

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
               summary: bool = False) -> sa.ColumnElement[bool]:
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
