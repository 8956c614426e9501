"""Promotion to production gated on a shadow period: with ``gates.shadow`` set, a
version must have served as NAME@shadow on enough live (and labeled) requests, and the
refusal names what is missing."""

from __future__ import annotations

from pathlib import Path

import pytest
from lockgate_model_cases import registered

from lockgate.config import Settings
from lockgate.registry import GateConfig, GateFailedError, load_gate_config, promote
from lockgate.registry.gates import ShadowPolicy
from lockgate.registry.shadow_period import ShadowEvidence, shadow_period

POLICY = ShadowPolicy(min_predictions=200, min_seconds=3600, min_agreement=0.8,
                      min_labeled=50)


def test_a_version_that_never_served_in_shadow_is_refused_with_the_way_to_do_it() -> None:
    result = shadow_period("churn", 3, None, POLICY)
    assert not result.passed
    assert "v3 has not served in shadow" in result.reason
    assert "lockgate models alias churn shadow 3" in result.reason


def test_the_refusal_names_every_missing_piece_of_evidence() -> None:
    evidence = ShadowEvidence(3, predictions=120, seconds=600.0, agreement=0.7, labeled=10,
                              difference=-0.2, interval=(-0.3, -0.1))
    result = shadow_period("churn", 3, evidence, POLICY)
    assert not result.passed
    assert result.details["missing"] == [
        "120 of 200 shadow predictions", "600 of 3600 s in shadow",
        "agreement 70% below 80%", "10 of 50 labeled shadow requests",
        "worse than production on labeled requests (accuracy difference -0.200, "
        "95% CI [-0.300, -0.100])"]


def test_enough_evidence_passes() -> None:
    evidence = ShadowEvidence(3, 500, 7200.0, 0.9, 80, 0.05, (-0.01, 0.11))
    result = shadow_period("churn", 3, evidence, POLICY)
    assert result.passed, result.reason
    assert "500 shadow predictions over 7200 s" in result.reason


@pytest.mark.embedded_only("passes its own gate config and shadow evidence, which a server "
                            "refuses (test_remote_registry checks that refusal)")
def test_promotion_to_production_runs_the_gate_only_when_configured(
        settings: Settings) -> None:
    registry, _ = registered(settings, versions=2)
    config = GateConfig(n_bootstrap=100, infra_requests=50, infra_warmup=0,
                        shadow=ShadowPolicy(min_predictions=10))
    staging = promote(registry, "churn", 2, to="staging", config=config, dry_run=True)
    assert "shadow_period" not in [g.name for g in staging.gates]  # production only
    with pytest.raises(GateFailedError, match="shadow_period: v2 has not served in shadow"):
        promote(registry, "churn", 2, config=config)
    assert registry.alias_version("churn", "production") == 1
    shadowed = promote(registry, "churn", 2, config=config, dry_run=True,
                       shadow=ShadowEvidence(2, 50, 60.0, 0.95, 0))
    gate = next(g for g in shadowed.gates if g.name == "shadow_period")
    assert gate.passed, gate.reason


def test_the_policy_is_read_from_lockgate_yaml(tmp_path: Path) -> None:
    path = tmp_path / "lockgate.yaml"
    path.write_text("gates:\n  shadow:\n    min_predictions: 500\n    min_labeled: 30\n")
    config = load_gate_config(path)
    assert config.shadow == ShadowPolicy(min_predictions=500, min_labeled=30)
    path.write_text("gates:\n  shadow:\n    min_predictons: 500\n")
    with pytest.raises(Exception, match="min_predictons"):
        load_gate_config(path)
