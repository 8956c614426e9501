"""Run tags written as ``key=value``: on the command line (``lockgate run --tag``,
``lockgate runs list --tag``) and in the dashboard's URL (``?tag=team=ml``). One parser,
so every place accepts and refuses the same text."""

from __future__ import annotations

from lockgate.errors import TrackingError


class TagError(TrackingError):
    """A tag that is not ``key=value`` with a non-empty key."""


def parse_tag(text: str) -> tuple[str, str]:
    """``"team=ml"`` → ``("team", "ml")``; the value may be empty or contain ``=``.

    Raises:
        TagError: no ``=``, or nothing (or only spaces) before it.
    """
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise TagError(f"Tag `{text}` must look like key=value: a non-empty key, `=`, "
                       "then the value (which may be empty).")
    return key, value
