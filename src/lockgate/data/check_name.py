"""The names of the row-level checks a contract implies, owned by the door.

A check is named ``<kind>:<column>`` (``null:customer_id``, ``range:amount``,
``duplicate:order_id``); the name is the reason code of a quarantined row and the key
under which every later stage counts the same check (monitoring's live contract checks
count live rows under these names). One vocabulary, so a reason at the door and a
violation after deployment read alike.
"""

from __future__ import annotations

from enum import StrEnum


class CheckKind(StrEnum):
    """What a row-level check tests; the text before the colon of its name."""

    TYPE = "type"  # the value did not cast to the column's type
    PARSE = "parse"  # a date or timestamp did not parse
    NULL = "null"  # a null in a column declared ``nullable: false``
    RANGE = "range"  # outside ``min``/``max``
    ALLOWED = "allowed"  # not one of ``allowed``
    REGEX = "regex"  # does not match ``regex``
    LENGTH = "length"  # longer than ``max_length``
    UNIQUE = "unique"  # repeats a value of a ``unique`` column
    DUPLICATE = "duplicate"  # repeats a primary key
    CONFLICT = "conflict"  # same features as another row, another label


def check_name(kind: CheckKind, column: str) -> str:
    """``<kind>:<column>``, e.g. ``check_name(CheckKind.NULL, "age") == "null:age"``."""
    return f"{kind.value}:{column}"
