"""``lg.search_runs``: the dashboard's filter language from Python, one row per run."""

from __future__ import annotations

import pandas as pd
import polars as pl
import pytest

import lockgate as lg
from lockgate.config import Settings
from lockgate.errors import NotFoundError
from lockgate.store.run_filter import FilterError


def _runs(settings: Settings) -> list[str]:
    ids = []
    for i, (lr, depth, auc) in enumerate([(0.001, 3, 0.71), (0.05, 3, 0.93), (0.2, 5, 0.88),
                                          (0.02, "deep", 0.95)]):
        with lg.start_run(f"r{i}", experiment="churn" if i < 3 else "other",
                          params={"lr": lr, "depth": depth, "seed": 0},
                          capture_console=False, sample_hardware=False,
                          settings=settings) as run:
            run.log_metric("roc_auc", auc - 0.1)
            run.log_metric("roc_auc", auc)
            run.log_metric("loss", 1 - auc)
            run.set_tags({"team": "risk" if i % 2 else "growth"})
        ids.append(run.id)
    return ids


def test_filter_order_and_typed_columns(any_settings: Settings) -> None:
    ids = _runs(any_settings)
    frame = lg.search_runs("params.lr > 0.01 and metrics.roc_auc >= 0.9",
                           order_by="metrics.roc_auc DESC", settings=any_settings)
    assert isinstance(frame, pl.DataFrame)
    assert frame["run_id"].to_list() == [ids[3], ids[1]]
    # The sort key is the first metric column; the last value is shown, not the first.
    metric_columns = [c for c in frame.columns if c.startswith("metrics.")]
    assert metric_columns[0] == "metrics.roc_auc"
    assert frame["metrics.roc_auc"].to_list() == pytest.approx([0.95, 0.93])
    assert frame["tags.team"].to_list() == ["risk", "risk"]
    # A param that is a number on some runs and text on another becomes text, never lost.
    assert frame["params.depth"].to_list() == ["deep", "3"]
    assert frame.schema["start_time"] == pl.Datetime("us", "UTC")


def test_experiment_limit_params_order_and_pandas(settings: Settings) -> None:
    ids = _runs(settings)
    frame = lg.search_runs(experiment="churn", order_by=["params.lr ASC"], max_results=2,
                           output="pandas", settings=settings)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame["run_id"]) == [ids[0], ids[1]]
    assert frame["params.lr"].dtype.kind == "f"
    newest = lg.search_runs(settings=settings)
    assert newest["run_id"].to_list() == ids[::-1]


def test_bad_input_is_named(settings: Settings) -> None:
    _runs(settings)
    with pytest.raises(FilterError, match="ends early"):
        lg.search_runs("params.lr >", settings=settings)
    with pytest.raises(FilterError, match="Did you mean `start_time`"):
        lg.search_runs(order_by="start_tme DESC", settings=settings)
    with pytest.raises(NotFoundError, match="Did you mean `churn`"):
        lg.search_runs(experiment="chrun", settings=settings)
    with pytest.raises(FilterError, match="max_results"):
        lg.search_runs(max_results=0, settings=settings)
    # A filter value is bound, never spliced into the SQL.
    assert lg.search_runs("name = \"x' or 1=1 --\"", settings=settings).height == 0
