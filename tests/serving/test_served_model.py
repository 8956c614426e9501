"""ServedModel.predict: labels derived from the probabilities only where that is exactly
what the estimator's own ``predict`` does, and identical to ``predict`` then."""

from __future__ import annotations

import dataclasses

import numpy as np
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
from lockgate.serving.served_model import labels_from_proba, labels_off_ties, load_served

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


@pytest.mark.parametrize(("estimator", "expected"), [
    (HistGradientBoostingClassifier(max_iter=5), True),
    (LogisticRegression(), False),
    (RandomForestClassifier(n_estimators=5, random_state=0), False),
])
def test_labels_off_ties_only_for_checked_predictors(estimator: object, expected: bool) -> None:
    assert labels_off_ties(_fit(estimator)) is expected


def test_labels_off_ties_not_for_three_classes() -> None:
    three = make_pipeline(SimpleImputer(), HistGradientBoostingClassifier(max_iter=5)).fit(
        X, np.arange(len(X)) % 3)
    assert labels_off_ties(three) is False


def _served_with(world: tuple[Settings, Registry], pipeline: object) -> object:
    served = load_served(world[1], "churn", 1)
    return dataclasses.replace(
        served, package=dataclasses.replace(served.package, pipeline=pipeline),
        labels_off_ties=True)


def test_boosted_labels_from_one_call_equal_predict(world: tuple[Settings, Registry]) -> None:
    boosted = _fit(HistGradientBoostingClassifier(max_iter=20, random_state=0))
    served = _served_with(world, boosted)
    labels, probabilities = served.predict(X.to_dict("records"))  # type: ignore[attr-defined]
    assert labels == [str(v) for v in boosted.predict(X)]
    assert probabilities == pytest.approx(list(boosted.predict_proba(X)[:, 1]))


def test_a_probability_of_exactly_one_half_is_asked_of_predict(
        world: tuple[Settings, Registry]) -> None:
    """A decision value of 1e-300 is a probability of exactly 0.5 (expit rounds), and
    predict says the positive class: the label must be predict's, not argmax's."""
    boosted = _fit(HistGradientBoostingClassifier(max_iter=3, random_state=0))
    final = boosted.steps[-1][1]
    row = X.head(1)
    final._baseline_prediction = final._baseline_prediction - final._raw_predict(
        boosted[:-1].transform(row)) + 1e-300
    assert boosted.predict_proba(row)[0, 1] == 0.5  # the precondition: a tie
    assert boosted.predict(row)[0] == final.classes_[1]
    served = _served_with(world, boosted)
    rows = X.head(30).to_dict("records")
    labels, _ = served.predict(rows)  # type: ignore[attr-defined]
    assert labels[0] == str(final.classes_[1])
    assert labels == [str(v) for v in boosted.predict(X.head(30))]
