"""``lockgate audit``: re-evaluate a user's own workflow honestly and show the claimed
score next to the honest one, with every leakage finding."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from lockgate.cli.app import console, print_json, settings
from lockgate.modeling.audit import AuditError, AuditReport, audit
from lockgate.modeling.estimator_spec import load_estimator, parse_assignments


def audit_command(
    data: str = typer.Argument(..., help="The table: a CSV/Parquet file or `table@vN`."),
    target: str = typer.Option(..., "--target", "-t", help="The label column."),
    workflow: str | None = typer.Option(None, "--workflow", "-w",
                                        help="Your own object, `package.module:name` (an "
                                             "estimator, pipeline or search)."),
    estimator: str = typer.Option("hgb-classifier", "--estimator", "-m",
                                  help="Short name or dotted class path, when no --workflow."),
    param: list[str] = typer.Option([], "--set", help="Estimator parameter key=value."),
    grid: list[str] = typer.Option([], "--grid", help="Tune key=v1,v2 (a grid search, "
                                                      "nested in the honest estimate)."),
    claimed: float | None = typer.Option(None, "--claimed", help="The score you report."),
    metric: str | None = typer.Option(None, "--metric", help="roc_auc, accuracy, r2, ..."),
    test: Path | None = typer.Option(None, "--test", help="Your own test rows (then DATA is "
                                                          "the training rows)."),
    reference: Path | None = typer.Option(None, "--reference",
                                          help="A sample of deployment rows (no label)."),
    preprocessed: list[str] = typer.Option([], "--preprocessed",
                                           help="A step already applied to all rows: "
                                                "scaling, imputation, label_imputation, "
                                                "target_encoding, feature_selection, "
                                                "oversampling (optionally step:col1,col2)."),
    after_outcome: list[str] = typer.Option([], "--after-outcome",
                                            help="A column known only after the outcome."),
    time: str | None = typer.Option(None, "--time", help="The event-time column."),
    groups: str | None = typer.Option(None, "--groups", help="The entity column."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Audit a workflow: findings (class, evidence, fix) and the honest estimate."""
    model = _workflow(workflow, estimator, param, grid)
    frame = None if data.count("@") == 1 and not Path(data).exists() else _read(Path(data))
    options: dict[str, Any] = {"train": frame, "test": _read(test)} if test else {
        "data": frame if frame is not None else data}
    report = audit(model, target=target, claimed=claimed, metric=metric,
                   reference=_read(reference) if reference else None,
                   preprocessed=preprocessed, time=time, groups=groups,
                   availability={c: "after_outcome" for c in after_outcome} or None,
                   settings=settings(), **options)
    if as_json:
        print_json(report.to_dict())
        return
    render(report)


def render(report: AuditReport) -> None:
    """The claimed and honest scores side by side, then the findings."""
    honest = report.honest
    table = Table(title=f"Audit ({report.metric}); structure: {report.structure}")
    for name in ("", "score", "95% interval", "evidence"):
        table.add_column(name)
    if report.claimed is not None:
        table.add_row("claimed", f"{report.claimed:.4f}", "", report.claimed_source)
    if honest is not None:
        groups = f", {honest.groups} groups" if honest.groups else ""
        table.add_row("[bold]honest[/]", f"[bold]{honest.value:.4f}[/]",
                      f"{honest.low:.4f} - {honest.high:.4f}",
                      f"{honest.rows} rows{groups}; {honest.protocol}")
    else:
        table.add_row("[bold]honest[/]", "[bold red]none[/]", "", report.no_honest_reason or "")
    console.print(table)
    colour = {"inflated": "bold red", "no_honest_score": "bold red"}.get(report.verdict, "green")
    console.print(f"Verdict: [{colour}]{report.verdict}[/]")
    for finding in report.findings:
        tone = {"blocking": "red", "warning": "yellow"}.get(finding.severity, "dim")
        console.print(f"  [{tone}]{finding.severity}[/] {finding.code}: {finding.message}")


def _workflow(spec: str | None, estimator: str, param: list[str], grid: list[str]) -> Any:
    if spec:
        module, _, name = spec.partition(":")
        if not name:
            raise AuditError(f"--workflow {spec!r}: give `package.module:name`.")
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as exc:
            raise AuditError(f"Cannot load workflow `{spec}`: {exc}.") from exc
    model = load_estimator(estimator, parse_assignments(param))
    if not grid:
        return model
    from sklearn.model_selection import GridSearchCV

    return GridSearchCV(model, parse_assignments(grid, lists=True), cv=3)


def _read(path: Path | None) -> Any:
    import polars as pl

    if path is None:
        return None
    if not path.is_file():
        raise AuditError(f"{path} does not exist.")
    if path.suffix.lower() in (".parquet", ".pq"):
        return pl.read_parquet(path)
    if path.suffix.lower() in (".csv", ".txt", ".tsv"):
        return pl.read_csv(path, separator="\t" if path.suffix.lower() == ".tsv" else ",",
                           infer_schema_length=10_000)
    raise AuditError(f"{path}: read CSV, TSV or Parquet; found `{path.suffix}`.")
