"""A monitor pass run by ``lockgate server`` for one of its clients.

The prediction log and feedback tables a pass reads live under the server's data root,
so a client (``LOCKGATE_TRACKING_URI`` set) cannot measure them itself: it asks the
server to (``POST /api/v1/monitoring/models/{name}/passes``, a writer of the model),
and gets the same :class:`~lockgate.monitoring.monitor.MonitorRun` back.

The caller's monitoring config travels with the request, as data: its rules,
thresholds, windows and tolerances (:data:`REQUEST_KEYS`), checked by the server with the
schema of :func:`~lockgate.monitoring.config.load_config` (:func:`parse_config`), limited
in size and in the buckets a window may merge, and only ever compared with measures
the server's code computes. Alert sinks and retraining pipelines are not data: they run
with the server's rights (a webhook is an outbound request from the server, a JSONL sink
a file it writes, a pipeline code it runs), so they stay the operator's, as promotion
gates are; a config that names them is refused, not trimmed. Alerts of a server pass go
to the server's log sink. :func:`run_through_server` (what ``run_monitor`` does for a
client) never sends them: it runs the caller's sinks and retraining in the caller's
process after the server's pass, with the caller's rights, and appends their outcome to
the incident through the server.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from lockgate.errors import LockgateError, numbered
from lockgate.monitoring.alert_rule import AlertConfigError, AlertRule
from lockgate.monitoring.alert_sink import LogSink
from lockgate.monitoring.config import MonitorConfig, load_config, parse_config
from lockgate.monitoring.duration import format_duration
from lockgate.monitoring.monitor import MonitorRun, RuleReport
from lockgate.store import Store
from lockgate.store.remote import Busy

if TYPE_CHECKING:
    from lockgate.config import Settings
    from lockgate.monitoring.retraining import PipelineRunner
    from lockgate.monitoring.watched_model import WatchedModel
    from lockgate.registry.gates import GateConfig

#: How long the server may take for one pass (profiling every bucket of a cold log on a
#: loaded machine) before the client gives up.
PASS_SECONDS = 900.0
#: The parts of a monitoring config a client may send: data the server's code evaluates.
REQUEST_KEYS = ("bucket", "window", "baseline", "rules", "top_features",
                "degradation_tolerance")
#: Limits of a sent config: its JSON size, its rules, the buckets one window merges (a
#: pass profiles each bucket, so this bounds the work a request can ask for).
MAX_CONFIG_BYTES = 64 << 10
MAX_RULES = 100
MAX_WINDOW_BUCKETS = 10_000
SOURCE = "the pass request's config"


def run_on_server(store: Store, ref: str, *, window: str | None = None,
                  config: Mapping[str, Any] | None = None, end: float | None = None,
                  now: float | None = None) -> MonitorRun:
    """Ask the server behind ``store`` (a client's :class:`RemoteStore`) for one pass over
    the model ``ref`` (``churn``, ``churn@production``, ``churn@3``).

    Args:
        store: the client's store.
        ref: the model reference.
        window: the default window (the server's default rules at this window).
        config: a config's data (:func:`config_data`); None: the server's defaults.
        end: the end of the windows (default: the server's now).
        now: the clock for buckets still open (default: the server's).

    Raises:
        AccessDenied: the token's user is not a writer of the model.
        NotFoundError: no such model (or one the user may not see).
        AlertConfigError: the server refused ``config`` (every problem listed).
    """
    name = ref.partition("@")[0]
    body: dict[str, Any] = {"ref": ref, "window": window}
    if config is not None:
        body["config"] = dict(config)
    body.update({k: v for k, v in (("end", end), ("now", now)) if v is not None})
    answer = store.request(  # type: ignore[attr-defined]
        "POST", f"/monitoring/models/{name}/passes", json_body=body, idempotent=True,
        timeout=PASS_SECONDS, deadline=time.monotonic() + PASS_SECONDS)
    return MonitorRun.from_dict(answer.json())


def run_through_server(store: Store, model: WatchedModel, *, settings: Settings,
                       config: MonitorConfig, end: float | None, now: float | None,
                       runner: PipelineRunner | None, gate_config: GateConfig | None
                       ) -> MonitorRun:
    """:func:`~lockgate.monitoring.monitor.run_monitor` for a client: the server measures
    with ``config``'s rules and windows (sent as data) at the caller's ``end``/``now``;
    ``config``'s own sinks and retraining then run here, in the caller's process with the
    caller's rights (never sent: they would run with the server's), their outcome
    appended to the incident through the server.

    Raises:
        AccessDenied: the token's user is not a writer of the model.
        AlertConfigError: the server refused the rules (every problem listed).
    """
    ref = model.name if model.version is None else f"{model.name}@{model.version}"
    sent = dataclasses.replace(config, sinks=(LogSink(),), rules=tuple(
        dataclasses.replace(rule, retrain=None) for rule in config.rules))
    run = run_on_server(store, ref, end=end, now=now, **server_request(sent))
    if not _servers_own(config):
        return run
    rules = {rule.name: rule for rule in config.rules}
    reports = [_here(report, rules.get(report.rule.name, report.rule), run, model,
                     store=store, settings=settings, config=config, runner=runner,
                     gate_config=gate_config) for report in run.rules]
    return dataclasses.replace(run, rules=reports)


def _here(report: RuleReport, rule: AlertRule, run: MonitorRun, model: WatchedModel, *,
          store: Store, settings: Settings, config: MonitorConfig,
          runner: PipelineRunner | None, gate_config: GateConfig | None) -> RuleReport:
    """One rule's sinks and retraining, run here after the server's pass."""
    from lockgate.monitoring import incident as inc
    from lockgate.monitoring.monitor import retrain_for_rule, wants_retraining

    window = run.windows[rule.window_seconds]
    incident, deliveries = report.incident, list(report.deliveries)
    if incident is not None and report.action in ("opened", "resolved"):
        event = inc.event_for("alert" if report.action == "opened" else "resolve",
                              incident, rule, report.outcome, (window.start, window.end))
        deliveries += inc.deliver(store, event, config.sinks)
    retraining = report.retraining
    if incident is not None and wants_retraining(rule, report.action, incident):
        retraining = retrain_for_rule(model, rule, window, settings=settings, config=config,
                                      runner=runner, gate_config=gate_config)
        inc.set_retraining(store, incident.id, retraining)
    if incident is not None:
        incident = inc.get_incident(store, incident.id)
    return RuleReport(rule, report.outcome, report.action, incident, deliveries, retraining)


def run_when_free(store: Store, ref: str, *, window: str | None = None,
                  config: Mapping[str, Any] | None = None,
                  sleep: Callable[[float], None] = time.sleep,
                  on_wait: Callable[[Busy], None] | None = None) -> MonitorRun:
    """:func:`run_on_server`, waiting out a pass of the same model already running (or a
    server at its limit) for the ``Retry-After`` the server gives, as often as it takes:
    what a watch (``lockgate monitor --every``) does, so one overlap does not end it."""
    while True:
        try:
            return run_on_server(store, ref, window=window, config=config)
        except Busy as busy:
            if on_wait is not None:
                on_wait(busy)
            sleep(busy.retry_after)


def server_request(config: MonitorConfig, **refused: Any) -> dict[str, Any]:
    """What to send the server for a pass with ``config``: ``window`` alone for the
    default rules, else ``config`` (its data, :func:`config_data`).

    Raises:
        LockgateError: ``config`` has sinks or retraining (they run with the server's
            rights), or options (``refused``: the name and value of each) only a pass
            beside the data can honour.
    """
    given = sorted(name for name, value in refused.items() if value is not None)
    if given:
        raise LockgateError(
            f"A monitor pass through lockgate server cannot take {', '.join(given)}: leave "
            "them out, or run the pass where the server runs (unset LOCKGATE_TRACKING_URI "
            "there).")
    servers = _servers_own(config)
    if servers:
        raise LockgateError(
            f"A monitor pass through lockgate server sends your rules and windows, but "
            f"alert sinks and retraining run with the server's rights, so they stay the "
            f"operator's: remove {' and '.join(servers)} from your monitoring config, or "
            "run the pass where the server runs (unset LOCKGATE_TRACKING_URI there).")
    window = format_duration(config.window_seconds)
    try:
        default = load_config(None, window=window)
    except AlertConfigError:  # no default config has this window: it is the caller's own
        return {"config": config_data(config)}
    if dataclasses.replace(config, sinks=()) == dataclasses.replace(default, sinks=()):
        return {"window": window}
    return {"config": config_data(config)}


def config_data(config: MonitorConfig) -> dict[str, Any]:
    """``config`` as the mapping :func:`parse_config` reads back to it (sinks aside):
    durations in seconds, rules as written in a config file."""
    return {"bucket": config.bucket_seconds, "window": config.window_seconds,
            "baseline": config.baseline_seconds,
            "rules": [_rule_data(rule) for rule in config.rules],
            "top_features": config.top_features,
            "degradation_tolerance": config.degradation_tolerance}


def requested_config(raw: object, window: str | None = None) -> MonitorConfig:
    """The config a pass request sent, checked as data (server side).

    Raises:
        AlertConfigError: every problem, numbered: not a mapping, too large, sinks or
            retraining named, a rule or duration :func:`parse_config` refuses, a window of
            more than :data:`MAX_WINDOW_BUCKETS` buckets.
    """
    if not isinstance(raw, dict):
        raise AlertConfigError(f"{SOURCE} must be a mapping with {', '.join(REQUEST_KEYS)}; "
                               f"found {type(raw).__name__}.")
    problems = _request_problems(raw)
    if problems:
        raise AlertConfigError(f"{len(problems)} problem(s) in {SOURCE}:\n{numbered(problems)}")
    config = parse_config({**raw, "window": window} if window else raw, source=SOURCE)
    problems = _bucket_problems(config)
    if problems:
        raise AlertConfigError(f"{len(problems)} problem(s) in {SOURCE}:\n{numbered(problems)}")
    return config


def _request_problems(raw: dict[Any, Any]) -> list[str]:
    """The limits and the server's own parts, before the schema (never parse a config
    that is too large to be worth reading)."""
    size = len(json.dumps(raw, default=str))
    if size > MAX_CONFIG_BYTES:
        return [f"{SOURCE} is {size} bytes, larger than {MAX_CONFIG_BYTES} bytes."]
    problems = []
    if "sinks" in raw:
        problems.append(f"{SOURCE}: `sinks` are the server's (they run with its rights); "
                        "leave them out, alerts go to the server's log.")
    rules = raw.get("rules")
    if isinstance(rules, list):
        if len(rules) > MAX_RULES:
            problems.append(f"{SOURCE} has {len(rules)} rules; send at most {MAX_RULES} rules.")
        problems.extend(f"{SOURCE}: rules[{n}]: `retrain` is the server's (a pipeline runs "
                        "with its rights); leave it out."
                        for n, rule in enumerate(rules) if isinstance(rule, dict)
                        and "retrain" in rule)
    return problems


def _bucket_problems(config: MonitorConfig) -> list[str]:
    lengths = {"window": config.window_seconds, "baseline": config.baseline_seconds,
               **{f"rule `{r.name}`": r.window_seconds for r in config.rules}}
    return [f"{SOURCE}: {what} spans {length / config.bucket_seconds:.0f} buckets of "
            f"{format_duration(config.bucket_seconds)}; at most {MAX_WINDOW_BUCKETS} "
            "through the server (a larger `bucket`, or a shorter window)."
            for what, length in lengths.items()
            if length / config.bucket_seconds > MAX_WINDOW_BUCKETS]


def _servers_own(config: MonitorConfig) -> list[str]:
    found = []
    if not (len(config.sinks) == 1 and isinstance(config.sinks[0], LogSink)):
        found.append("`sinks`")
    if any(rule.retrain is not None for rule in config.rules):
        found.append("`retrain`")
    return found


def _rule_data(rule: AlertRule) -> dict[str, Any]:
    data = {field.name: getattr(rule, field.name) for field in dataclasses.fields(rule)
            if field.name not in ("retrain", "window_seconds")}
    return {**data, "window": rule.window_seconds}
