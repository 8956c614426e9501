"""Quickstart section: retention that follows lineage. ``gc --dry-run`` over the whole
quickstart store explains every decision; the production model's package and training
inputs are kept, naming the alias; deleting its training run is refused; ``du`` shows
where the space goes."""

from __future__ import annotations

from lockgate.demo.context import DemoContext
from lockgate.retention import RunDeletionError, collect_garbage, delete_runs, disk_usage
from lockgate.retention.protection import model_refs

SECTION = "retention"


def run(ctx: DemoContext) -> None:
    """Dry-run gc, check the reasons it gives for the production model, refuse a delete."""
    ctx.heading("Retention: gc --dry-run and du")
    report = collect_garbage(dry_run=True, settings=ctx.settings)
    ctx.results["gc_report"] = report
    unexplained = [d for d in report.decisions if not d.reason]
    ctx.expect(not unexplained, SECTION, "a reason for every gc decision",
               f"{len(unexplained)} without one, e.g. {unexplained[:1]}")
    production = next((m for m in model_refs(ctx.store) if "production" in m.aliases), None)
    ctx.expect(production is not None, SECTION, "a production model to protect", "none")
    if production is None:
        return
    package = ctx.store.artifact(production.artifact_id)
    why = [d.reason for d in report.about(package.sha256)]
    ctx.expect(why == [f"package of {production.label}"], SECTION,
               f"the package of {production.label} kept as its package", f"{why}")
    inputs = [d for d in report.kept if d.subject == "version"
              and f"upstream of {production.label}" in d.reason]
    ctx.expect(bool(inputs), SECTION,
               f"the training inputs of {production.label} kept through lineage",
               "no table version kept for it")
    ctx.console.print(f"  {len(report.decisions)} decisions, {len(report.kept)} kept (each "
                      f"with its reason), {len(report.removed)} to remove or compact, e.g.:")
    for decision in [*report.about(package.sha256), *inputs[:2]]:
        ctx.console.print(f"    keep {decision.subject} {decision.target[:24]}: "
                          f"{decision.reason}")
    try:
        delete_runs([production.run_id or ""], store=ctx.store)
        refused = ""
    except RunDeletionError as exc:
        refused = str(exc)
    ctx.expect(production.label in refused, SECTION,
               f"deleting the training run of {production.label} refused, naming it",
               refused or "the run was deleted")
    ctx.console.print(f"  `lockgate runs delete {(production.run_id or '')[:8]}` is refused: "
                      f"it trained {production.label}.")
    usage = disk_usage(settings=ctx.settings)
    models = {u.name for u in usage.of("model")}
    ctx.expect(production.name in models and usage.total_bytes > 0, SECTION,
               f"du to show the space of model `{production.name}`", f"models {models}")
    top = [*usage.of("experiment")[:2], *usage.of("table")[:2], *usage.of("model")[:1]]
    for line in top:
        ctx.console.print(f"  du {line.kind} {line.name}: {line.bytes / 1e6:.2f} MB "
                          f"({line.items} {line.detail})")
    ctx.console.print(f"  du total: {usage.total_bytes / 1e6:.1f} MB")
    ctx.hint("Every decision, and why each kept thing is kept", "lockgate gc --dry-run")
    ctx.hint("Space per experiment, table, model and log", "lockgate du")
