"""Findings: something about data or a model a person should know, with how bad it is
and the numbers behind it. One record for every stage that reports them: the training
gate (duplicate rows, conflicting labels) and modeling's leakage checks and audit."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """How bad a finding is: ``blocking`` refuses (a leak), ``warning`` proceeds and
    says so, ``info`` is context."""

    BLOCKING = "blocking"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Finding:
    """One finding.

    Attributes:
        code: what was found (``duplicate_rows``, ``target_proxy``, ``time_overlap``...).
        severity: a :class:`Severity` (stored as its text).
        message: one readable sentence that says what to do.
        evidence: counts and a few examples.
    """

    code: str
    severity: Severity
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.severity, Severity):  # written as text: "warning"
            try:
                object.__setattr__(self, "severity", Severity(self.severity))
            except ValueError:
                raise ValueError(f"Finding `{self.code}`: severity {self.severity!r} is not "
                                 f"one of {', '.join(Severity)}.") from None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (``code``, ``severity``, ``message``, ``evidence``)."""
        return {**asdict(self), "severity": str(self.severity)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        """Read the stored form back."""
        return cls(data["code"], Severity(data["severity"]), data["message"],
                   dict(data.get("evidence", {})))

    def _repr_html_(self) -> str:
        from lockgate.tracking import display as d

        css = "bad" if self.severity is Severity.BLOCKING else ""
        return d.box(f"Finding {self.code}",
                     f'<p><span class="{css}">{d.esc(self.severity)}</span>: '
                     f"{d.esc(self.message)}</p>",
                     d.mapping_table({k: _short(v) for k, v in self.evidence.items()},
                                     "evidence"))


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 200 else text[:199] + "…"
