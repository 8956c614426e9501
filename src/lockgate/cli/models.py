"""``lockgate models``: register, list, show, promote (gated) and roll back versions.

Exit codes are meant for CI: 0 when the action happened (or a dry run passed every
gate), 1 with the failed gates' reasons otherwise.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import typer
from rich.table import Table

from lockgate.cli.app import console, print_json, settings
from lockgate.errors import numbered
from lockgate.registry import GateResult, ModelVersion, Registry, load_gate_config, promote
from lockgate.registry import rollback as rollback_version
from lockgate.registry.errors import GateFailedError, RegistryError
from lockgate.registry.registration import register_run
from lockgate.store import Store

app = typer.Typer(help="Model registry: versions, stages, gated promotion, rollback.",
                  no_args_is_help=True)


def _registry() -> Registry:
    resolved = settings()
    return Registry(Store.open(resolved), resolved)


@app.command("register")
def register(
    name: str = typer.Argument(..., help="Model name, e.g. churn."),
    run_id: str = typer.Option(..., "--run", help="Training run that logged model + evaluation."),
    contract: str | None = typer.Option(None, "--contract", help="Contract YAML (default: the "
                                        "training table's)."),
    profile: str | None = typer.Option(None, "--profile", help="Reference profile JSON "
                                       "(default: the training table version's)."),
    description: str | None = typer.Option(None, "--description", help="For the model card."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Package a training run and register it as the next version (stage candidate)."""
    mv = register_run(_registry(), name, run_id, contract=contract, reference_profile=profile,
                      description=description)
    if as_json:
        print_json(_version_json(mv))
        return
    console.print(f"Registered [bold]{mv.ref}[/] (candidate) from run {mv.run_id}; package "
                  f"sha256 {mv.package_sha256[:12]}.")


@app.command("list")
def list_models(
    name: str | None = typer.Argument(None, help="Only this model's versions."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List models, or the versions of one model."""
    registry = _registry()
    names = [name] if name else registry.models()
    versions = [mv for n in names for mv in registry.versions(n)]
    if as_json:
        print_json([_version_json(mv) for mv in versions])
        return
    if not versions:
        console.print("No models yet. Register one with `lockgate models register NAME --run "
                      "RUN_ID`.")
        return
    table = Table(title="Models")
    for column in ("model", "version", "stage", "aliases", "metric", "dataset", "run",
                   "created"):
        table.add_column(column)
    for mv in versions:
        metric = mv.details.get("primary_metric")
        value = (mv.details.get("metrics") or {}).get(metric)
        table.add_row(mv.name, str(mv.version), mv.stage, ", ".join(mv.aliases),
                      f"{metric}={value:.4f}" if value is not None else "",
                      str(mv.details.get("dataset", "")), mv.run_id or "", _when(mv.created_at))
    console.print(table)


@app.command("show")
def show(
    ref: str = typer.Argument(..., help="NAME@VERSION, NAME@ALIAS or NAME (production)."),
    card: bool = typer.Option(False, "--card", help="Print the model card."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """One version: stage, aliases, lineage, metrics and the transition history."""
    registry = _registry()
    mv = registry.resolve(ref)
    history = [t for t in registry.transitions(mv.name) if t.version == mv.version]
    notes = [n for n in registry.notes(mv.name) if n.version in (None, mv.version)]
    package = registry.load(mv)
    if as_json:
        print_json(_version_json(mv) | {
            "lineage": package.lineage, "evaluation": package.evaluation,
            "environment": package.environment,
            "history": [_transition_json(t) for t in history],
            "notes": [n.text for n in notes]})
        return
    console.print(f"[bold]{mv.ref}[/]  stage [bold]{mv.stage}[/]  aliases "
                  f"{', '.join(mv.aliases) or '-'}")
    for key, value in sorted(package.lineage.items()):
        console.print(f"  {key}: {value}")
    for key, value in sorted((package.evaluation.get("metrics") or {}).items()):
        console.print(f"  {key} = {value:.4f}")
    table = Table(title="History")
    for column in ("when", "action", "from", "to", "who", "why"):
        table.add_column(column, overflow="fold")
    for step in history:
        table.add_row(_when(step.created_at), step.action, step.from_stage or "", step.to_stage,
                      step.actor or "", step.reason or "")
    console.print(table)
    for item in notes:  # the text view showed no notes although `models note` adds them
        scope = f"v{item.version}" if item.version is not None else "model"
        console.print(f"  note ({scope}, {item.author or '?'}, {_when(item.created_at)}): "
                      f"{item.text}", markup=False, highlight=False)
    if card:
        console.print(package.model_card, markup=False, highlight=False)


@app.command("promote")
def promote_cmd(
    name: str = typer.Argument(..., help="Model name."),
    version: int = typer.Argument(..., help="Version to promote."),
    to: str = typer.Option("production", "--to", help="candidate, staging, production or "
                           "archived."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Run the gates and print them only."),
    margin: float | None = typer.Option(None, "--margin", help="Champion margin (overrides "
                                        "lockgate.yaml gates.margin)."),
    reason: str | None = typer.Option(None, "--reason", help="Why (kept in the history)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Run the promotion gates; move the version only when every gate passes (exit 1 else)."""
    registry = _registry()
    config, shadow = _gate_inputs(registry, name, version, to, margin)
    try:
        result = promote(registry, name, version, to=to, config=config, dry_run=dry_run,
                         reason=reason, shadow=shadow)
    except GateFailedError as exc:
        _render_gates(exc.results, as_json)
        raise
    _render_gates(result.gates, as_json, extra={"promoted": result.promoted,
                                                "dry_run": dry_run})
    if dry_run:
        if not result.passed:  # an error, not typer.Exit: main() turns it into exit code 1
            failed = [f"{r.name}: {r.reason}" for r in result.gates if not r.passed]
            raise GateFailedError(f"Dry run: {name}@{version} would be refused for {to}: "
                                  f"{len(failed)} gate(s) failed\n{numbered(failed)}",
                                  result.gates)
        if not as_json:
            console.print(f"Dry run: {name}@{version} would be promoted to {to}.")
        return
    if not as_json:
        before = f" (was v{result.previous})" if result.previous else ""
        console.print(f"[green]Promoted {name}@{version} to {to}[/]{before}.")


def _gate_inputs(registry: Registry, name: str, version: int, to: str,
                 margin: float | None) -> tuple[Any, Any]:
    """The gate configuration and shadow evidence to judge with: this project's, or
    none through ``lockgate server``, whose own configuration and logs decide."""
    if registry.settings.tracking_uri:
        if margin is not None:
            raise RegistryError(f"--margin is refused through lockgate server "
                                f"({registry.settings.tracking_uri}): the server's lockgate.yaml "
                                "sets the gates. Drop --margin.")
        return None, None
    config = load_gate_config(margin=margin)
    if to != "production" or config.shadow is None:  # gates.shadow in lockgate.yaml
        return config, None
    from lockgate.monitoring.shadow_report import shadow_evidence

    return config, shadow_evidence(registry.settings, name, version)


@app.command("rollback")
def rollback(
    name: str = typer.Argument(..., help="Model name."),
    reason: str | None = typer.Option(None, "--reason", help="Why (kept in the history)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Restore the production version that served before the current one."""
    mv = rollback_version(_registry(), name, reason=reason)
    if as_json:
        print_json(_version_json(mv))
        return
    console.print(f"[yellow]Rolled back[/]: {mv.ref} serves production again.")


@app.command("alias")
def alias_cmd(
    name: str = typer.Argument(..., help="Model name."),
    alias: str = typer.Argument(..., help="A free alias, e.g. `shadow` (stage aliases move "
                                "only through `promote`)."),
    version: int = typer.Argument(..., help="Version the alias points at."),
    reason: str | None = typer.Option(None, "--reason", help="Why (kept in the history)."),
) -> None:
    """Point a free alias at a version; a running server follows `shadow` within a poll."""
    _registry().set_alias(name, alias, version, reason=reason)
    console.print(f"{name}@{alias} -> v{version}.")


@app.command("note")
def note(
    name: str = typer.Argument(..., help="Model name."),
    text: str = typer.Argument(..., help="The note."),
    version: int | None = typer.Option(None, "--version", help="Attach to one version."),
) -> None:
    """Attach a note to a model or one of its versions."""
    _registry().add_note(name, text, version=version)
    console.print("Noted.")


def _render_gates(results: list[GateResult], as_json: bool,
                  extra: dict[str, Any] | None = None) -> None:
    if as_json:
        print_json({"gates": [r.to_dict() for r in results],
                    "passed": all(r.passed for r in results)} | (extra or {}))
        return
    table = Table(title="Promotion gates")
    for column in ("gate", "result", "reason"):
        table.add_column(column, overflow="fold")
    for result in results:
        table.add_row(result.name, "[green]pass[/]" if result.passed else "[red]FAIL[/]",
                      result.reason)
    console.print(table)


def _version_json(mv: ModelVersion) -> dict[str, Any]:
    return {"name": mv.name, "version": mv.version, "ref": mv.ref, "stage": mv.stage,
            "aliases": list(mv.aliases), "run_id": mv.run_id,
            "package_sha256": mv.package_sha256, "details": mv.details,
            "created_by": mv.created_by, "created_at": mv.created_at}


def _transition_json(step: Any) -> dict[str, Any]:
    return {"action": step.action, "from": step.from_stage, "to": step.to_stage,
            "actor": step.actor, "reason": step.reason, "gates": step.gates,
            "at": step.created_at}


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
