"""Data quality: profiles, drift, quality reports and stored profiles per dataset version."""

from lockgate.quality.drift import DriftConfig, DriftReport, FeatureDrift, drift
from lockgate.quality.profile import ColumnProfile, Profile, ProfileError, profile
from lockgate.quality.report import QualityReport, quality_report
from lockgate.quality.sketch import DistinctSketch, QuantileSketch
from lockgate.quality.stored_profile import batch_profile_for, profile_for

__all__ = [
    "ColumnProfile",
    "DistinctSketch",
    "DriftConfig",
    "DriftReport",
    "FeatureDrift",
    "Profile",
    "ProfileError",
    "QualityReport",
    "QuantileSketch",
    "batch_profile_for",
    "drift",
    "profile",
    "profile_for",
    "quality_report",
]
