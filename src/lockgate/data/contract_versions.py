"""Contract versions of a table: applying a fixed contract in place, so the next
ingestion, release and training see it, with the version recorded in the table's history.

A contract change lands as a Delta commit with no rows carrying the new contract (so the
table's history says when the contract changed), registered as a dataset version like
any batch. Asked to, it first re-validates the rows already landed against the new
contract and records the verdict with that version; the rows themselves are not moved.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lockgate.config import Settings, load_settings
from lockgate.data import table as delta
from lockgate.data.check_result import CheckLevel, CheckResult, ValidationStatus
from lockgate.data.contract import Contract, check_table_name, load_contract
from lockgate.data.errors import ContractError
from lockgate.data.ingestion import _register, contract_for, reconcile
from lockgate.data.normalize import map_columns, normalize
from lockgate.data.validation import validate
from lockgate.store import DatasetVersion, Store


@dataclass(frozen=True, slots=True)
class ContractApplied:
    """What ``apply_contract`` recorded.

    Attributes:
        dataset_version: the new version carrying the contract.
        previous_version: the contract version it replaces.
        revalidated: whether the landed rows were checked against it.
        failing: with ``revalidated``, landed rows per failing check.
    """

    dataset_version: DatasetVersion
    previous_version: str
    revalidated: bool
    failing: dict[str, int]


def apply_contract(table: str, contract: Contract | str | Path, *, revalidate: bool = False,
                   settings: Settings | None = None) -> ContractApplied:
    """Record ``contract`` as the table's contract from now on.

    Args:
        table: an ingested table.
        contract: the new contract (object or YAML path); its version must differ.
        revalidate: check the rows already landed against it; the version's validation
            status then says whether they pass (else it carries the previous status).
        settings: lockgate settings.

    Raises:
        ContractError: wrong table, same version, or column types the table cannot take.
        NotFoundError: the table was never ingested.
    """
    settings = settings or load_settings()
    check_table_name(table)
    new = load_contract(contract)
    if new.table != table:
        raise ContractError(f"The contract is for table `{new.table}`, not `{table}`.")
    store = Store.open(settings)
    reconcile(store, settings, table)
    current = store.dataset_version(table)
    old = contract_for(table, settings=settings)
    if new.version == old.version:
        raise ContractError(
            f"Table `{table}` already has contract v{old.version}. Give the changed "
            "contract a new `version:` so every dataset version says which one it used.")
    path = delta.table_path(settings, table)
    landed = delta.open_table(path)
    frame = delta.read_version(path, table)
    typed = normalize(frame, new, map_columns(frame.columns, new))
    delta.check_compatible(landed, table, typed.select(new.column_names).head(0))
    failing: dict[str, int] = {}
    status, checks = current.validation_status, dict(current.checks)
    if revalidate:
        failing = validate(typed, new).reasons
        status = ValidationStatus.FAILED if failing else ValidationStatus.PASSED
        checks = {f"revalidate:{name}": CheckResult(
            f"revalidate:{name}", ValidationStatus.FAILED, CheckLevel.BATCH,
            passed=frame.height - n, failed=n,
            message=f"{n} landed rows fail `{name}` under contract v{new.version}").to_dict()
                  for name, n in failing.items()}
    record = _record(new, old.version, status, checks, revalidate, failing)
    version = delta.commit(path, typed.select(new.column_names).head(0), record,
                           evolve=True, table=landed)
    found = _register(store, table, version, record, None)
    return ContractApplied(found, old.version, revalidate, failing)


def _record(new: Contract, previous: str, status: str, checks: dict[str, Any],
            revalidated: bool, failing: dict[str, int]) -> dict[str, Any]:
    return {
        "batch_id": f"contract-{new.version}-{int(time.time() * 1000):x}",
        "source": f"contract:v{new.version}", "content_hash": None,
        "contract_version": new.version, "rows_ingested": 0, "rows_accepted": 0,
        "rows_quarantined": 0, "validation_status": status, "checks": checks,
        "details": {"contract": new.to_dict(), "contract_given": new.version,
                    "contract_change": {"from": previous, "to": new.version,
                                        "revalidated": revalidated, "failing": failing},
                    "reasons": {}, "warnings": []},
        "landed_at": time.time(),
    }
