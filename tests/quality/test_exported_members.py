"""The public surface of lockgate.quality is a decision, not an accident."""

from __future__ import annotations

import lockgate.quality as quality


def test_exported_members() -> None:
    assert sorted(quality.__all__) == [
        "ColumnProfile", "DistinctSketch", "DriftConfig", "DriftReport", "FeatureDrift",
        "Profile", "ProfileError", "QualityReport", "QuantileSketch", "batch_profile_for",
        "drift", "profile", "profile_for", "quality_report",
    ]
    for name in quality.__all__:
        assert getattr(quality, name) is not None
