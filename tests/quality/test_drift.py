"""Drift verdicts on synthetic shifts with fixed seeds."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from lockgate.errors import ConfigError
from lockgate.quality import DriftConfig, ProfileError, drift, profile


def _normal(seed: int, n: int, mean: float = 0.0, std: float = 1.0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame({"x": rng.normal(mean, std, n),
                         "c": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])})


def test_no_alarm_on_a_resample_of_the_reference_at_1m_rows() -> None:
    reference = _normal(0, 1_000_000)
    resample = reference.sample(1_000_000, with_replacement=True, seed=1)
    report = drift(reference, resample)
    assert not report.drifted and report.drifted_features == []
    x = report.feature("x")
    # 1M rows: KS from the sketches (exact_ks_rows), with its error bound stated.
    assert not x.exact and 0 < x.ks_error < 0.002 and x.psi < 0.01 and x.statistic < 0.01


def test_no_alarm_on_a_tiny_irrelevant_shift_at_1m_rows() -> None:
    # 0.02 std is highly significant at this size, but not an effect anyone should act on.
    report = drift(_normal(0, 1_000_000), _normal(1, 1_000_000, mean=0.02))
    assert report.feature("x").p_value < 1e-6
    assert not report.feature("x").drifted


def test_detects_a_0_2_std_mean_shift_at_100k_rows() -> None:
    report = drift(_normal(2, 100_000), _normal(3, 100_000, mean=0.2))
    x = report.feature("x")
    assert x.drifted and x.statistic == pytest.approx(0.2, abs=0.02)
    assert x.ks is not None and x.wasserstein == pytest.approx(0.2, abs=0.02)
    assert not report.feature("c").drifted
    assert report.share_drifted == 0.5 and report.drifted


def test_profiles_give_the_same_verdicts_as_frames() -> None:
    a, b = _normal(2, 100_000), _normal(3, 100_000, mean=0.2)
    from_frames, from_profiles = drift(a, b), drift(profile(a), profile(b))
    assert from_frames.drifted_features == from_profiles.drifted_features == ["x"]
    assert not from_profiles.feature("x").exact
    assert from_profiles.feature("x").ks == pytest.approx(from_frames.feature("x").ks, abs=2e-3)


def test_detects_a_variance_change() -> None:
    report = drift(_normal(4, 50_000), _normal(5, 50_000, std=1.5))
    assert report.feature("x").drifted


def test_large_shift_on_a_handful_of_rows_is_not_called_drift() -> None:
    report = drift(_normal(6, 8), _normal(7, 8, mean=0.3))
    x = report.feature("x")
    assert x.statistic > 0.1 and not x.drifted and "too small" in x.reason


def test_new_category_is_listed_and_drifts() -> None:
    rng = np.random.default_rng(8)
    reference = pl.DataFrame({"c": rng.choice(["a", "b"], 20_000)})
    current = pl.DataFrame({"c": rng.choice(["a", "b", "z"], 20_000, p=[0.4925, 0.4925, 0.015])})
    c = drift(reference, current).feature("c")
    assert c.new_categories == ("z",) and c.vanished_categories == ()
    # Jensen-Shannon and PSI stay under their thresholds: the new category alone drifts it.
    assert c.js < 0.1 and c.psi < 0.25
    assert c.drifted and c.chi2 is not None and "new categories hold 1." in c.reason


def test_vanished_category_is_listed() -> None:
    reference = pl.DataFrame({"c": ["a", "b", "c"] * 1000})
    current = pl.DataFrame({"c": ["a", "b"] * 1500})
    c = drift(reference, current).feature("c")
    assert c.vanished_categories == ("c",) and c.drifted


def test_rising_null_share_drifts_a_numeric_column() -> None:
    reference = _normal(9, 20_000)
    values = reference.get_column("x").to_numpy().copy()
    current = pl.DataFrame({"x": pl.Series(values).set(pl.Series(np.arange(20_000) % 5 == 0),
                                                         None)})
    x = drift(reference.select("x"), current).feature("x")
    assert x.psi > 0.25 and x.drifted


def test_keys_and_time_columns_are_skipped_unless_asked() -> None:
    import datetime as dt

    frame = pl.DataFrame({"at": [dt.date(2024, 1, i) for i in range(1, 29)], "v": range(28)})
    report = drift(frame, frame)
    assert [f.name for f in report.features] == ["v"] and "at" not in report.skipped
    report = drift(frame, frame, DriftConfig(include_temporal=True))
    assert {f.name for f in report.features} == {"at", "v"}


def test_unknown_column_and_bad_config_are_refused() -> None:
    frame = _normal(0, 100)
    with pytest.raises(ProfileError, match=r"Columns \['nope'\] are not in both"):
        drift(frame, frame, DriftConfig(columns=("nope",)))
    with pytest.raises(ConfigError, match="bins must be >= 2"):
        DriftConfig(bins=1)


def test_report_to_dict_is_json_able() -> None:
    import json

    report = drift(_normal(0, 1000), _normal(1, 1000, mean=1.0))
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["drifted_features"] == ["x"] and data["config"]["bins"] == 10


def test_identifier_like_text_is_skipped_not_called_drift() -> None:
    reference = pl.DataFrame({"email": [f"user{i}@example.com" for i in range(1000)]})
    current = pl.DataFrame({"email": [f"user{i}@example.com" for i in range(1000, 1100)]})
    report = drift(reference, current)
    assert report.features == [] and not report.drifted
    assert report.skipped["email"].startswith("identifier-like: 1000 distinct values")


def test_exact_ks_matches_scipy_with_and_without_ties() -> None:
    from scipy import stats

    from lockgate.quality.drift import _ks_exact

    rng = np.random.default_rng(11)
    pairs = [(rng.normal(size=3000), rng.normal(0.1, 1, size=2000)),
             (rng.integers(0, 8, 3000).astype(float), rng.integers(0, 10, 1000).astype(float))]
    for a, b in pairs:
        expected = stats.ks_2samp(a, b).statistic
        assert _ks_exact(np.sort(a), np.sort(b)) == pytest.approx(expected, abs=1e-12)


def test_a_column_gone_all_missing_drifts() -> None:
    reference = _normal(12, 5000)
    current = pl.DataFrame({"x": pl.Series([None] * 3000, dtype=pl.Float64),
                            "c": ["a"] * 3000})
    x = drift(reference, current).feature("x")
    assert x.drifted and x.statistic_name == "share_lost_to_missing"
    assert "every current value is missing" in x.reason


def test_large_columns_use_the_sketch_ks_within_its_stated_error() -> None:
    """Above exact_ks_rows KS comes from the sketches: within ks_error of the exact KS,
    and the verdicts are those of the exact test."""
    from scipy import stats

    from lockgate.quality.drift import DriftConfig

    rng = np.random.default_rng(3)
    n = 60_000
    ref = pl.DataFrame({"same": rng.normal(0, 1, n), "moved": rng.normal(0, 1, n),
                        "tiny": rng.normal(0, 1, n)})
    cur = pl.DataFrame({"same": rng.normal(0, 1, n), "moved": rng.normal(0.4, 1, n),
                        "tiny": rng.normal(0.01, 1, n)})
    exact = drift(ref, cur)
    sketched = drift(ref, cur, DriftConfig(exact_ks_rows=10_000))
    assert sketched.drifted_features == exact.drifted_features == ["moved"]
    for name in ref.columns:
        feature = sketched.feature(name)
        truth = stats.ks_2samp(ref[name].to_numpy(), cur[name].to_numpy()).statistic
        assert not feature.exact and 0 < feature.ks_error < 0.01
        assert abs(feature.ks - truth) <= feature.ks_error
        assert exact.feature(name).exact and exact.feature(name).ks_error == 0
