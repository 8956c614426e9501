"""The modeling stage's errors, in one place: each says what cannot be done as asked
and why; all are :class:`lockgate.LockgateError`, so the CLI shows the message, not a
traceback. The module that raises one also re-exports it under its old address.
"""

from __future__ import annotations

from lockgate.errors import LockgateError


class AuditError(LockgateError, ValueError):
    """The workflow, data or options cannot be audited as given."""


class EstimatorSpecError(LockgateError, ValueError):
    """The estimator name or one of its parameters cannot be used."""


class EvaluationError(LockgateError, ValueError):
    """The target or predictions cannot be evaluated as asked."""


class FeatureError(LockgateError, ValueError):
    """The contract or the arguments cannot be turned into features."""


class NaiveProtocolError(LockgateError, ValueError):
    """An unknown naive protocol was asked for."""


class RecipeError(LockgateError, ValueError):
    """A recipe cannot be recorded faithfully, or cannot be turned back into a call."""


class ReproductionError(LockgateError, RuntimeError):
    """The run cannot be re-executed as recorded; the message says why."""


class SearchError(LockgateError, ValueError):
    """The hyperparameter grid does not fit the pipeline."""


class SplitError(LockgateError, ValueError):
    """The data cannot be split as asked (wrong strategy for its structure, too few
    rows, groups or time points)."""


class TrainingError(LockgateError, ValueError):
    """The table, contract or arguments cannot be trained on as given."""
