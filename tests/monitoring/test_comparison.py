"""Offline monitoring: the monitor's drift, prediction drift, contract and performance
report on two datasets without a server, from frames, files or tables."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from lockgate.config import Settings
from lockgate.monitoring import WatchedModel
from lockgate.monitoring.comparison import ComparisonError, compare
from tests.monitoring.monitoring_cases import make_frame


def test_drifted_current_data_is_reported_with_model_and_labels(
        settings: Settings, model: WatchedModel) -> None:
    reference = make_frame(1500, seed=1)
    current = make_frame(1500, seed=2, shift=2.0).with_columns(
        pl.when(pl.int_range(pl.len()) < 15).then(-5.0).otherwise(pl.col("amount"))
        .alias("amount"))
    report = compare(reference, current, model=model, settings=settings)
    assert set(report.drifted_features) >= {"amount", "age"}
    assert "country" not in report.drifted_features
    assert report.prediction_drift is not None and report.prediction_drift["psi"] > 0.2
    assert report.violations["__any__"] == 15  # amount below the contract's minimum
    assert report.performance["n_labeled"] == 1500  # the contract's target, by default
    assert "accuracy" in report.performance["metrics"]
    assert report.degradation[0] == "accuracy"
    assert report.summary().startswith(f"{len(report.drifted_features)} of 4 features")


def test_files_compare_like_frames(settings: Settings, model: WatchedModel,
                                  tmp_path: Path) -> None:
    reference, current = make_frame(800, seed=3), make_frame(800, seed=4, shift=1.5)
    reference.write_parquet(tmp_path / "ref.parquet")
    current.write_csv(tmp_path / "cur.csv")  # read as text, typed by the contract
    from_files = compare(str(tmp_path / "ref.parquet"), str(tmp_path / "cur.csv"),
                         model=model, settings=settings)
    from_frames = compare(reference, current, model=model, settings=settings)
    assert from_files.drifted_features == from_frames.drifted_features
    assert abs(from_files.drift[0]["psi"] - from_frames.drift[0]["psi"]) < 1e-9
    assert from_files.current.endswith("cur.csv")


def test_without_a_model_only_the_data_is_compared(settings: Settings) -> None:
    reference, current = make_frame(500, seed=5), make_frame(500, seed=5)
    report = compare(reference.drop("churned"), current.drop("churned"), settings=settings)
    assert report.drifted_features == [] and report.prediction_drift is None
    with pytest.raises(ComparisonError, match="Labels need a model to score"):
        compare(reference, current, labels="churned", settings=settings)


def test_the_cli_prints_the_report(settings: Settings, model: WatchedModel, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    from lockgate.cli.monitor import render_comparison

    render_comparison(compare(make_frame(500, seed=6), make_frame(500, seed=7, shift=2.0),
                              model=model, settings=settings))
    out = capsys.readouterr().out
    assert "amount" in out and "prediction PSI" in out
