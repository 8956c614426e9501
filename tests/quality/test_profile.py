"""Profiles: statistics, merge equals the profile of the concatenation, serialisation."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import polars as pl
import pytest

from lockgate.quality import Profile, ProfileError, profile


@pytest.fixture
def frame() -> pl.DataFrame:
    rng = np.random.default_rng(7)
    n = 60_000
    x = rng.normal(10, 3, n)
    x[rng.random(n) < 0.05] = np.nan
    return pl.DataFrame({
        "x": x,
        "count": rng.integers(0, 40, n),
        "colour": rng.choice(["red", "green", "blue"], n, p=[0.5, 0.3, 0.2]),
        "flag": rng.random(n) < 0.25,
        "at": [dt.datetime(2024, 1, 1) + dt.timedelta(minutes=int(i)) for i in range(n)],
        "maybe": pl.Series(rng.normal(size=n)).set(pl.Series(rng.random(n) < 0.1), None),
    })


def test_profile_statistics_match_polars(frame: pl.DataFrame) -> None:
    result = profile(frame)
    x = result["x"]
    valid = frame.get_column("x").drop_nans()
    assert x.kind == "numeric" and x.count == frame.height
    assert x.nans == frame.get_column("x").is_nan().sum()
    assert x.mean == pytest.approx(valid.mean())
    assert x.std == pytest.approx(valid.std())
    assert x.minimum == valid.min() and x.maximum == valid.max()
    assert x.quantiles((0.5,))[0.5] == pytest.approx(valid.quantile(0.5), abs=0.05)
    assert result["maybe"].nulls == frame.get_column("maybe").null_count()
    assert result["count"].sketch.exact and result["count"].distinct_estimate == 40
    assert result["colour"].categories == dict(
        frame.get_column("colour").value_counts().iter_rows())
    assert result["flag"].kind == "categorical" and set(result["flag"].categories) == {
        "true", "false"}
    assert result["at"].kind == "temporal"
    assert result["at"].minimum == dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp()


def test_merge_equals_profile_of_concatenation_within_sketch_error(
        frame: pl.DataFrame) -> None:
    parts = [frame[:10_000], frame[10_000:35_000], frame[35_000:]]
    merged = profile(parts[0]).merge(profile(parts[1])).merge(profile(parts[2]))
    whole = profile(frame)
    assert merged.rows == whole.rows
    for name, column in whole.columns.items():
        other = merged[name]
        assert (other.count, other.nulls, other.nans) == (column.count, column.nulls,
                                                          column.nans)
        assert other.minimum == column.minimum and other.maximum == column.maximum
        assert other.categories == column.categories
        if column.mean is not None:
            assert other.mean == pytest.approx(column.mean, rel=1e-9)
            assert other.variance == pytest.approx(column.variance, rel=1e-9)
        if column.sketch is not None:
            error = other.sketch.relative_rank_error + column.sketch.relative_rank_error
            probes = column.sketch.quantile(np.linspace(0.01, 0.99, 99))
            assert np.max(np.abs(other.sketch.cdf(probes) - column.sketch.cdf(probes))) \
                <= error + 1e-12
        assert abs(other.distinct_estimate - column.distinct_estimate) \
            <= 0.05 * column.distinct_estimate


def test_merge_with_a_new_column_counts_it_null_before(frame: pl.DataFrame) -> None:
    old = profile(frame.drop("maybe")[:1000])
    new = profile(frame[1000:3000])
    merged = old.merge(new)
    assert merged["maybe"].count == 3000
    assert merged["maybe"].nulls == 1000 + new["maybe"].nulls


def test_merge_refuses_different_kinds() -> None:
    a = profile(pl.DataFrame({"v": [1.0, 2.0]}))
    b = profile(pl.DataFrame({"v": ["x", "y"]}))
    with pytest.raises(ProfileError, match="numeric in one profile and categorical"):
        a.merge(b)


def test_profile_round_trips_through_json(frame: pl.DataFrame) -> None:
    result = profile(frame)
    again = Profile.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again.to_dict() == result.to_dict()


def test_from_dict_refuses_unknown_format() -> None:
    with pytest.raises(ProfileError, match="Not a lockgate profile"):
        Profile.from_dict({"format": "other/9"})


def test_histogram_with_shared_edges_is_comparable(frame: pl.DataFrame) -> None:
    a, b = profile(frame[:30_000]), profile(frame[30_000:])
    edges, counts_a = a["x"].histogram(bins=20)
    _, counts_b = b["x"].histogram(edges)
    assert counts_a.sum() == a["x"].valid and counts_b.sum() == b["x"].valid
    assert len(counts_a) == len(counts_b) == 20


def test_unsupported_column_type_is_refused() -> None:
    with pytest.raises(ProfileError, match="Cannot profile a column of type List"):
        profile(pl.DataFrame({"v": [[1], [2]]}))


def test_empty_and_all_null_columns_profile() -> None:
    result = profile(pl.DataFrame({"v": pl.Series([None, None], dtype=pl.Float64)}))
    assert result["v"].valid == 0 and result["v"].mean is None
    assert profile(pl.DataFrame({"v": pl.Series([], dtype=pl.Int64)}))["v"].count == 0


def test_all_null_profiles_merge() -> None:
    empty = pl.DataFrame({"v": pl.Series([None, None], dtype=pl.Float64)})
    merged = profile(empty).merge(profile(empty))
    assert merged["v"].nulls == 4 and merged["v"].quantiles() == {}
