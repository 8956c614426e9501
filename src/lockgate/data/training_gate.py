"""The training gate: data reaches training only from a dataset version that passed
validation, and its duplicates and conflicting labels are reported before training.

    frame = lg.data.read_for_training("orders", version=3)
    frame = lg.data.read_for_training("orders", version=4,
                                      allow_unvalidated="scale check is a known false alarm")

A refused version raises :class:`UnvalidatedDataError` naming the failing checks and the
command that shows them. An override proceeds and is recorded in the run (param, tag,
note) and in lineage (the note on the consumed edge), so it can never be invisible.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import polars as pl

from lockgate.config import Settings, load_settings
from lockgate.data.check_result import ValidationStatus, check_results, failed_checks
from lockgate.data.finding import Finding, Severity
from lockgate.errors import LockgateError, numbered
from lockgate.store import DatasetVersion, Store
from lockgate.tracking import Run, active_run, start_run

#: Validation statuses the gate lets through without an override.
PASSED = ValidationStatus.PASSED
_EXAMPLES = 3


class UnvalidatedDataError(LockgateError, ValueError):
    """Training was asked to read a dataset version that did not pass validation.

    Attributes:
        ref: the version, e.g. ``orders@v3``.
        status: its validation status ("failed", "not_run"...).
        failing_checks: names of the checks that failed.
    """

    def __init__(self, message: str, *, ref: str, status: str,
                 failing_checks: Sequence[str]) -> None:
        super().__init__(message)
        self.ref = ref
        self.status = status
        self.failing_checks = list(failing_checks)


class TrainingDataWarning(UserWarning):
    """Training data has duplicates or conflicting labels (also recorded in the run)."""


def read_for_training(table: str, version: int | None = None, *,
                      allow_unvalidated: str | None = None, run: Run | None = None,
                      settings: Settings | None = None,
                      target: str | None = None) -> pl.DataFrame:
    """Read a dataset version for training, refusing one that did not pass validation.

    Args:
        table: the table.
        version: its version (default: the newest).
        allow_unvalidated: a reason to train on a failed or never-validated version
            anyway; recorded in the run and in lineage (not needed, and not recorded,
            for a version that passed).
        run: the run that trains (default: the active run; with an override and no run,
            a small run is started to record it).
        settings: lockgate settings.
        target: the label column (default: the contract's ``target``), used to find
            conflicting labels.

    Returns:
        The rows of the version.

    Raises:
        UnvalidatedDataError: the version failed validation or was never validated, and
            no ``allow_unvalidated`` reason was given.
        NotFoundError: no such table or version.
    """
    settings = settings or load_settings()
    store = Store.open(settings)
    found = store.dataset_version(table, version)
    reason = _override_reason(allow_unvalidated)
    if found.validation_status != PASSED and reason is None:
        raise refusal(found)
    from lockgate.data import Contract, read

    frame = read(table, found.version, settings=settings)
    features: list[str] | None = None
    if "contract" in found.details:  # the version's record carries its contract
        contract = Contract.from_dict(found.details["contract"])
        features = [c for c in contract.feature_columns if c in frame.columns]
        target = target or contract.target
    findings = training_findings(frame, features=features, target=target)
    overridden = reason if found.validation_status != PASSED else None
    _record(found, run, overridden, findings, settings)
    for finding in findings:
        warnings.warn(f"{found.ref}: {finding.message}", TrainingDataWarning, stacklevel=2)
    return frame


def refusal(found: DatasetVersion) -> UnvalidatedDataError:
    """The error for a version the gate refuses, naming its failing checks."""
    failing = failing_checks(found)
    command = f"lockgate data report {found.table_name}@{found.version}"
    if found.validation_status == ValidationStatus.NOT_RUN:
        why = "its validation never ran (it was registered without checks)"
    else:
        why = f"its validation {found.validation_status}"
    lines = [f"Refusing to train on {found.ref}: {why}."]
    if failing:
        lines.append(f"{len(failing)} failing check(s):")
        results = check_results(found.checks)
        lines.append(numbered([results[name].describe() for name in failing]))
    lines.append(f"See them with `{command}`. Re-ingest a fixed batch, or train anyway with "
                 f"allow_unvalidated=\"<why>\" (recorded in the run and shown in lineage).")
    return UnvalidatedDataError("\n".join(lines), ref=found.ref,
                                status=found.validation_status, failing_checks=failing)


def failing_checks(found: DatasetVersion) -> list[str]:
    """Names of a version's failed checks, batch-level first (:func:`failed_checks`)."""
    return failed_checks(found.checks)


def training_findings(frame: pl.DataFrame, *, features: Sequence[str] | None = None,
                      target: str | None = None) -> list[Finding]:
    """Exact duplicate rows and conflicting labels (same features, different target).

    Args:
        frame: the training rows.
        features: the feature columns (default: every column except ``target``).
        target: the label column; without it, conflicting labels are not looked for.

    Returns:
        Findings, possibly empty.
    """
    findings = []
    duplicates = frame.height - frame.unique().height
    if duplicates:
        findings.append(Finding(
            "duplicate_rows", Severity.WARNING,
            f"{duplicates} of {frame.height} rows are exact duplicates of another row; "
            "they weigh double in training and can leak between train and test folds.",
            {"duplicate_rows": duplicates, "rows": frame.height},
        ))
    if target is not None and target in frame.columns:
        feature_list = [c for c in (features or frame.columns) if c != target]
        conflict = _conflicting_labels(frame, feature_list, target)
        if conflict is not None:
            findings.append(conflict)
    return findings


def _conflicting_labels(frame: pl.DataFrame, features: list[str],
                        target: str) -> Finding | None:
    if not features:
        return None
    groups = (frame.group_by(features)
              .agg(pl.col(target).n_unique().alias("_labels"), pl.len().alias("_rows"),
                   pl.col(target).unique().sort().alias("_values"))
              .filter(pl.col("_labels") > 1))
    if groups.height == 0:
        return None
    rows = int(groups.get_column("_rows").sum())
    examples = [
        {"features": {k: _plain(row[k]) for k in features},
         "labels": [_plain(v) for v in row["_values"]]}
        for row in groups.head(_EXAMPLES).iter_rows(named=True)
    ]
    return Finding(
        "conflicting_labels", Severity.WARNING,
        f"{groups.height} feature combinations ({rows} rows) carry more than one value of "
        f"`{target}`: the same input with different labels caps achievable accuracy and "
        "often means a join or labelling error.",
        {"groups": groups.height, "rows": rows, "target": target, "examples": examples},
    )


def _override_reason(allow_unvalidated: str | None) -> str | None:
    if allow_unvalidated is None:
        return None
    if not isinstance(allow_unvalidated, str) or not allow_unvalidated.strip():
        raise UnvalidatedDataError(
            "allow_unvalidated needs the reason as text, e.g. allow_unvalidated=\"scale "
            "check is a false alarm: prices moved to cents in v4\"; it is recorded in the "
            "run and in lineage.", ref="", status="", failing_checks=())
    return allow_unvalidated.strip()


def _record(found: DatasetVersion, run: Run | None, override: str | None,
            findings: list[Finding], settings: Settings) -> None:
    run = run or active_run()
    own = None
    if run is None and override is not None:
        own = run = start_run(f"read_for_training {found.ref}", experiment="data-gate",
                              settings=settings, capture_console=False,
                              sample_hardware=False, capture_code=False)
    if run is None:
        return
    try:
        note = None
        if override is not None:
            note = f"allow_unvalidated: {override} (validation {found.validation_status}; " \
                   f"failing: {', '.join(failing_checks(found)) or 'none recorded'})"
            run.log_params({f"allow_unvalidated[{found.ref}]": override})
            run.set_tags({"unvalidated_data": found.ref})
            run.note(f"Trained on {found.ref} although {note}.")
        run.consumed(found, role="training_data", note=note)
        run.set_tags({"training_data": found.ref})
        if findings:
            run.log_dict({"dataset": found.ref, "findings": [f.to_dict() for f in findings]},
                         "training_data_findings")
            run.set_tags({"data_findings": ",".join(f.code for f in findings)})
    finally:
        if own is not None:
            own.end("FINISHED")




def _plain(value: Any) -> Any:
    return value if isinstance(value, int | float | str | bool) or value is None else str(value)
