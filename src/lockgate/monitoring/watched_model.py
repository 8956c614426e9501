"""The model a monitor watches: its name, version and verified package contents.

Monitoring needs only part of a package (pipeline for importances and class labels,
contract, reference profile, evaluation, lineage), so it accepts the registry's
``ModelPackage`` or anything with those attributes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lockgate.config import Settings
from lockgate.data.contract import Contract
from lockgate.registry import Registry
from lockgate.registry.package import as_contract
from lockgate.store import Store


@dataclass(frozen=True, slots=True)
class WatchedModel:
    """A served model, as monitoring sees it.

    Attributes:
        name: the registered model name (the prediction log is keyed by it).
        version: the registered version being watched (None when not from the registry).
        pipeline: the fitted scikit-learn pipeline.
        contract: the data contract the model was trained on.
        reference_profile: the training data's quality profile (dict form).
        evaluation: the evaluation record (dict form).
        lineage: ``{"table", "dataset_version", "dataset_version_id", "run_id", ...}``.
        prediction_profile: the profile of the model's predictions on its holdout rows
            (made at registration), the reference for prediction drift; None for
            packages without one (then the first span of live traffic is used).
        importance: the package's permutation importance
            (``lockgate.registry.feature_importance.FeatureImportance`` dict form); None
            for packages without one (root causes then say how they weighted features).
    """

    name: str
    version: int | None
    pipeline: Any
    contract: Contract
    reference_profile: dict[str, Any]
    evaluation: dict[str, Any] = field(default_factory=dict)
    lineage: dict[str, Any] = field(default_factory=dict)
    prediction_profile: dict[str, Any] | None = None
    importance: dict[str, Any] | None = None

    @property
    def features(self) -> list[str]:
        """The contract's feature columns, in contract order (the columns the server
        logs: :attr:`lockgate.data.Contract.feature_columns` owns the rule)."""
        return self.contract.feature_columns

    @property
    def problem_type(self) -> str:
        """``binary``, ``multiclass`` or ``regression`` (from the evaluation, else the
        estimator)."""
        declared = self.evaluation.get("problem_type")
        if declared:
            return str(declared)
        classes = getattr(self.pipeline, "classes_", None)
        if classes is None:
            return "regression"
        return "binary" if len(classes) == 2 else "multiclass"

    @property
    def positive_label(self) -> str | None:
        """The class whose probability the prediction log holds (binary only)."""
        classes = getattr(self.pipeline, "classes_", None)
        if classes is None or len(classes) != 2:
            return None
        positive = classes[1]
        # the server writes labels as Python's str of the class: do the same
        return str(positive.item() if hasattr(positive, "item") else positive)

    @classmethod
    def from_package(cls, name: str, package: Any, version: int | None = None
                     ) -> WatchedModel:
        """Wrap a loaded ``lockgate.registry.ModelPackage`` (or a look-alike)."""
        return cls(name=name, version=version, pipeline=package.pipeline,
                   contract=as_contract(package.contract),
                   reference_profile=dict(package.reference_profile),
                   evaluation=dict(getattr(package, "evaluation", {}) or {}),
                   lineage=dict(getattr(package, "lineage", {}) or {}),
                   prediction_profile=_read(package, "prediction_profile"),
                   importance=_read(package, "feature_importance"))


def _read(package: Any, name: str) -> dict[str, Any] | None:
    """An optional package part: a ``ModelPackage`` method, or a look-alike's attribute."""
    reader = getattr(package, name, None)
    found = reader() if callable(reader) else reader
    return dict(found) if found else None


def watch(ref: str, settings: Settings) -> WatchedModel:
    """Load the registered model ``ref`` (``churn``, ``churn@production``, ``churn@3``).

    Raises:
        NotFoundError: no such model or version in the registry.
    """
    registry = Registry(Store.open(settings), settings)
    mv = registry.resolve(ref)
    return WatchedModel.from_package(mv.name, registry.load(mv), mv.version)

