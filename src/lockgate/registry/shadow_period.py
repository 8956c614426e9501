"""The shadow-period gate: a version reaches production only after serving in shadow
long enough to be trusted on live traffic.

The policy (``gates.shadow`` in lockgate.yaml) says what evidence is enough: a number of
shadow predictions, a duration, agreement with the production version and, where
labels came back, accuracy not worse than production's on the same labeled requests.
The evidence (:class:`ShadowEvidence`) is read from the shadow log by the monitoring
stage (:func:`lockgate.monitoring.shadow_report.shadow_evidence`) and handed to
``promote``; the registry only judges it, so it never reads a stage to its right. A
refusal names each missing piece and how far along it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from lockgate.registry.gates import GateResult, ShadowPolicy

__all__ = ["GATE", "ShadowEvidence", "ShadowPolicy", "shadow_period"]

GATE = "shadow_period"


@dataclass(frozen=True, slots=True)
class ShadowEvidence:
    """What a version did while it served in shadow."""

    version: int
    predictions: int
    seconds: float
    agreement: float | None
    labeled: int
    difference: float | None = None
    interval: tuple[float, float] | None = None


def shadow_period(name: str, version: int, evidence: ShadowEvidence | None,
                  policy: ShadowPolicy) -> GateResult:
    """Judge a version's shadow period against the policy; the reason lists what is
    missing."""
    hint = (f"serve it as {name}@shadow (`lockgate models alias {name} shadow {version}`"
            "; a running server follows it) and let traffic and labels accumulate")
    if evidence is None or evidence.predictions == 0:
        return GateResult(GATE, False, f"v{version} has not served in shadow: {hint}",
                          {"policy": policy.model_dump()})
    missing = _missing(evidence, policy)
    details = {"policy": policy.model_dump(), "evidence": _as_dict(evidence),
               "missing": missing}
    if missing:
        return GateResult(GATE, False, f"shadow period incomplete for v{version}: "
                          + "; ".join(missing) + f" ({hint})", details)
    summary = (f"{evidence.predictions} shadow predictions over {evidence.seconds:.0f} s"
               + (f", agreement {evidence.agreement:.0%}" if evidence.agreement is not None
                  else "")
               + (f", {evidence.labeled} labeled, accuracy difference "
                  f"{evidence.difference:+.3f}" if evidence.difference is not None else ""))
    return GateResult(GATE, True, summary, details)


def _missing(evidence: ShadowEvidence, policy: ShadowPolicy) -> list[str]:
    out = []
    if evidence.predictions < policy.min_predictions:
        out.append(f"{evidence.predictions} of {policy.min_predictions} shadow predictions")
    if evidence.seconds < policy.min_seconds:
        out.append(f"{evidence.seconds:.0f} of {policy.min_seconds:.0f} s in shadow")
    if policy.min_agreement is not None and (evidence.agreement or 0) < policy.min_agreement:
        out.append(f"agreement {evidence.agreement or 0:.0%} below "
                   f"{policy.min_agreement:.0%}")
    if evidence.labeled < policy.min_labeled:
        out.append(f"{evidence.labeled} of {policy.min_labeled} labeled shadow requests")
    if policy.not_worse and evidence.interval is not None and evidence.interval[1] < 0:
        low, high = evidence.interval
        out.append(f"worse than production on labeled requests (accuracy difference "
                   f"{evidence.difference:+.3f}, 95% CI [{low:+.3f}, {high:+.3f}])")
    return out


def _as_dict(evidence: ShadowEvidence) -> dict[str, object]:
    from dataclasses import asdict

    return asdict(evidence)
