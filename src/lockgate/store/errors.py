"""The metadata store's errors that carry their fields (the root ones, ``StoreError``
and ``NotFoundError``, are in :mod:`lockgate.errors`)."""

from __future__ import annotations

from lockgate.errors import StoreError


class RowAccountingError(StoreError, ValueError):
    """A dataset version whose rows do not add up: ingested != accepted + quarantined.

    lockgate's core promise is that every ingested row is either accepted or quarantined,
    so the store refuses to record a version that would lose or invent rows.
    """

    headline = "Rows do not add up"

    def __init__(self, table: str, ingested: int, accepted: int, quarantined: int) -> None:
        self.table, self.ingested = table, ingested
        self.accepted, self.quarantined = accepted, quarantined
        super().__init__(
            f"Row accounting broken for {table}: ingested {ingested} != accepted {accepted} "
            f"+ quarantined {quarantined} ({ingested - accepted - quarantined:+d} rows "
            "unaccounted). Nothing was recorded; every ingested row must be accepted or "
            "quarantined, so this is a bug in the code that counted them: report it with "
            "the source that was ingested.")
