"""Quickstart section: data quality. The quality report of the demo table, then the
training gate refusing a version whose batch check failed, and proceeding with a
recorded override."""

from __future__ import annotations

import polars as pl

from lockgate.data import Contract, ingest
from lockgate.data.training_gate import UnvalidatedDataError, read_for_training
from lockgate.demo.context import DemoContext, QuickstartError
from lockgate.demo.dataset import churn_frame
from lockgate.quality.report import quality_report
from lockgate.quality.stored_profile import version_files
from lockgate.quality.table_profile import profile_files
from lockgate.store import DatasetVersion
from lockgate.tracking import start_run

#: A side table, so the demo's main table stays trainable for the sections after this.
BROKEN_TABLE = "churn_units"
OVERRIDE = "demo: the new CRM export sends tenure in days; the converter ships next sprint"


def run(ctx: DemoContext) -> None:
    """Write the demo table's quality report, then show the gate at work."""
    ctx.heading("Quality: reports, drift, and the gate in front of training")
    table = ctx.results.get("data_table", "churn")
    # The newest version that added rows, so the report has a batch to compare.
    landed = [v for v in ctx.store.dataset_versions(table) if v.rows_accepted]
    latest = landed[-1] if landed else ctx.store.dataset_version(table)
    report = quality_report(table, latest.version, settings=ctx.settings)
    html_path, json_path = report.write(ctx.workdir / "quality" / table)
    _say_report(ctx, report.data)
    ctx.console.print(f"  Report of {latest.ref}: [bold]{html_path}[/] (and {json_path.name})")
    ctx.hint("Write it again, or any version's", f"lockgate data report {table}@"
             f"{latest.version} --open")
    ctx.results.update(quality_report_html=str(html_path), quality_report_json=str(json_path))
    _partition_profile(ctx, latest)
    _gate(ctx)


def _partition_profile(ctx: DemoContext, found: DatasetVersion) -> None:
    """The table's profile computed per data file and merged: what a Ray cluster's
    workers do for a large table (``executor=RayExecutor()``), here in this process."""
    files = version_files(found, "snapshot", ctx.settings)
    contract = Contract.from_dict(found.details["contract"])
    merged = profile_files(files, contract)
    ctx.console.print(f"  Profile of {found.ref}: {merged.rows} rows, merged from "
                      f"{len(files.files)} per-file profiles (on Ray: one task per file, "
                      "merged on the driver)")
    ctx.results.update(quality_partition_profile=merged, quality_partition_files=len(files.files))


def _say_report(ctx: DemoContext, data: dict) -> None:
    checks, drift = data["checks"], data["drift"]
    ctx.console.print(f"  {data['dataset']['ref']}: validation "
                      f"{data['dataset']['validation_status']}, {checks['ok']}/{checks['total']}"
                      f" checks ok, {data['quarantine']['rows']} rows quarantined")
    if drift.get("compared"):
        drifted = ", ".join(drift["drifted_features"]) or "no column"
        ctx.console.print(f"  drift of {drift['current']} vs {drift['reference']}: "
                          f"{drifted} drifted ({drift['share_drifted']:.0%})")


def _gate(ctx: DemoContext) -> None:
    contract_path = ctx.results.get("data_contract_path")
    contract = Contract.from_yaml(contract_path) if contract_path else None
    if contract is None:
        from lockgate.demo.dataset import CONTRACT

        contract = Contract.from_yaml(CONTRACT)
    contract = contract.with_changes(table=BROKEN_TABLE)
    good = ingest(churn_frame(400, seed=11), BROKEN_TABLE, contract, settings=ctx.settings)
    days = churn_frame(400, seed=12, start_id=401).with_columns(
        (pl.col("tenure_months").cast(pl.Int64) * 30).cast(pl.String))
    bad = ingest(days, BROKEN_TABLE, contract, settings=ctx.settings)
    if good.dataset_version is None or bad.dataset_version is None:
        raise QuickstartError("quality", "two new dataset versions", "nothing new landed")
    ctx.console.print(
        f"  {BROKEN_TABLE}@v{good.version}: validation "
        f"{good.dataset_version.validation_status}; {BROKEN_TABLE}@v{bad.version} (tenure sent "
        f"in days): validation {bad.dataset_version.validation_status}")
    try:
        read_for_training(BROKEN_TABLE, settings=ctx.settings)
    except UnvalidatedDataError as refused:
        ctx.console.print("  [bold red]Training gate refused:[/]")
        ctx.console.print("    " + str(refused).replace("\n", "\n    "), highlight=False,
                          markup=False)
    else:  # pragma: no cover - the demo data is built to fail
        raise AssertionError(f"{BROKEN_TABLE}@v{bad.version} should have been refused")
    with start_run("train-on-unvalidated", experiment="quickstart", settings=ctx.settings,
                   capture_console=False, sample_hardware=False) as tracked:
        frame = read_for_training(BROKEN_TABLE, settings=ctx.settings, run=tracked,
                                  allow_unvalidated=OVERRIDE)
    edge = ctx.store.lineage(run_id=tracked.id)[0]
    ctx.console.print(f"  With allow_unvalidated=...: read {frame.height} rows; run "
                      f"[bold]{tracked.id}[/] records it. Lineage note: {edge.note}")
    ctx.results.update(quality_broken_table=BROKEN_TABLE, quality_override_run_id=tracked.id)
    ctx.hint("Why it was refused", f"lockgate data report {BROKEN_TABLE}@{bad.version}")
    ctx.hint("The override in lineage", f"lockgate lineage {tracked.id}")
