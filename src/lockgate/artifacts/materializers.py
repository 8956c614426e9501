"""Materializers turn Python values into artifact bytes and back, chosen by type.

Frames go to Parquet, numpy arrays to ``.npy`` (no pickle), scikit-learn estimators to
skops, JSON-able values to JSON, Plotly figures to Plotly JSON. Register more with
:func:`register_materializer`. A format that names types to rebuild (skops) loads through
the type allowlist of :mod:`lockgate.artifacts.trusted_types`, never through the file's
own list.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lockgate.artifacts.trusted_types import TypeAllowlist, allowlist, load_skops
from lockgate.errors import ArtifactError


@dataclass(frozen=True, slots=True)
class Materializer:
    """How one family of types is written and read."""

    name: str
    media_type: str
    extension: str
    handles: Callable[[Any], bool]
    dump: Callable[[Any], bytes]
    load: Callable[[bytes], Any]
    #: For formats that name the types to rebuild: load with the caller's allowlist.
    load_trusted: Callable[[bytes, TypeAllowlist], Any] | None = None


_REGISTRY: list[Materializer] = []


def register_materializer(materializer: Materializer, *, first: bool = True) -> None:
    """Add a materializer; by default it wins over the built-ins for the types it handles."""
    global _REGISTRY
    _REGISTRY = [m for m in _REGISTRY if m.name != materializer.name]
    if first:
        _REGISTRY.insert(0, materializer)
    else:
        _REGISTRY.append(materializer)


def materializer_for(value: object) -> Materializer:
    """The materializer for a value.

    Raises:
        ArtifactError: no registered materializer handles the value's type.
    """
    for materializer in _REGISTRY:
        if materializer.handles(value):
            return materializer
    kind = f"{type(value).__module__}.{type(value).__qualname__}"
    raise ArtifactError(
        f"No materializer for a value of type {kind}. Return a frame, array, estimator, "
        "dict/list, str, bytes or Plotly figure, or register one with "
        "`lockgate.artifacts.register_materializer(Materializer(name=..., handles=..., "
        "dump=..., load=...))`."
    )


def materializer_named(name: str) -> Materializer:
    """The registered materializer called ``name``."""
    for materializer in _REGISTRY:
        if materializer.name == name:
            return materializer
    known = ", ".join(m.name for m in _REGISTRY)
    raise ArtifactError(f"No materializer named `{name}`; registered: {known}.")


def dumps(value: object) -> tuple[bytes, Materializer]:
    """Serialise a value with the materializer its type selects."""
    materializer = materializer_for(value)
    return materializer.dump(value), materializer


def loads(data: bytes, name: str, *, trusted: TypeAllowlist | None = None) -> Any:
    """Deserialise bytes written by the materializer called ``name``.

    Args:
        trusted: the type allowlist for formats that name types (default: lockgate's own
            and the declared ones, without the operator's additions).
    """
    materializer = materializer_named(name)
    if materializer.load_trusted is not None:
        return materializer.load_trusted(data, trusted or allowlist())
    return materializer.load(data)


def skops_trusted_types(data: bytes, trusted: TypeAllowlist | None = None) -> list[str]:
    """The skops ``trusted`` argument for ``data``: its types, every one allowlisted.

    Why: skops rebuilds only what it is told to trust; the list comes from lockgate's
    allowlist and the operator's configuration, never from the file.

    Raises:
        UntrustedTypeError: the blob holds a type outside the allowlist.
        ArtifactError: the bytes are not a skops file.
    """
    return (trusted or allowlist()).check(data)


def _is_polars(value: Any) -> bool:
    return type(value).__module__.startswith("polars") and type(value).__name__ == "DataFrame"


def _is_pandas(value: Any) -> bool:
    return type(value).__module__.startswith("pandas") and type(value).__name__ == "DataFrame"


def _is_numpy(value: Any) -> bool:
    return type(value).__module__ == "numpy" and type(value).__name__ == "ndarray"


def _is_estimator(value: Any) -> bool:
    return hasattr(value, "fit") and hasattr(value, "get_params")


def _is_figure(value: Any) -> bool:
    return type(value).__module__.startswith("plotly") and hasattr(value, "to_plotly_json")


def _is_json(value: Any) -> bool:
    return isinstance(value, dict | list | tuple | int | float | bool) or value is None


def _polars_dump(value: Any) -> bytes:
    buffer = io.BytesIO()
    value.write_parquet(buffer)
    return buffer.getvalue()


def _polars_load(data: bytes) -> Any:
    import polars as pl

    return pl.read_parquet(io.BytesIO(data))


def _pandas_dump(value: Any) -> bytes:
    buffer = io.BytesIO()
    value.to_parquet(buffer, engine="pyarrow")
    return buffer.getvalue()


def _pandas_load(data: bytes) -> Any:
    import pandas as pd

    return pd.read_parquet(io.BytesIO(data), engine="pyarrow")


def _numpy_dump(value: Any) -> bytes:
    import numpy as np

    if value.dtype == object:
        raise ArtifactError("numpy arrays of dtype=object cannot be stored without pickle.")
    buffer = io.BytesIO()
    np.save(buffer, value, allow_pickle=False)
    return buffer.getvalue()


def _numpy_load(data: bytes) -> Any:
    import numpy as np

    return np.load(io.BytesIO(data), allow_pickle=False)


def _skops_dump(value: Any) -> bytes:
    import skops.io as sio

    return sio.dumps(value)


def _skops_load(data: bytes) -> Any:
    return load_skops(data)


def _figure_load(data: bytes) -> Any:
    import plotly.io as pio

    return pio.from_json(data.decode("utf-8"))


def _json_dump(value: Any) -> bytes:
    try:
        return json.dumps(value, sort_keys=True, allow_nan=True).encode("utf-8")
    except TypeError as exc:
        raise ArtifactError(
            f"Value is not JSON-serialisable ({exc}); convert it to plain dicts, lists, "
            "numbers and strings, or register a materializer."
        ) from exc


for _m in (
    Materializer("polars", "application/vnd.apache.parquet", ".parquet", _is_polars,
                 _polars_dump, _polars_load),
    Materializer("pandas", "application/vnd.apache.parquet", ".parquet", _is_pandas,
                 _pandas_dump, _pandas_load),
    Materializer("numpy", "application/x-npy", ".npy", _is_numpy, _numpy_dump, _numpy_load),
    Materializer("plotly", "application/vnd.plotly.v1+json", ".plotly.json", _is_figure,
                 lambda fig: fig.to_json().encode("utf-8"), _figure_load),
    Materializer("skops", "application/x-skops", ".skops", _is_estimator, _skops_dump,
                 _skops_load, load_trusted=lambda data, trusted: load_skops(data, trusted)),
    Materializer("text", "text/plain", ".txt", lambda v: isinstance(v, str),
                 lambda v: v.encode("utf-8"), lambda b: b.decode("utf-8")),
    Materializer("bytes", "application/octet-stream", ".bin",
                 lambda v: isinstance(v, bytes | bytearray), bytes, bytes),
    Materializer("json", "application/json", ".json", _is_json, _json_dump,
                 lambda b: json.loads(b.decode("utf-8"))),
):
    register_materializer(_m, first=False)
