"""Searching runs from Python: ``lg.search_runs(filter, order_by, experiment,
max_results)``, one row per run: the store's search (:mod:`lockgate.store.run_search`,
the dashboard's filter language as bound SQL) as a DataFrame.

    lg.search_runs("params.lr > 0.01 and metrics.auc >= 0.9", order_by="metrics.auc DESC")

Columns: ``run_id, experiment, name, status, kind, parent_id, start_time, end_time,
duration_s``, then ``metrics.<key>`` (last value; the first ``order_by`` metric first),
``params.<key>`` and ``tags.<key>``. A Polars DataFrame, or pandas with
``output="pandas"``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from lockgate.config import Settings, load_settings
from lockgate.store import RunRecord, Store
from lockgate.store.run_filter import FilterError
from lockgate.store.run_search import find_runs, primary_metric, run_params, run_tags

if TYPE_CHECKING:  # Polars is imported when a frame is built: the CLI lists runs without it.
    import polars as pl

Output = Literal["polars", "pandas"]


def search_runs(filter: str = "", order_by: str | Sequence[str] | None = None,
                experiment: str | Sequence[str] | None = None, max_results: int = 1000, *,
                include_steps: bool = False, output: Output = "polars",
                settings: Settings | None = None) -> Any:
    """Runs matching ``filter``, as a DataFrame, newest first unless ``order_by`` says.

    Args:
        filter: the dashboard's language, e.g. ``params.lr > 0.01 and metrics.auc >= 0.9``.
        order_by: ``"metrics.auc DESC"``, ``"params.lr"``, ``"start_time ASC"`` or a
            list of them; runs without the key come last.
        experiment: one experiment name or several.
        max_results: at most this many rows (1 to 100,000).
        include_steps: also pipeline steps (child runs).
        output: ``"polars"`` (default) or ``"pandas"``.

    Raises:
        FilterError: the filter or an order key cannot be read (the message says where).
        NotFoundError: an experiment does not exist (with close matches).
    """
    if output not in ("polars", "pandas"):
        raise FilterError(f"output={output!r}: choose 'polars' or 'pandas'.")
    store = Store.open(settings or load_settings())
    runs = find_runs(store, filter, order_by, experiment, max_results,
                     include_steps=include_steps)
    frame = runs_frame(store, runs, primary=primary_metric(order_by))
    return frame.to_pandas() if output == "pandas" else frame


def runs_frame(store: Store, runs: Sequence[RunRecord], *, primary: str | None = None,
               ) -> pl.DataFrame:
    """One row per run: run columns, last metrics, params and tags (typed per column)."""
    import polars as pl

    ids = [r.id for r in runs]
    metrics = store.last_metrics(ids)
    params = run_params(store, ids)
    tags = run_tags(store, ids)
    metric_keys = sorted({k for m in metrics.values() for k in m},
                         key=lambda k: (k != primary, k))
    columns: dict[str, list[Any]] = {
        "run_id": ids, "experiment": [r.experiment for r in runs],
        "name": [r.name for r in runs], "status": [r.status for r in runs],
        "kind": [r.kind for r in runs], "parent_id": [r.parent_id for r in runs],
        "start_time": [r.start_time for r in runs], "end_time": [r.end_time for r in runs],
        "duration_s": [r.duration for r in runs],
    }
    for key in metric_keys:
        columns[f"metrics.{key}"] = [metrics[i].get(key) for i in ids]
    for prefix, values in (("params", params), ("tags", tags)):
        for key in sorted({k for v in values.values() for k in v}):
            columns[f"{prefix}.{key}"] = _typed([values[i].get(key) for i in ids])
    frame = pl.DataFrame({k: pl.Series(k, v, strict=False) for k, v in columns.items()})
    return frame.with_columns(
        pl.from_epoch(pl.col("start_time").cast(pl.Float64) * 1e6, time_unit="us")
        .dt.replace_time_zone("UTC"),
        pl.from_epoch(pl.col("end_time").cast(pl.Float64) * 1e6, time_unit="us")
        .dt.replace_time_zone("UTC"),
    )


def _typed(values: list[Any]) -> list[Any]:
    """One type per column: numbers stay numbers, anything mixed or nested becomes text."""
    present = [v for v in values if v is not None]
    if all(isinstance(v, bool) for v in present):
        return values
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return values
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return [None if v is None else float(v) for v in values]
    return [None if v is None else (v if isinstance(v, str) else json.dumps(v))
            for v in values]


def params_that_differ(params: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Param keys whose value is not the same on every run (missing counts as a value)."""
    keys = sorted({k for p in params.values() for k in p})
    return [k for k in keys
            if len({json.dumps(p.get(k), sort_keys=True, default=str)
                    for p in params.values()}) > 1]
