"""Check results: the typed record of one validation check, as written by the door
(``data.validation`` and ``data.ingestion``) and read by every later stage.

The stored form (``dataset_versions.checks``, JSON) is unchanged: ``{name: {"passed",
"failed", "level", "ok", "message"?, ...}}``. It is read in exactly one place,
:meth:`CheckResult.from_dict`, so the training gate, the promotion gate, root cause, the
quality report and the dashboard cannot disagree about which checks failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ValidationStatus(StrEnum):
    """A dataset version's verdict, and each check's."""

    PASSED = "passed"
    FAILED = "failed"
    #: the version was registered without running the door's checks
    NOT_RUN = "not_run"


class CheckLevel(StrEnum):
    """Where a check applies: each row (failures are quarantined row by row) or the
    whole batch (a failure fails the version)."""

    ROW = "row"
    BATCH = "batch"


#: Keys of the stored form that the record has fields for; the rest go to ``details``.
_FIELDS = ("passed", "failed", "level", "ok", "message")


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check of one batch.

    Attributes:
        name: the reason code (``range:amount``, ``schema``, ``scale:amount``).
        status: ``failed`` only when the check fails the version (a batch-level check
            that did not hold); a row-level check whose failing rows were quarantined
            has ``passed``, with the rows counted in ``failed``.
        level: ``row`` or ``batch``.
        passed: rows (or, batch level, items) that passed.
        failed: rows (or items) that failed.
        message: why, for a batch-level finding.
        details: anything else recorded (a schema check's policy and changes).
    """

    name: str
    status: ValidationStatus
    level: CheckLevel = CheckLevel.ROW
    passed: int = 0
    failed: int = 0
    message: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the check held (it does not fail the version)."""
        return self.status is not ValidationStatus.FAILED

    def to_dict(self) -> dict[str, Any]:
        """The stored form (the layout ``dataset_versions.checks`` has always had)."""
        out: dict[str, Any] = {"passed": self.passed, "failed": self.failed,
                               "level": str(self.level), "ok": self.ok}
        if self.message is not None:
            out["message"] = self.message
        return {**out, **self.details}

    @classmethod
    def from_dict(cls, name: str, data: Any) -> CheckResult:
        """Read one stored check. The one rule: ``ok`` decides; a record without ``ok``
        (written by hand or by another tool) has failed when it counts failures, and a
        value that is not a mapping at all is a failed check, never a silent pass."""
        if not isinstance(data, Mapping):
            return cls(name, ValidationStatus.FAILED, message=f"unreadable check record "
                       f"{data!r}")
        failed = _count(data.get("failed"))
        ok = data["ok"] if isinstance(data.get("ok"), bool) else failed == 0
        level = CheckLevel.BATCH if data.get("level") == "batch" else CheckLevel.ROW
        message = data.get("message")
        return cls(name, ValidationStatus.PASSED if ok else ValidationStatus.FAILED, level,
                   _count(data.get("passed")), failed,
                   None if message is None else str(message),
                   {k: v for k, v in data.items() if k not in _FIELDS})

    def describe(self) -> str:
        """One line for an error or a log: name, level, counts and the message."""
        text = f"{self.name} ({self.level}): {self.passed} passed, {self.failed} failed"
        return f"{text} — {self.message}" if self.message else text


def check_results(checks: Mapping[str, Any] | None) -> dict[str, CheckResult]:
    """Every stored check of a version as a record, by name."""
    return {str(name): CheckResult.from_dict(str(name), data)
            for name, data in (checks or {}).items()}


def failed_checks(checks: Mapping[str, Any] | None) -> list[str]:
    """Names of the checks that failed the version, batch-level first, then by name."""
    results = check_results(checks)
    return sorted((r.name for r in results.values() if not r.ok),
                  key=lambda n: (results[n].level is not CheckLevel.BATCH, n))


def _count(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0
