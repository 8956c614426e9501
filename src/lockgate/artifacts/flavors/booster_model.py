"""A gradient-boosted model rebuilt from its library's native file, as a scikit-learn
style estimator (imported only when such a model is loaded: scikit-learn is heavy).

Why a wrapper and not the library's own scikit-learn class: ``LGBMClassifier`` and
``XGBClassifier`` can only be restored through pickle or private attributes; the native
``Booster`` loads from code-free text/JSON, and this class gives it the surface the
rest of lockgate uses (``predict``, ``predict_proba``, ``classes_``), computed exactly
as the library's scikit-learn class computes it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from lockgate.artifacts.flavors.flavor import FlavorError


class BoosterModel(BaseEstimator):
    """A loaded native booster that predicts like its scikit-learn estimator did.

    Args:
        booster: the library's ``Booster``.
        library: ``"lightgbm"``, ``"xgboost"`` or ``"catboost"``.
        classes: the class labels, in the order of the probability columns; None for a
            regressor.
        scorer: ``scorer(booster, X)`` -> the library's raw prediction (positive-class
            probability for binary, one column per class for multiclass, values for
            regression).
    """

    def __init__(self, booster: Any = None, library: str = "", classes: Any = None,
                 scorer: Callable[[Any, Any], Any] | None = None) -> None:
        self.booster = booster
        self.library = library
        self.classes = classes
        self.scorer = scorer

    @property
    def _estimator_type(self) -> str:
        return "regressor" if self.classes is None else "classifier"

    @property
    def classes_(self) -> np.ndarray:
        """Class labels (classifiers only)."""
        if self.classes is None:
            raise AttributeError("a regressor has no classes_")
        return np.asarray(self.classes)

    def __sklearn_is_fitted__(self) -> bool:
        return self.booster is not None

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.estimator_type = self._estimator_type
        return tags

    def fit(self, X: Any, y: Any = None) -> BoosterModel:
        """Refused: a loaded booster predicts; refit the original estimator instead."""
        raise FlavorError(f"This {self.library} model was loaded from its native file and "
                          "cannot be refit; train the original estimator again.")

    def _score(self, X: Any) -> Any:
        if self.scorer is None:
            raise FlavorError(f"This {self.library} model has no scorer; load it with "
                              "lockgate.artifacts.flavors, which sets one.")
        return self.scorer(self.booster, X)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, one column per class in ``classes_`` order."""
        if self.classes is None:
            raise AttributeError("a regressor has no predict_proba")
        raw = np.asarray(self._score(X), dtype=np.float64)
        if raw.ndim == 1 or raw.shape[1] == 1:
            positive = raw.reshape(-1)
            return np.column_stack([1.0 - positive, positive])
        return raw

    def predict(self, X: Any) -> np.ndarray:
        """Labels (``classes_[argmax(proba)]``, as the libraries do) or values."""
        if self.classes is None:
            return np.asarray(self._score(X), dtype=np.float64).reshape(-1)
        return self.classes_.take(self.predict_proba(X).argmax(axis=1))
