"""The monitoring config: alert rules, sinks and window settings, read from YAML.

Example ``monitoring.yaml``::

    bucket: 5m              # windows are built from buckets profiled once each
    window: 1h              # default window of `lockgate monitor`
    rules:
      - name: input-drift
        measure: drift.share_drifted
        threshold: 0.3
        window: 1h
        min_samples: 500
        retrain: {pipeline: "pipelines.py:train"}
      - {name: accuracy, measure: performance.accuracy, threshold: 0.8, min_samples: 200}
    sinks:
      - {type: log}
      - {type: jsonl, path: alerts.jsonl}
      - {type: webhook, url: "http://127.0.0.1:9000/alerts", timeout: 5, retries: 3}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lockgate.errors import close_matches, numbered
from lockgate.monitoring.alert_rule import AlertConfigError, AlertRule, parse_rules
from lockgate.monitoring.alert_sink import AlertSink, LogSink, parse_sinks
from lockgate.monitoring.duration import DurationError, format_duration, parse_duration

_KEYS = {"bucket", "window", "baseline", "rules", "sinks", "top_features",
         "degradation_tolerance"}


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    """Everything a monitor needs besides the model and the data.

    Attributes:
        bucket_seconds: size of the buckets a window is merged from (profiled once each).
        window_seconds: default window length.
        baseline_seconds: the first span of live traffic used as the reference for
            prediction drift when the model package carries no prediction profile.
        rules: the alert rules.
        sinks: where alerts go.
        top_features: how many of the most important features count as "important"
            for the no-labels-yet retraining evidence.
        degradation_tolerance: how much worse (in the primary metric's units) live
            performance may be than the evaluation before it counts as degraded.
    """

    bucket_seconds: float = 300.0
    window_seconds: float = 3600.0
    baseline_seconds: float = 3600.0
    rules: tuple[AlertRule, ...] = ()
    sinks: tuple[AlertSink, ...] = field(default_factory=lambda: (LogSink(),))
    top_features: int = 3
    degradation_tolerance: float = 0.05


def default_rules(window: str = "1h") -> list[AlertRule]:
    """Rules used when no config is given: drift, performance, contract, latency."""
    rules, problems = parse_rules([
        {"name": "input-drift", "measure": "drift.share_drifted", "threshold": 0.3,
         "min_samples": 200},
        {"name": "prediction-drift", "measure": "prediction_drift.psi", "threshold": 0.25,
         "min_samples": 200},
        {"name": "performance", "measure": "performance.degradation", "threshold": 0.05,
         "min_samples": 100},
        {"name": "contract", "measure": "contract.violation_rate", "threshold": 0.05,
         "min_samples": 100},
        {"name": "latency", "measure": "latency.p99_ms", "threshold": 500.0,
         "min_samples": 100},
    ], source="defaults", default_window=window)
    if problems:
        raise AlertConfigError(f"Default rules with window {window!r}:\n{numbered(problems)}")
    return rules


def load_config(path: Path | str | None, *, window: str | None = None) -> MonitorConfig:
    """Read a monitoring YAML file (None: the default rules and a log sink).

    Args:
        path: the YAML file, or None.
        window: overrides the file's default ``window`` (rules that set their own
            window keep it).

    Raises:
        AlertConfigError: the file is missing, not YAML, or has problems; every problem
            is listed, numbered, with the fix.
    """
    if path is None:
        return parse_config({"window": window} if window else {}, source="defaults")
    path = Path(path)
    if not path.is_file():
        raise AlertConfigError(f"Monitoring config {path} does not exist. Write one (see "
                               "docs/monitoring.md) or leave out --config for the defaults.")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise AlertConfigError(f"Monitoring config {path} is not valid YAML: {exc}") from exc
    raw = raw or {}
    if window and isinstance(raw, dict):
        raw = {**raw, "window": window}
    return parse_config(raw, source=str(path), base_dir=path.parent)


def parse_config(raw: object, *, source: str = "config", base_dir: Path | None = None
                 ) -> MonitorConfig:
    """Build a :class:`MonitorConfig` from a mapping, checking everything first.

    Raises:
        AlertConfigError: one message listing every problem found.
    """
    if not isinstance(raw, dict):
        raise AlertConfigError(f"{source} must hold a mapping with `rules` and `sinks`, "
                               f"found {type(raw).__name__}.")
    problems = [f"{source}: unknown key `{k}`.{close_matches(str(k), _KEYS)} "
                f"Valid keys: {', '.join(sorted(_KEYS))}." for k in raw if k not in _KEYS]
    durations = {}
    for key, default in (("bucket", "5m"), ("window", "1h"), ("baseline", "1h")):
        try:
            durations[key] = parse_duration(raw.get(key, default), where=f"{source}: {key}")
        except DurationError as exc:
            problems.append(str(exc))
            durations[key] = 1.0
    rules, rule_problems = parse_rules(raw.get("rules"), source=source,
                                       default_window=str(raw.get("window", "1h")))
    problems.extend(rule_problems)
    if "rules" not in raw:
        rules = default_rules(format_duration(durations["window"]))
    sinks, sink_problems = parse_sinks(raw.get("sinks"), source=source, base_dir=base_dir)
    problems.extend(sink_problems)
    bucket = durations["bucket"]
    for rule in rules:
        if rule.window_seconds < bucket or rule.window_seconds % bucket:
            problems.append(f"{source}: rule `{rule.name}` has a window of "
                            f"{rule.window_seconds:g}s, which is not a whole number of "
                            f"buckets ({bucket:g}s). Use a multiple of `bucket`.")
    numbers: dict[str, float] = {}
    defaults: tuple[tuple[str, float], ...] = (("top_features", 3),
                                               ("degradation_tolerance", 0.05))
    for key, fallback in defaults:
        value: Any = raw.get(key, fallback)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            problems.append(f"{source}: `{key}` must be a number >= 0, found {value!r}.")
            value = fallback
        numbers[key] = value
    if problems:
        raise AlertConfigError(f"{len(problems)} problem(s) in monitoring config {source}:\n"
                               f"{numbered(problems)}")
    return MonitorConfig(
        bucket_seconds=bucket, window_seconds=durations["window"],
        baseline_seconds=durations["baseline"], rules=tuple(rules), sinks=tuple(sinks),
        top_features=int(numbers["top_features"]),
        degradation_tolerance=float(numbers["degradation_tolerance"]),
    )
