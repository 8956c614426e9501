"""A monitor pass run by ``lockgate server`` for one of its clients.

The prediction log and feedback tables a pass reads live under the server's data root,
so a client (``LOCKGATE_TRACKING_URI`` set) asks the server to measure them (``POST
/api/v1/monitoring/models/{name}/passes``, a writer of the model) and gets the same
:class:`~lockgate.monitoring.monitor.MonitorRun` back. The window (its length, ``end``
and ``now``) is the caller's. The rules are the server's defaults, or an admin's own
(``config``'s rules, bucket, window and baseline; applied and audited like an admin's
gates), never another caller's: they decide which incidents the team sees.

Sinks and retraining never run on the server for a caller: they would run with the
server's rights. With an admin's ``config`` they run here, in the caller's process,
with the caller's rights: the caller's sinks get the alert and resolve messages of the
incidents the server opened or resolved (their deliveries are appended to the incident
through the server), and a rule's retraining pipeline runs here and records through
the server like any pipeline, its outcome written to the incident.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from lockgate.config import Settings
from lockgate.errors import LockgateError
from lockgate.monitoring.alert_rule import AlertConfigError, AlertRule
from lockgate.monitoring.alert_sink import LogSink
from lockgate.monitoring.config import MonitorConfig, load_config
from lockgate.monitoring.duration import format_duration
from lockgate.monitoring.monitor import MonitorRun, RuleReport
from lockgate.monitoring.retraining import PipelineRunner
from lockgate.monitoring.watched_model import WatchedModel
from lockgate.registry.gates import GateConfig
from lockgate.store import Store

#: How long the server may take for one pass (profiling every bucket of a cold log on a
#: loaded machine) before the client gives up.
PASS_SECONDS = 900.0


def run_on_server(store: Store, ref: str, *, window: str | None = None) -> MonitorRun:
    """Ask the server behind ``store`` (a client's :class:`RemoteStore`) for one pass over
    the model ``ref`` (``churn``, ``churn@production``, ``churn@3``).

    Raises:
        AccessDenied: the token's user is not a writer of the model.
        NotFoundError: no such model (or one the user may not see).
    """
    name = ref.partition("@")[0]
    body = {"ref": ref, "window": window}
    answer = store.request(  # type: ignore[attr-defined]
        "POST", f"/monitoring/models/{name}/passes", json_body=body, idempotent=True,
        timeout=PASS_SECONDS, deadline=time.monotonic() + PASS_SECONDS)
    return MonitorRun.from_dict(answer.json())


def run_through_server(store: Store, model: WatchedModel, *, settings: Settings,
                       config: MonitorConfig, end: float | None, now: float | None,
                       runner: PipelineRunner | None, gate_config: GateConfig | None
                       ) -> MonitorRun:
    """:func:`~lockgate.monitoring.monitor.run_monitor` for a client: the server measures
    and applies the rules; ``config``'s own sinks and retraining (an admin's config) run
    here.

    Raises:
        AccessDenied: not a writer of the model, or rules of a caller who is not admin.
    """
    ref = model.name if model.version is None else f"{model.name}@{model.version}"
    window = format_duration(config.window_seconds)
    own = not _is_default(config, window)
    body: dict[str, Any] = {"ref": ref, "window": window, "end": end, "now": now}
    if own:
        body["config"] = pass_config(config)
    run = _post_pass(store, ref, body)
    if not own:
        return run
    rules = {rule.name: rule for rule in config.rules}
    reports = [_here(report, rules.get(report.rule.name, report.rule), run, model,
                     store=store, settings=settings, config=config, runner=runner,
                     gate_config=gate_config) for report in run.rules]
    return dataclasses.replace(run, rules=reports)


def pass_config(config: MonitorConfig) -> dict[str, Any]:
    """What of ``config`` travels to the server: the rules without their retraining
    (which runs here), the bucket, window and baseline, never the sinks."""
    rules = []
    for rule in config.rules:
        found = rule.to_dict()
        found.pop("retrain", None)
        rules.append(found)
    return {"bucket_seconds": config.bucket_seconds, "window_seconds": config.window_seconds,
            "baseline_seconds": config.baseline_seconds, "top_features": config.top_features,
            "degradation_tolerance": config.degradation_tolerance, "rules": rules}


def config_from(data: dict[str, Any], sinks: tuple[Any, ...]) -> MonitorConfig:
    """The inverse of :func:`pass_config`, with the server's own ``sinks``.

    Raises:
        LockgateError: a field or a rule the server does not know.
    """
    known = {"bucket_seconds", "window_seconds", "baseline_seconds", "top_features",
             "degradation_tolerance", "rules"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise LockgateError(f"A pass's `config` takes {', '.join(sorted(known))}, not "
                            f"{', '.join(unknown)}.")
    try:
        rules = tuple(AlertRule(**{k: v for k, v in r.items() if k != "retrain"})
                      for r in data.get("rules") or ())
        defaults = MonitorConfig()
        return MonitorConfig(
            bucket_seconds=float(data.get("bucket_seconds", defaults.bucket_seconds)),
            window_seconds=float(data.get("window_seconds", defaults.window_seconds)),
            baseline_seconds=float(data.get("baseline_seconds", defaults.baseline_seconds)),
            rules=rules, sinks=sinks,
            top_features=int(data.get("top_features", defaults.top_features)),
            degradation_tolerance=float(data.get("degradation_tolerance",
                                                 defaults.degradation_tolerance)))
    except (TypeError, ValueError) as exc:
        raise LockgateError(f"A pass's `config` is not valid: {exc}") from exc


def _post_pass(store: Store, ref: str, body: dict[str, Any]) -> MonitorRun:
    name = ref.partition("@")[0]
    answer = store.request(  # type: ignore[attr-defined]
        "POST", f"/monitoring/models/{name}/passes", json_body=body, idempotent=True,
        timeout=PASS_SECONDS, deadline=time.monotonic() + PASS_SECONDS)
    return MonitorRun.from_dict(answer.json())


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


def server_window(config: MonitorConfig, **refused: Any) -> str:
    """The window to ask the server for, when ``config`` is the default one (the rules and
    sinks a server pass uses); anything else the caller chose is refused, not dropped.

    Raises:
        LockgateError: a configuration of the caller's own, or options (``refused``: the
            name and value of each) only a pass beside the data can honour.
    """
    window = format_duration(config.window_seconds)
    given = sorted(name for name, value in refused.items() if value is not None)
    if given or not _is_default(config, window):
        what = ", ".join(given) if given else "your monitoring config (rules, sinks)"
        raise LockgateError(
            f"A monitor pass through lockgate server uses the server's rules and sinks (the "
            f"defaults, at the window you give), so it cannot take {what}. Leave it out, "
            "or run the pass where the server runs (unset LOCKGATE_TRACKING_URI there).")
    return window


def _is_default(config: MonitorConfig, window: str) -> bool:
    try:
        default = load_config(None, window=window)
    except AlertConfigError:  # no default config has this window: it is the caller's own
        return False
    sinks = len(config.sinks) == 1 and isinstance(config.sinks[0], LogSink)
    return sinks and dataclasses.replace(config, sinks=()) == dataclasses.replace(default,
                                                                                  sinks=())
