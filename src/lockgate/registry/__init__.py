"""Model packages, the registry (versions, aliases, history), promotion gates, model cards."""

from lockgate.registry.display import VersionHistory, version_history
from lockgate.registry.errors import (
    GateFailedError,
    ModelNotFoundError,
    PackageError,
    RegistryError,
)
from lockgate.registry.gates import GateConfig, GateResult, load_gate_config
from lockgate.registry.mlflow_import import ImportReport, import_mlflow
from lockgate.registry.model_card import render_card
from lockgate.registry.model_version import (
    STAGES,
    ModelNote,
    ModelVersion,
    Registry,
    Transition,
    parse_ref,
)
from lockgate.registry.package import (
    ModelPackage,
    PackageContents,
    archive_package,
    extract_archive,
    feature_columns,
    load_package,
    verify_package,
    write_package,
)
from lockgate.registry.promotion import PromotionResult, promote, rollback, run_gates
from lockgate.registry.registration import register_run
from lockgate.registry.shadow_period import ShadowEvidence, ShadowPolicy, shadow_period

__all__ = [
    "STAGES",
    "GateConfig",
    "GateFailedError",
    "GateResult",
    "ImportReport",
    "ModelNotFoundError",
    "ModelNote",
    "ModelPackage",
    "ModelVersion",
    "PackageContents",
    "PackageError",
    "PromotionResult",
    "Registry",
    "RegistryError",
    "ShadowEvidence",
    "ShadowPolicy",
    "Transition",
    "VersionHistory",
    "archive_package",
    "extract_archive",
    "feature_columns",
    "import_mlflow",
    "load_gate_config",
    "load_package",
    "parse_ref",
    "promote",
    "register_run",
    "render_card",
    "rollback",
    "run_gates",
    "shadow_period",
    "verify_package",
    "version_history",
    "write_package",
]
