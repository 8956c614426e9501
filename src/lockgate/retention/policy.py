"""Retention policies: how many runs, table versions and prediction-log snapshots to keep.

Policies are operator configuration, read from the ``retention:`` mapping of
``lockgate.yaml`` (or given in code)::

    retention:
      experiments:
        default: {keep_last: 20, max_age: 30d}
      tables:
        "*": {keep_last: 10}
        orders: {keep_last: 5, max_age: 7d}
      predictions:
        churn: {max_age: 14d}

``keep_last`` keeps the newest N; ``max_age`` keeps what is younger; with both, a thing
is kept when either keeps it. ``*`` is the policy of every name without its own. Without
a policy nothing is expired, except prediction logs, whose old snapshots are kept for
:data:`DEFAULT_LOG_MAX_AGE` (a log is read at its latest version; old snapshots are only
small commits awaiting compaction). Nothing lineage protects is ever expired, whatever
the policy says.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lockgate.config import ENV_PREFIX, PROJECT_FILE
from lockgate.errors import ConfigError

PolicyKind = Literal["experiments", "tables", "predictions"]
KINDS: tuple[PolicyKind, ...] = ("experiments", "tables", "predictions")
DEFAULT_LOG_MAX_AGE = 7 * 86400.0
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """What to keep of one experiment, table or prediction log.

    Attributes:
        keep_last: keep the newest N (None: no count limit).
        max_age: keep what is younger than this many seconds (None: no age limit).
        source: where the policy came from, shown with every decision it makes.
    """

    keep_last: int | None = None
    max_age: float | None = None
    source: str = "the default"

    def keeps(self, rank: int, age: float) -> bool:
        """Whether the thing of newest-first ``rank`` (0 = newest) and ``age`` seconds is
        kept. A policy with no limit keeps everything."""
        if self.keep_last is None and self.max_age is None:
            return True
        return ((self.keep_last is not None and rank < self.keep_last)
                or (self.max_age is not None and age < self.max_age))

    def describe(self) -> str:
        """``keep_last=5, max_age=7d`` — how the policy reads in a decision."""
        parts = []
        if self.keep_last is not None:
            parts.append(f"keep_last={self.keep_last}")
        if self.max_age is not None:
            parts.append(f"max_age={format_age(self.max_age)}")
        return ", ".join(parts) or "keep everything"


@dataclass(frozen=True, slots=True)
class Policies:
    """Every retention policy, by kind and name (``*`` for the rest)."""

    experiments: Mapping[str, RetentionPolicy] = field(default_factory=dict)
    tables: Mapping[str, RetentionPolicy] = field(default_factory=dict)
    predictions: Mapping[str, RetentionPolicy] = field(default_factory=dict)

    def for_(self, kind: PolicyKind, name: str) -> RetentionPolicy | None:
        """The policy of one experiment, table or model's prediction log (None: keep
        everything)."""
        chosen: Mapping[str, RetentionPolicy] = getattr(self, kind)
        found = chosen.get(name) or chosen.get("*")
        if found is None and kind == "predictions":
            return RetentionPolicy(max_age=DEFAULT_LOG_MAX_AGE, source="the default for logs")
        return found

    @classmethod
    def from_mapping(cls, raw: object, *, source: str = "code") -> Policies:
        """Policies from a ``retention:`` mapping, every problem listed at once.

        Raises:
            ConfigError: an unknown kind or key, a negative count, an unreadable age.
        """
        if raw is None:
            return cls()
        problems: list[str] = []
        if not isinstance(raw, Mapping):
            raise ConfigError(f"retention in {source} must be a mapping of "
                              f"{', '.join(KINDS)}, found {type(raw).__name__}.")
        parsed: dict[str, dict[str, RetentionPolicy]] = {kind: {} for kind in KINDS}
        for kind, entries in raw.items():
            if kind not in KINDS:
                problems.append(f"unknown section `{kind}` (use {', '.join(KINDS)})")
                continue
            if not isinstance(entries, Mapping):
                problems.append(f"`{kind}` must map names to policies")
                continue
            for name, body in entries.items():
                where = f"retention.{kind}.{name}"
                policy = _policy(body, where, f"{where} in {source}", problems)
                if policy is not None:
                    parsed[kind][str(name)] = policy
        if problems:
            numbered = "; ".join(f"{i}. {p}" for i, p in enumerate(problems, 1))
            raise ConfigError(f"{len(problems)} problem(s) in the retention policies of "
                              f"{source}: {numbered}.")
        return cls(experiments=parsed["experiments"], tables=parsed["tables"],
                   predictions=parsed["predictions"])


def load_policies(project_file: Path | str | None = None) -> Policies:
    """The policies of ``lockgate.yaml`` (``LOCKGATE_PROJECT_FILE`` names another file).

    Raises:
        ConfigError: the file is not YAML or a policy is invalid.
    """
    path = Path(project_file or os.environ.get(f"{ENV_PREFIX}PROJECT_FILE", PROJECT_FILE))
    if not path.is_file():
        return Policies()
    import yaml

    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(loaded, Mapping):
        return Policies()
    return Policies.from_mapping(loaded.get("retention"), source=str(path))


def parse_age(value: Any, where: str) -> float:
    """Seconds from ``90`` (seconds), ``"30m"``, ``"12h"``, ``"7d"`` or ``"2w"``.

    Raises:
        ConfigError: anything else, or a negative age.
    """
    if isinstance(value, bool):
        raise ConfigError(f"{where}: a boolean is not an age; write e.g. 7d or 12h.")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _AGE.match(str(value))
        if match is None:
            raise ConfigError(f"{where}: `{value}` is not an age; write a number of seconds "
                              "or a number with s, m, h, d or w (e.g. 7d).")
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if seconds < 0:
        raise ConfigError(f"{where}: an age cannot be negative ({value}).")
    return seconds


def format_age(seconds: float) -> str:
    """``7d``, ``12h``, ``90s``: the largest unit that divides the age."""
    for unit in ("w", "d", "h", "m"):
        if seconds >= _UNITS[unit] and seconds % _UNITS[unit] == 0:
            return f"{int(seconds // _UNITS[unit])}{unit}"
    return f"{seconds:g}s"


def _policy(body: Any, where: str, origin: str, problems: list[str]) -> RetentionPolicy | None:
    if not isinstance(body, Mapping):
        problems.append(f"{where} must be a mapping with keep_last and/or max_age")
        return None
    unknown = sorted(set(body) - {"keep_last", "max_age"})
    if unknown:
        problems.append(f"{where}: unknown key(s) {unknown} (use keep_last, max_age)")
    keep_last = body.get("keep_last")
    if keep_last is not None and (isinstance(keep_last, bool) or not isinstance(keep_last, int)
                                  or keep_last < 1):
        problems.append(f"{where}.keep_last must be a whole number >= 1, not {keep_last!r}")
        keep_last = None
    max_age = None
    if body.get("max_age") is not None:
        try:
            max_age = parse_age(body["max_age"], f"{where}.max_age")
        except ConfigError as exc:
            problems.append(str(exc))
    return RetentionPolicy(keep_last=keep_last, max_age=max_age, source=origin)
