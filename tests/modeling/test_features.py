"""Features from the contract: the estimator contract of our transformer, and one
pipeline that behaves the same on Polars and pandas input."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import parametrize_with_checks

from lockgate.data import ColumnSpec
from lockgate.modeling.features import (
    CalendarFeatures,
    FeatureError,
    as_category_strings,
    build_pipeline,
    build_preprocessor,
)
from tests.modeling.datasets import churn, churn_contract


@parametrize_with_checks([CalendarFeatures(), CalendarFeatures(parts=("year", "dayofyear"))])
def test_calendar_features_follow_the_estimator_contract(estimator, check) -> None:
    check(estimator)


def test_calendar_parts_of_dates_and_datetimes() -> None:
    frame = pl.DataFrame({"d": [dt.date(2024, 2, 29), None],
                          "t": [dt.datetime(2023, 12, 31, 23, 5), dt.datetime(2020, 1, 6, 7)]})
    out = CalendarFeatures(parts=("year", "month", "day", "weekday", "hour")).fit(frame)
    values = out.transform(frame)
    assert values[0, :5].tolist() == [2024, 2, 29, 3, 0]
    assert np.isnan(values[1, :5]).all()
    assert values[1, 5:].tolist() == [2020, 1, 6, 0, 7]
    assert out.get_feature_names_out()[:2].tolist() == ["d_year", "d_month"]
    assert np.array_equal(values, out.transform(frame.to_pandas()), equal_nan=True)


def test_unknown_calendar_part_is_refused() -> None:
    with pytest.raises(FeatureError, match=r"unknown parts \['fortnight'\]"):
        CalendarFeatures(parts=("fortnight",)).fit(np.zeros((3, 1)))


def test_missing_category_is_the_same_from_polars_and_pandas() -> None:
    frame = pl.DataFrame({"c": ["a", None, "b"]})
    assert as_category_strings(frame).ravel().tolist() == ["a", "__missing__", "b"]
    assert as_category_strings(frame.to_pandas()).ravel().tolist() == ["a", "__missing__", "b"]


def test_pipeline_predicts_the_same_on_polars_and_pandas() -> None:
    frame = churn(300)
    pipeline = build_pipeline(churn_contract(), LogisticRegression(max_iter=500))
    pipeline.fit(frame.drop("churned"), frame["churned"].to_numpy())
    new = churn(50, seed=9).drop("churned").with_columns(
        pl.when(pl.col("tenure") > 60).then(pl.lit("enterprise")).otherwise(pl.col("plan"))
        .alias("plan"))  # a category never seen in training
    from_polars = pipeline.predict_proba(new)
    from_pandas = pipeline.predict_proba(new.to_pandas())
    assert np.allclose(from_polars, from_pandas)
    names = pipeline[0].get_feature_names_out().tolist()
    assert "numeric__tenure" in names and "datetime__signup_year" in names
    assert "boolean__paperless" in names


def test_preprocessing_is_fit_inside_the_pipeline_only() -> None:
    pipeline = build_pipeline(churn_contract(), LogisticRegression())
    assert pipeline[0].transformers[0][1][0].__class__.__name__ == "SimpleImputer"
    assert not hasattr(pipeline[0], "transformers_")  # unfitted: fit happens per fold


def test_bad_features_are_refused_with_the_known_columns() -> None:
    with pytest.raises(FeatureError, match=r"Features \['tenur'\] are not columns"):
        build_preprocessor(churn_contract(), features=["tenur"])
    with pytest.raises(FeatureError, match="categorical='binary'"):
        build_preprocessor(churn_contract(), categorical="binary")
    with pytest.raises(FeatureError, match="has no `fit`"):
        build_pipeline(churn_contract(), object())


def test_ordinal_encoding_handles_unknown_categories() -> None:
    contract = churn_contract(columns=(ColumnSpec("customer_id", "int"),
                                       ColumnSpec("plan", "category"),
                                       ColumnSpec("churned", "bool")))
    pre = build_preprocessor(contract, categorical="ordinal")
    pre.fit(pl.DataFrame({"plan": ["a", "b", None]}))
    assert pre.transform(pl.DataFrame({"plan": ["zzz"]})).tolist() == [[-1.0]]


def test_datetime64_columns_give_the_same_parts_as_their_text() -> None:
    stamps = [dt.datetime(2024, 2, 29, 13, 5), None, dt.datetime(1999, 12, 31, 23, 59)]
    native = pl.DataFrame({"at": stamps}).to_pandas()  # datetime64[us] with NaT
    text = pd.DataFrame({"at": ["2024-02-29 13:05:00", None, "1999-12-31 23:59:00"]})
    parts = ("year", "month", "day", "weekday", "dayofyear", "hour", "minute")
    from_native = CalendarFeatures(parts=parts).fit(native).transform(native)
    from_text = CalendarFeatures(parts=parts).fit(text).transform(text)
    np.testing.assert_array_equal(from_native, from_text)
    assert from_native[0].tolist() == [2024, 2, 29, 3, 60, 13, 5]
    assert np.isnan(from_native[1]).all()
