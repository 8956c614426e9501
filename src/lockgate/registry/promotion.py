"""Promotion and rollback: the only ways a version reaches or leaves production.

``promote`` runs every gate, records the results in the transition history and moves
the alias only when all passed; ``rollback`` restores the version that served before
the current one (repeated rollbacks walk further back).
"""

from __future__ import annotations

from dataclasses import dataclass

from lockgate.errors import numbered
from lockgate.registry import gates as g
from lockgate.registry.errors import GateFailedError, ModelNotFoundError, RegistryError
from lockgate.registry.model_version import STAGES, ModelVersion, Registry, Stage
from lockgate.registry.package import ModelPackage
from lockgate.registry.registry_backend import PromotionRequest
from lockgate.registry.shadow_period import ShadowEvidence, shadow_period

GATED_STAGES = (Stage.STAGING, Stage.PRODUCTION)


@dataclass(frozen=True, slots=True)
class PromotionResult:
    """What a promotion did (or, in a dry run, would do)."""

    model: ModelVersion
    to_stage: str
    gates: list[g.GateResult]
    promoted: bool
    previous: int | None
    dry_run: bool

    @property
    def passed(self) -> bool:
        """Every gate passed."""
        return all(r.passed for r in self.gates)


def run_gates(registry: Registry, mv: ModelVersion, config: g.GateConfig, *,
              to: str = "production", shadow: ShadowEvidence | None = None
              ) -> list[g.GateResult]:
    """Run every promotion gate for ``mv`` against the current production version (and,
    towards production with ``config.shadow`` set, the shadow-period gate on
    ``shadow``)."""
    package = registry.load(mv)
    champion, champion_ref = _champion(registry, mv)
    if registry.alias_version(mv.name, Stage.PRODUCTION) == mv.version:
        # Not "no production version yet": this version *is* production.
        versus = g.GateResult("champion_challenger", True,
                              f"{mv.ref} is already the production version: no other "
                              "version to beat")
    else:
        versus = g.champion_challenger(package, champion, config, champion_ref=champion_ref)
    results = [
        g.data_validated(registry.store, package),
        g.leak_free(package),
        g.thresholds(package, config),
        versus,
    ]
    if to == "production" and config.shadow is not None:
        results.append(shadow_period(mv.name, mv.version, shadow, config.shadow))
    return [*results, g.infra(package, config, registry.artifacts.trusted)]


def promote(registry: Registry, name: str, version: int, *, to: str = Stage.PRODUCTION,
            config: g.GateConfig | None = None, dry_run: bool = False,
            actor: str | None = None, reason: str | None = None,
            raise_on_failure: bool = True,
            shadow: ShadowEvidence | None = None) -> PromotionResult:
    """Run the gates and, when all pass, move ``name@version`` to ``to``.

    Promotion to ``staging`` or ``production`` is gated; ``candidate`` and ``archived``
    are not. A refused promotion is recorded in the history too (action ``refused``).
    With ``config.shadow`` set, production also needs ``shadow``: what the version did
    as ``NAME@shadow`` (:func:`lockgate.monitoring.shadow_report.shadow_evidence`).
    Through ``lockgate server`` the server runs the gates with its own configuration and
    its own shadow evidence: ``config`` and ``shadow`` are then what the caller expects,
    refused when they differ from the server's (an admin's ``config`` is applied, and
    audited as ``gate.configured``).

    Raises:
        GateFailedError: a gate failed (unless ``raise_on_failure=False``); the message
            lists every failed gate and its reason.
        RegistryError: unknown stage.
    """
    if to not in STAGES:
        raise RegistryError(f"Unknown stage `{to}`; stages: {', '.join(STAGES)}.")
    result = registry.backend.promote(registry, PromotionRequest(
        name, version, to, config, dry_run, actor, reason, shadow))
    if raise_on_failure and not result.dry_run and not result.passed:
        failed = [f"{r.name}: {r.reason}" for r in result.gates if not r.passed]
        raise GateFailedError(
            f"Refused to promote {result.model.ref} to {to}: {len(failed)} gate(s) failed\n"
            f"{numbered(failed)}\nSee every gate with `lockgate models promote {name} "
            f"{version} --to {to} --dry-run`.", result.gates)
    return result


def decide_promotion(registry: Registry, request: PromotionRequest) -> PromotionResult:
    """Run the gates here and record the outcome: the stage change when all passed,
    else a ``refused`` transition (the embedded backend's promotion; the server's too)."""
    name, version, to = request.name, request.version, request.to
    mv = registry.get(name, version)
    config = request.config or g.load_gate_config()
    previous = registry.alias_version(name, to) if to in GATED_STAGES else None
    results = run_gates(registry, mv, config, to=to, shadow=request.shadow) \
        if to in GATED_STAGES else []
    gates_json = [r.to_dict() for r in results]
    if request.dry_run:
        return PromotionResult(mv, to, results, False, previous, True)
    if not all(r.passed for r in results):
        registry.transition_refused(name, version, to, actor=request.actor,
                                    reason=request.reason, gates=gates_json)
        return PromotionResult(mv, to, results, False, previous, False)
    moved = registry.transition(name, version, to, action="promote", actor=request.actor,
                                reason=request.reason or f"gates passed for {to}",
                                gates=gates_json)
    return PromotionResult(moved, to, results, True, previous, False)


def rollback(registry: Registry, name: str, *, actor: str | None = None,
             reason: str | None = None) -> ModelVersion:
    """Restore the production version that served before the current one.

    The restored package is verified (hashes) before the alias moves. Gates are not
    re-run: the version passed them when it was promoted, and a rollback is the
    emergency path. Through ``lockgate server`` the server decides which version that is.

    Raises:
        ModelNotFoundError: no production version, or none served before it.
    """
    return registry.backend.rollback(registry, name, actor=actor, reason=reason)


def restore_previous(registry: Registry, name: str, *, actor: str | None = None,
                     reason: str | None = None) -> ModelVersion:
    """:func:`rollback` applied here (the embedded backend's; the server's too)."""
    history = production_history(registry, name)
    current = registry.alias_version(name, Stage.PRODUCTION)
    if current is None or not history:
        raise ModelNotFoundError(f"Model `{name}` has no production version to roll back.")
    if len(history) < 2:
        raise ModelNotFoundError(
            f"{name}@{current} is the first production version of `{name}`; there is no "
            "earlier one to restore. Promote another version instead.")
    target = history[-2]
    registry.load(registry.get(name, target))  # refuse a tampered package before switching
    return registry.transition(name, target, Stage.PRODUCTION, action="rollback", actor=actor,
                               reason=reason or f"rollback from v{current}")


def production_history(registry: Registry, name: str) -> list[int]:
    """Versions that served production, as a stack: each rollback pops the current one."""
    stack: list[int] = []
    for step in registry.transitions(name):
        if step.to_stage != Stage.PRODUCTION:
            continue
        if step.action == "promote":
            stack.append(step.version)
        elif step.action == "rollback" and stack:
            stack.pop()
            if not stack or stack[-1] != step.version:
                stack.append(step.version)
    return stack


def _champion(registry: Registry, mv: ModelVersion) -> tuple[ModelPackage | None, str | None]:
    version = registry.alias_version(mv.name, Stage.PRODUCTION)
    if version is None or version == mv.version:
        return None, None
    return registry.load(registry.get(mv.name, version)), f"{mv.name}@{version}"
