"""Releasing quarantined rows: after a contract fix, re-validate what the door refused
and land the rows that now pass as a new batch, removing them from the quarantine."""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl

from lockgate.config import Settings, load_settings
from lockgate.data import quarantine as q
from lockgate.data import table as delta
from lockgate.data.contract import Contract, check_table_name
from lockgate.data.ingestion import land, resolve_contract, screen
from lockgate.data.source import Batch, records_frame
from lockgate.data.validation import ROW
from lockgate.store import Store, audit


def quarantined(table: str, *, settings: Settings | None = None) -> pl.DataFrame:
    """A table's quarantined rows: qid, batch_id, row, reasons, raw, source, time."""
    settings = settings or load_settings()
    return q.read_quarantine(delta.quarantine_path(settings, check_table_name(table)))


def release(table: str, contract: Contract | str | Path | None = None, *,
            settings: Settings | None = None, run: object = None) -> q.ReleaseResult:
    """Re-validate a table's quarantined rows and land the ones that pass.

    Args:
        table: the table.
        contract: the fixed contract (default: the table's current one).
        settings: lockgate settings.
        run: a tracking Run recorded as producing the new version.

    Returns:
        Rows checked, released, still quarantined, and the new version (if any).
    """
    settings = settings or load_settings()
    path = delta.quarantine_path(settings, check_table_name(table))
    held = q.read_quarantine(path)
    if held.is_empty():
        return q.ReleaseResult(0, 0, 0, None, {})
    resolved = resolve_contract(table, contract, settings)
    frame = records_frame(q.records(held))
    trial = Batch(frame, f"quarantine:{table}", "")
    outcome = screen(trial, resolved, settings).outcome
    failing = set(outcome.quarantined[ROW].to_list())
    passing = [i for i in range(held.height) if i not in failing]
    if not passing:
        return q.ReleaseResult(held.height, 0, held.height, None, outcome.reasons)
    qids = held["qid"].gather(passing).to_list()
    digest = hashlib.sha256("\n".join(sorted(qids)).encode()).hexdigest()
    batch = Batch(frame[passing], f"release:{table}", digest)
    result = land(batch, table, resolved, settings=settings, run=run)
    q.delete(path, qids)
    audit.record(Store.open(settings), "quarantine.released", f"table:{table}",
                 before={"quarantined": held.height},
                 after={"released": result.accepted, "version": result.version})
    remaining = held.height - len(passing)
    return q.ReleaseResult(held.height, result.accepted, remaining + result.quarantined,
                           result.version, outcome.reasons)
