"""Feedback: ground truth for earlier predictions, checked before it is stored.

A label is data from outside and becomes training data (``_labeled/NAME``), so it is
held to the target's contract: its type, its allowed values (or, when the contract
declares none, the classes the model was trained on) and its bounds. A label is stored
in the spelling the server writes predictions in (Python's ``str`` of the class), so
``true``, ``"yes"`` and ``True`` are one label of a boolean target.

Duplicates: the latest label per request id wins, everywhere: a later request corrects
an earlier one (the monitor's join, the labeled table), and within one request the
later item wins (only it is stored, so readers never have to break a tie).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lockgate.data.contract import Contract
from lockgate.data.normalize import FALSE_TOKENS, TRUE_TOKENS

#: The rule every reader of the feedback log applies, stated once.
DUPLICATE_RULE = "the latest label per request_id wins"


@dataclass(frozen=True, slots=True)
class LabelRule:
    """What a label of one model's target must be.

    Attributes:
        target: the target column's name.
        kind: the target's contract type (``bool``, ``int``, ``category``, ``float``...).
        classes: accepted labels in the served spelling (empty: any value of the type).
        regression: labels are numbers, checked against ``low`` / ``high``.
        low / high: bounds of a regression target (None when the contract gives none).
    """

    target: str
    kind: str
    classes: tuple[str, ...] = ()
    regression: bool = False
    low: float | None = None
    high: float | None = None

    def check(self, value: Any) -> tuple[Any, str | None]:
        """The label in the served spelling, or an error message saying why not."""
        if self.regression:
            return self._number(value)
        text = self._spelling(value)
        if text is None:
            return None, (f"label {value!r} is not a {self.kind} value of target "
                          f"`{self.target}`")
        if self.classes and text not in self.classes:
            close = difflib.get_close_matches(text, self.classes, n=1)
            hint = f" (did you mean `{close[0]}`?)" if close else ""
            return None, (f"label `{text}` is not a class of target `{self.target}`{hint}; "
                          f"expected one of: {', '.join(self.classes)}")
        return text, None

    def json_values(self) -> tuple[Any, ...]:
        """The accepted labels as a request may spell them: the served text, and the
        JSON boolean or integer it stands for (for the request schema)."""
        if self.regression or not self.classes:
            return ()
        native: list[Any] = []
        if self.kind == "bool":
            native = [c == "True" for c in self.classes]
        elif self.kind == "int":
            native = [int(c) for c in self.classes]
        return (*self.classes, *native)

    def _spelling(self, value: Any) -> str | None:
        if self.kind == "bool":
            if isinstance(value, bool):
                return str(value)
            lowered = str(value).strip().lower() if isinstance(value, str) else None
            if lowered in TRUE_TOKENS:
                return "True"
            return "False" if lowered in FALSE_TOKENS else None
        if self.kind == "int":
            if isinstance(value, bool):
                return None
            if isinstance(value, int):
                return str(value)
            text = value.strip() if isinstance(value, str) else ""
            return str(int(text)) if text.lstrip("-").isdigit() else None
        return value if isinstance(value, str) else None

    def _number(self, value: Any) -> tuple[Any, str | None]:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
                value):
            return None, f"label {value!r} is not a finite number (target `{self.target}`)"
        if (self.low is not None and value < self.low) or (
                self.high is not None and value > self.high):
            return None, (f"label {value} is outside the contract's range [{self.low}, "
                          f"{self.high}] of target `{self.target}`")
        return float(value), None


def label_rule(contract: Contract, classes: Sequence[Any] | None,
               problem_type: str) -> LabelRule:
    """The rule for one model: contract target spec plus the model's classes (a contract
    without a target names the label ``label`` and types it by the problem)."""
    target = contract.target or "label"
    spec = contract.column(target) if target in contract.column_names else None
    kind = spec.type if spec else ("float" if problem_type == "regression" else "string")
    if problem_type == "regression":
        low, high = (spec.bound("min"), spec.bound("max")) if spec else (None, None)
        return LabelRule(target, kind, (), True, low, high)
    allowed = (spec.allowed_json if spec else None) or [
        c.item() if hasattr(c, "item") else c for c in (classes if classes is not None else [])]
    probe = LabelRule(target, kind)
    spelled = (probe._spelling(v) for v in allowed)
    return LabelRule(target, kind, tuple(s for s in spelled if s is not None))


def check_items(rule: LabelRule, items: Sequence[Mapping[str, Any]], *, many: bool
                ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Check every item's label; of items repeating a request id, keep the last.

    Returns:
        ``(items with canonical labels, errors)``; errors name the field and the reason.
    """
    errors: list[dict[str, Any]] = []
    latest: dict[str, Any] = {}
    for i, item in enumerate(items):
        label, problem = rule.check(item["label"])
        if problem is not None:
            errors.append({"field": (f"items.{i}." if many else "") + "label",
                           "type": "label_value", "message": problem})
        latest.pop(item["request_id"], None)  # re-insert: order follows the last item
        latest[item["request_id"]] = label
    return [{"request_id": rid, "label": label} for rid, label in latest.items()], errors
