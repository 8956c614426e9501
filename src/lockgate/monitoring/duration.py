"""Durations written as people write them (``90s``, ``5m``, ``1h``, ``7d``), parsed once."""

from __future__ import annotations

import re

from lockgate.errors import LockgateError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


class DurationError(LockgateError, ValueError):
    """A duration string is not ``<number><s|m|h|d|w>``."""


def parse_duration(text: str | float | int, *, where: str = "duration") -> float:
    """Seconds in ``text`` (``"5m"`` -> 300.0); a bare number is seconds.

    Raises:
        DurationError: the text is not a positive duration; the message names ``where``.
    """
    if isinstance(text, bool):
        raise DurationError(f"{where}: expected a duration like `5m`, found {text!r}.")
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        match = _PATTERN.match(str(text))
        if not match:
            raise DurationError(
                f"{where}: `{text}` is not a duration. Write a number and a unit, "
                "e.g. `30s`, `5m`, `1h`, `1d` or `1w`."
            )
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise DurationError(f"{where}: the duration must be positive, found {text!r}.")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest exact spelling of ``seconds`` (``3600`` -> ``"1h"``)."""
    for unit in ("w", "d", "h", "m"):
        size = _UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
