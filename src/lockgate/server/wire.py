"""The JSON forms of store records on the wire, shared by the server and the client.

Records are flat frozen dataclasses, so a record travels as its fields; a metric value
that JSON cannot carry (NaN, ±inf) travels as its name and comes back as the float.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, TypeVar

R = TypeVar("R")


def encode(record: Any) -> Any:
    """A record (or a list of them, or plain data) as JSON-able data."""
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return {f.name: encode(getattr(record, f.name)) for f in dataclasses.fields(record)}
    if isinstance(record, list | tuple):
        return [encode(item) for item in record]
    if isinstance(record, dict):
        return {str(k): encode(v) for k, v in record.items()}
    return number(record) if isinstance(record, float) else record


def decode(kind: type[R], data: dict[str, Any]) -> R:
    """A record of ``kind`` from :func:`encode`'s output (unknown fields ignored, so a
    newer server does not break an older client)."""
    names = {f.name for f in dataclasses.fields(kind)}  # type: ignore[arg-type]
    return kind(**{k: real(v) if isinstance(v, str) and k == "value" else v
                   for k, v in data.items() if k in names})


def number(value: float) -> float | str:
    """A float JSON can carry; NaN and ±inf as ``"nan"``, ``"inf"``, ``"-inf"``."""
    return value if math.isfinite(value) else str(value)


def real(value: float | int | str) -> float:
    """The inverse of :func:`number`."""
    return float(value)
