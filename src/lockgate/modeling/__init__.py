"""The modeling stage: features from the contract, structure-aware splits, leakage
checks, tracked training with nested tuning, and honest evaluation."""

from lockgate.modeling.audit import (
    AuditConfig,
    AuditReport,
    Estimate,
    Preprocessed,
    audit,
)
from lockgate.modeling.errors import (
    AuditError,
    EvaluationError,
    FeatureError,
    ReproductionError,
    SearchError,
    SplitError,
    TrainingError,
)
from lockgate.modeling.evaluation import (
    EvaluationRecord,
    Predictions,
    problem_type_of,
)
from lockgate.modeling.features import (
    CalendarFeatures,
    build_pipeline,
    build_preprocessor,
)
from lockgate.modeling.leakage import Finding, LeakageConfig, check_leakage, is_leak_free
from lockgate.modeling.reproduction import Reproduction, reproduce
from lockgate.modeling.splitter import (
    Split,
    SplitPlan,
    StructureHint,
    detect_structure,
    make_folds,
    plan_split,
)
from lockgate.modeling.training import (
    TrainConfig,
    TrainResult,
    evaluate_pair,
    train,
    train_frame,
)

__all__ = [
    "AuditConfig",
    "AuditError",
    "AuditReport",
    "CalendarFeatures",
    "Estimate",
    "EvaluationError",
    "EvaluationRecord",
    "FeatureError",
    "Finding",
    "LeakageConfig",
    "Predictions",
    "Preprocessed",
    "Reproduction",
    "ReproductionError",
    "SearchError",
    "Split",
    "SplitError",
    "SplitPlan",
    "StructureHint",
    "TrainConfig",
    "TrainResult",
    "TrainingError",
    "audit",
    "build_pipeline",
    "build_preprocessor",
    "check_leakage",
    "detect_structure",
    "evaluate_pair",
    "is_leak_free",
    "make_folds",
    "plan_split",
    "problem_type_of",
    "reproduce",
    "train",
    "train_frame",
]
