"""ServedModel.predict: labels derived from the probabilities only where that is exactly
what the estimator's own ``predict`` does, and identical to ``predict`` then."""

from __future__ import annotations

import dataclasses

import pytest
from lockgate_model_cases import FEATURES, make_frame
from sklearn.ensemble import (
    ExtraTreesClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from lockgate.config import Settings
from lockgate.registry import Registry
from lockgate.serving.served_model import labels_from_proba, load_served

FRAME = make_frame(200, seed=3)
X = FRAME.select(FEATURES).to_pandas()
Y = FRAME["churned"].to_numpy()


def _fit(estimator: object) -> object:
    return make_pipeline(SimpleImputer(), estimator).fit(X, Y)


@pytest.mark.parametrize(("estimator", "expected"), [
    (RandomForestClassifier(n_estimators=5, random_state=0), True),
    (ExtraTreesClassifier(n_estimators=5, random_state=0), True),
    (LogisticRegression(), False),
    (HistGradientBoostingClassifier(max_iter=5), False),
])
def test_labels_from_proba_only_for_argmax_predictors(estimator: object,
                                                      expected: bool) -> None:
    assert labels_from_proba(_fit(estimator)) is expected


def test_forest_labels_from_one_call_equal_predict(world: tuple[Settings, Registry]) -> None:
    _settings, registry = world
    served = load_served(registry, "churn", 1)
    assert served.labels_from_proba is False  # the registered model is a LogisticRegression
    forest = _fit(RandomForestClassifier(n_estimators=7, max_depth=3, random_state=0))
    served = dataclasses.replace(
        served, package=dataclasses.replace(served.package, pipeline=forest),
        labels_from_proba=True)
    rows = X.head(60).to_dict("records")
    labels, probabilities = served.predict(rows)
    assert labels == [str(v) for v in forest.predict(X.head(60))]
    assert probabilities == pytest.approx(list(forest.predict_proba(X.head(60))[:, 1]))
