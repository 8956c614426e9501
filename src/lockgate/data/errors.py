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
