"""The data stage's errors: each also inherits the builtin a caller would expect."""

from __future__ import annotations

from lockgate.errors import LockgateError


class ContractError(LockgateError, ValueError):
    """A contract is missing, malformed, or does not fit the table it is used for."""


class SourceError(LockgateError, ValueError):
    """A source cannot be read: malformed file, wrong format, empty, unknown kind."""


class SourceUnreachableError(LockgateError, ConnectionError):
    """A database or Redis server named by a source cannot be reached."""


class SchemaChangeError(LockgateError, ValueError):
    """A batch's columns differ from the contract and the policy is ``fail``."""

    def __init__(self, message: str, changes: list[str]) -> None:
        super().__init__(message)
        self.changes = changes


class QuarantineShareError(LockgateError, ValueError):
    """More of a batch would be quarantined than the fail threshold allows; the whole
    batch was refused and nothing was written.

    Attributes:
        table, source: where the batch was going and where it came from.
        rows, quarantined: rows checked and rows that failed.
        limit: the allowed share.
        reasons: failing rows per reason code.
    """

    def __init__(self, table: str, source: str, rows: int, quarantined: int, limit: float,
                 reasons: dict[str, int]) -> None:
        top = sorted(reasons.items(), key=lambda kv: -kv[1])[:5]
        shown = ", ".join(f"{code} ({count})" for code, count in top)
        super().__init__(
            f"Refused the whole batch from {source} for table `{table}`: {quarantined} of "
            f"{rows} rows ({quarantined / rows:.0%}) fail the contract, more than "
            f"max_quarantine_share {limit:.0%}. Nothing was written. Most common reasons: "
            f"{shown}. Fix the source (or the contract), or raise the threshold with "
            "`--max-quarantine-share`.")
        self.table, self.source, self.rows = table, source, rows
        self.quarantined, self.limit, self.reasons = quarantined, limit, dict(reasons)
