"""Pin the public surface: growing the API is a decision, not an accident.

The one place the surface is pinned: when you add or remove a public name, update it
here in the same change. Each name means one thing across the packages
(:func:`test_no_public_name_means_two_things`).
"""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "lockgate": [
        "LockgateError", "Pipeline", "Run", "Settings", "__version__", "active_run",
        "audit", "autolog", "compare_runs", "current_step", "get_run", "load_settings",
        "node", "run_pipeline", "search_runs", "start_run", "step",
    ],
    "lockgate.store": [
        "ArtifactRecord", "CodeVersion", "DatasetVersion", "Environment", "HardwareSample",
        "LineageEdge", "MetricPoint", "Note", "RunRecord", "Store", "effective_status",
        "RunsPage", "PageTokenError", "RowAccountingError",
    ],
    "lockgate.artifacts": [
        "ArtifactStore", "BlobStore", "LocalBlobStore", "Materializer", "MemoryBlobStore",
        "Flavor", "FlavorError", "OnnxModel", "SavedModel", "flavor_for", "flavor_named",
        "flavor_names", "load_model", "register_flavor", "save_model",
        "TypeAllowlist", "UntrustedTypeError", "allowlist",
        "declare_trusted_types", "dumps", "loads", "materializer_for",
        "materializer_named", "register_materializer", "skops_trusted_types",
        "uri_for",
        "ObjectStore", "ObjectInfo", "LocalObjectStore", "S3ObjectStore", "object_store_for",
        "ObjectBlobStore", "blob_store_for", "blob_key",
    ],
    "lockgate.tracking": [
        "FlushReport", "Run", "RunComparison", "RunView", "active_run", "autolog",
        "compare_runs", "get_run",
        "search_runs", "start_run",
        "SavedView", "save_view", "get_view", "list_views", "delete_view",
    ],
    "lockgate.pipelines": [
        "Node", "ParamsError", "Pipeline", "PipelineError", "PipelineResult", "RunOptions",
        "ScheduleError", "StepContext", "StepResult", "StepSpec", "current_step",
        "load_pipeline", "node", "resume_pipeline", "run_pipeline", "step",
    ],
    "lockgate.data": [
        "ColumnSpec", "Contract", "ContractError", "DraftContract", "Finding",
        "FileSource", "FrameSource", "IngestResult", "RecordsSource", "ReleaseResult",
        "SchemaChangeError", "SourceError", "SourceUnreachableError", "SqlSource",
        "StreamConfig", "StreamStats", "TrainingDataWarning", "UnvalidatedDataError", "consume",
        "contract_for",
        "ContractApplied", "CsvDialect", "IngestOptions", "QuarantineShareError",
        "SchemaPolicy", "apply_contract", "export_quarantine",
        "infer_contract", "ingest", "list_tables", "load_contract", "quarantined", "read",
        "read_for_training", "release", "training_findings", "versions",
    ],
    "lockgate.quality": [
        "ColumnProfile", "DistinctSketch", "DriftConfig", "DriftReport", "FeatureDrift",
        "Profile", "ProfileError", "QualityReport", "QuantileSketch", "batch_profile_for",
        "drift", "profile", "profile_for", "quality_report",
    ],
    "lockgate.modeling": [
        "Reproduction", "ReproductionError", "reproduce",
        "AuditConfig", "AuditError", "AuditReport", "Estimate", "Preprocessed", "audit",
        "CalendarFeatures", "EvaluationError", "EvaluationRecord", "FeatureError", "Finding",
        "LeakageConfig", "Predictions", "SearchError", "Split", "SplitError", "SplitPlan",
        "StructureHint", "TrainConfig", "TrainResult", "TrainingError", "build_pipeline",
        "build_preprocessor", "check_leakage", "detect_structure", "evaluate_pair",
        "is_leak_free", "make_folds", "plan_split", "problem_type_of", "train", "train_frame",
    ],
    "lockgate.registry": [
        "ImportReport", "import_mlflow",
        "GateConfig", "GateFailedError", "GateResult", "ModelNotFoundError", "ModelNote",
        "ModelPackage", "ModelVersion", "PackageContents", "PackageError", "PromotionResult",
        "Registry", "RegistryError", "STAGES", "Transition", "VersionHistory",
        "archive_package",
        "extract_archive", "feature_columns", "load_gate_config", "load_package", "parse_ref",
        "promote", "register_run", "render_card", "rollback", "run_gates", "verify_package",
        "version_history", "write_package",
        "ShadowEvidence", "ShadowPolicy", "shadow_period",
    ],
    "lockgate.serving": [
        "BackgroundServer", "RequestSchema", "ServeConfig", "ServeSecurityError",
        "ServingMetrics", "ServingState", "build_schema", "check_bind", "create_serving_app",
        "feedback_path", "free_port", "join_feedback", "predictions_path", "read_feedback",
        "read_predictions", "serve",
        "BatchScoringError", "BatchScoringResult", "predict_batch",
    ],
    "lockgate.monitoring": [
        "AlertConfigError", "AlertDeliveryError", "AlertEvent", "AlertRule", "AlertSink",
        "BucketProfile", "Incident", "JsonlSink", "LogSink", "MEASURES", "MemorySink",
        "MonitorConfig", "MonitorRun", "RetrainSpec", "RetrainingDecision",
        "RetrainingOutcome", "RootCause", "RuleOutcome", "WatchedModel", "WebhookSink",
        "WindowResult", "analyse", "default_rules", "feature_importance",
        "get_incident", "incidents", "load_config", "measure_window", "monitoring_report",
        "parse_config", "recommend", "retrain", "run_monitor", "watch",
        "watch_forever", "window_history", "window_span", "write_report",
        "Comparison", "ComparisonError", "compare",
        "RetrainingData", "retraining_data", "shadow_evidence",
    ],
    "lockgate.ui": [
        "AccessError", "AccessPolicy", "FilterError", "RunPage", "RunQuery", "create_dashboard_app",
        "parse_filter", "query_runs", "serve_dashboard",
    ],
    "lockgate.retention": [
        "Decision", "DiskUsage", "GcReport", "ModelRef", "Policies", "Protection",
        "RetentionPolicy", "RunDeletionError", "Usage", "collect_garbage", "delete_runs",
        "deleted_runs", "disk_usage", "load_policies", "protection", "restore_runs",
    ],
    "lockgate.demo": [
        "DemoContext",
    ],
    "lockgate.security": [
        "DeadlineH11Protocol", "DeadlineHttpToolsProtocol", "GuardError", "GuardPolicy",
        "HttpGuard", "OutboundPolicy", "OutboundURLError", "ServerThread", "blocked",
        "json_too_deep", "post_json", "run_server", "server_config",
    ],
    "lockgate.server": [
        "Access", "AuthMiddleware", "RateLimiter", "TeamServer", "create_server_app",
        "server_policy",
    ],
}


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_public_names_are_pinned(package: str) -> None:
    module = importlib.import_module(package)
    assert sorted(module.__all__) == sorted(PUBLIC[package])
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []


def test_stages_are_reachable_from_the_top_level() -> None:
    import lockgate as lg

    assert lg.data.read_for_training is importlib.import_module(
        "lockgate.data.training_gate").read_for_training
    assert callable(lg.modeling.train)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = lg.nope


#: Names two packages may both export because they are the same object.
SHARED = {"Run", "active_run", "autolog", "compare_runs", "get_run", "search_runs",
          "start_run", "Pipeline", "node", "run_pipeline", "step", "current_step",
          "Finding"}


def test_no_public_name_means_two_things() -> None:
    """A name exported by two packages is one object (a re-export), never two meanings
    (``STAGES`` for the stage list and the version stages, ``create_app`` for two apps)."""
    owners: dict[str, list[tuple[str, object]]] = {}
    for package in PUBLIC:
        module = importlib.import_module(package)
        for name in module.__all__:
            owners.setdefault(name, []).append((package, getattr(module, name)))
    clashes = {name: [p for p, _ in found] for name, found in owners.items()
               if len({id(obj) for _, obj in found}) > 1}
    assert clashes == {}
    assert set(SHARED) <= {name for name, found in owners.items() if len(found) > 1}


def test_internals_are_not_exported() -> None:
    import lockgate
    import lockgate.artifacts as artifacts

    for name in ("check_key", "safe_join", "key_from_uri"):  # path and key checks
        assert name not in artifacts.__all__ and not hasattr(artifacts, name)
    assert "STAGES" not in lockgate.__all__
    with pytest.raises(AttributeError):
        _ = lockgate.STAGES


def test_app_factories_are_named_for_their_app() -> None:
    """The dashboard, the prediction API and the team server each build their app with a
    factory named for it, so an import says which app it is."""
    factories = {"lockgate.ui": "create_dashboard_app", "lockgate.serving":
                 "create_serving_app", "lockgate.server": "create_server_app"}
    for package, name in factories.items():
        module = importlib.import_module(package)
        assert name in module.__all__ and callable(getattr(module, name))
        assert "create_app" not in module.__all__ and not hasattr(module, "create_app")
