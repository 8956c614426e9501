"""Notebook display of model versions and their gate history."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lockgate.tracking import display as d

if TYPE_CHECKING:
    from lockgate.registry.model_version import ModelVersion, RegistryReader, Transition


def version_html(mv: Any, transitions: list[Any] | None = None) -> str:
    """A version: stage, aliases, package digest, evaluation summary, gate history."""
    details = dict(mv.details or {})
    head = (f"<p>stage <b>{d.esc(mv.stage)}</b> · aliases "
            f"{d.esc(', '.join(mv.aliases) or 'none')} · run {d.esc(mv.run_id)} · package "
            f"sha256 {d.esc(mv.package_sha256[:12])} · registered {d.esc(d.when(mv.created_at))}"
            f" by {d.esc(mv.created_by)}</p>")
    parts = [head]
    metrics = details.get("metrics") or details.get("evaluation", {}).get("metrics")
    if isinstance(metrics, dict):
        parts += [d.heading("Holdout metrics"), d.mapping_table(metrics, "metric")]
    if transitions is not None:
        parts += [d.heading("Stage and gate history"), history_table(transitions)]
    return d.box(f"Model {mv.ref}", *parts)


def history_table(transitions: list[Any]) -> str:
    """Each transition with its gates (passed / failed and why)."""
    rows = []
    for t in transitions:
        gates = "; ".join(f"{g.get('name')}: {'pass' if g.get('passed') else 'FAIL'}"
                          f" ({g.get('reason')})" for g in (t.gates or []))
        rows.append((d.when(t.created_at), f"v{t.version}", t.action,
                     f"{t.from_stage or '—'} → {t.to_stage}", t.actor, gates or "—"))
    return d.table(["when (UTC)", "version", "action", "stage", "by", "gates"], rows)


def version_text(mv: Any) -> str:
    """A plain ``__repr__``."""
    return f"ModelVersion({mv.ref}, stage={mv.stage}, aliases={list(mv.aliases)})"


class VersionHistory:
    """A model version with its stage and gate history, for notebooks."""

    def __init__(self, version: ModelVersion, transitions: list[Transition]) -> None:
        self.version = version
        self.transitions = transitions

    def __repr__(self) -> str:
        lines = [f"{d.when(t.created_at)} v{t.version} {t.action} -> {t.to_stage}"
                 for t in self.transitions]
        return d.text_lines(version_text(self.version), lines)

    def _repr_html_(self) -> str:
        return version_html(self.version, self.transitions)


def version_history(registry: RegistryReader, ref: str) -> VersionHistory:
    """``churn@production`` or ``churn@3`` with every transition of the model (the
    version's own rows and the others', so a rollback reads in context)."""
    mv = registry.resolve(ref)
    return VersionHistory(mv, registry.transitions(mv.name))
