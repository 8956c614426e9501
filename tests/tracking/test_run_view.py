"""``lg.get_run``: a past run read back, artifacts materialized, outputs and lineage."""

from __future__ import annotations

import polars as pl
import pytest

import lockgate as lg
from lockgate.config import Settings
from lockgate.errors import NotFoundError
from lockgate.tracking.display import reset_plotly


def _run(settings: Settings) -> str:
    with lg.start_run("fit", experiment="churn", params={"lr": 0.1, "layers": [8, 4]},
                      settings=settings, sample_hardware=False) as run:
        for step in range(3):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
        run.log_frame(pl.DataFrame({"x": [1, 2, 3]}), "scores")
        run.log_dict({"threshold": 0.4}, "config")
        run.log_dict({"threshold": 0.5}, "config")
    return run.id


def test_params_metrics_artifacts(settings: Settings) -> None:
    run_id = _run(settings)
    run = lg.get_run(run_id[:6], settings=settings)
    assert run.id == run_id
    assert run.params == {"lr": 0.1, "layers": [8, 4]}
    assert run.metrics.filter(pl.col("key") == "loss")["step"].to_list() == [0, 1, 2]
    assert run.summary["loss"] == pytest.approx(1 / 3)
    assert run.artifact("scores").equals(pl.DataFrame({"x": [1, 2, 3]}))
    assert run.artifact("config") == {"threshold": 0.5}  # the latest of that name
    with pytest.raises(NotFoundError, match="Did you mean `scores`"):
        run.artifact("score")
    assert set(run.outputs) == {"scores", "config"}


def test_unknown_run_is_named(settings: Settings) -> None:
    _run(settings)
    with pytest.raises(NotFoundError):
        lg.get_run("ffffffffffff", settings=settings)


def test_displays_escape_and_show_what_matters(settings: Settings) -> None:
    run_id = _run(settings)
    with lg.start_run("<b>bold</b>", experiment="churn", params={"lr": 0.2},
                      settings=settings, sample_hardware=False) as other:
        other.log_metric("loss", 0.2)
    reset_plotly()
    html = lg.get_run(run_id, settings=settings)._repr_html_()
    assert "loss" in html and "scores" in html and "FINISHED" in html
    text = repr(lg.get_run(other.id, settings=settings))
    assert "<b>bold</b>" in text
    assert "<b>bold</b>" not in lg.get_run(other.id, settings=settings)._repr_html_()
    comparison = lg.compare_runs(run_id, other.id, settings=settings)
    assert comparison.differing_params() == ["layers", "lr"]
    assert "Params that differ" in comparison._repr_html_()
    assert "Comparison of 2 runs" in repr(comparison)
