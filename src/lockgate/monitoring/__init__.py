"""Monitoring after deployment: windows over the prediction log, drift and live
performance, alert rules and sinks, incidents, root cause and gated retraining."""

from lockgate.monitoring.alert_rule import (
    MEASURES,
    AlertConfigError,
    AlertRule,
    RetrainSpec,
    RuleOutcome,
)
from lockgate.monitoring.alert_sink import (
    AlertDeliveryError,
    AlertEvent,
    AlertSink,
    JsonlSink,
    LogSink,
    MemorySink,
    WebhookSink,
)
from lockgate.monitoring.comparison import Comparison, ComparisonError, compare
from lockgate.monitoring.config import MonitorConfig, default_rules, load_config, parse_config
from lockgate.monitoring.history import window_history
from lockgate.monitoring.incident import Incident, get_incident, incidents
from lockgate.monitoring.monitor import (
    MonitorRun,
    WindowResult,
    measure_window,
    run_monitor,
    watch_forever,
)
from lockgate.monitoring.report import monitoring_report, write_report
from lockgate.monitoring.retraining import RetrainingDecision, RetrainingOutcome, recommend, retrain
from lockgate.monitoring.retraining_data import RetrainingData, retraining_data
from lockgate.monitoring.root_cause import RootCause, analyse, feature_importance
from lockgate.monitoring.shadow_report import shadow_evidence
from lockgate.monitoring.watched_model import WatchedModel, watch
from lockgate.monitoring.window import BucketProfile, window_span

__all__ = [
    "MEASURES",
    "AlertConfigError",
    "AlertDeliveryError",
    "AlertEvent",
    "AlertRule",
    "AlertSink",
    "BucketProfile",
    "Comparison",
    "ComparisonError",
    "Incident",
    "JsonlSink",
    "LogSink",
    "MemorySink",
    "MonitorConfig",
    "MonitorRun",
    "RetrainSpec",
    "RetrainingData",
    "RetrainingDecision",
    "RetrainingOutcome",
    "RootCause",
    "RuleOutcome",
    "WatchedModel",
    "WebhookSink",
    "WindowResult",
    "analyse",
    "compare",
    "default_rules",
    "feature_importance",
    "get_incident",
    "incidents",
    "load_config",
    "measure_window",
    "monitoring_report",
    "parse_config",
    "recommend",
    "retrain",
    "retraining_data",
    "run_monitor",
    "shadow_evidence",
    "watch",
    "watch_forever",
    "window_history",
    "window_span",
    "write_report",
]
