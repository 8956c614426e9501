"""Listing tables and their versions, as the store and the Delta logs know them."""

from __future__ import annotations

from lockgate.config import Settings, load_settings
from lockgate.data.errors import ContractError
from lockgate.data.ingestion import reconcile
from lockgate.store import DatasetVersion, Store


def list_tables(*, settings: Settings | None = None) -> list[DatasetVersion]:
    """The latest version of every table."""
    settings = settings or load_settings()
    store = Store.open(settings)
    return [store.dataset_version(name) for name in store.dataset_tables()]


def rows_at(store: Store, version: DatasetVersion) -> int:
    """Rows a reader of ``version`` sees: tables are append-only, so every batch up to
    and including this one (a version's own count is only the rows its batch added)."""
    return sum(v.rows_accepted for v in store.dataset_versions(version.table_name)
               if v.version <= version.version)


def versions(table: str, *, settings: Settings | None = None) -> list[DatasetVersion]:
    """Every version of a table, oldest first (Delta commits the store missed included).

    Raises:
        NotFoundError: the table does not exist.
    """
    settings = settings or load_settings()
    store = Store.open(settings)
    reconcile(store, settings, table)
    store.dataset_version(table)  # raises NotFoundError with close matches
    return store.dataset_versions(table)


def parse_table_ref(text: str) -> tuple[str, int | None]:
    """Split ``orders``, ``orders@3`` or ``orders@v3`` into table and version.

    Raises:
        ContractError: the version part is not a number.
    """
    table, _, version = text.partition("@")
    if not table:
        raise ContractError(f"`{text}` names no table; write TABLE or TABLE@VERSION.")
    if not version:
        return table, None
    digits = version.removeprefix("v")
    if not digits.isdigit():
        raise ContractError(f"Bad version in {text!r}: the version must be a number, as in "
                            f"{table}@3 or {table}@v3.")
    return table, int(digits)
