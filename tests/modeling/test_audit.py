"""The audit of a user's own workflow: a search's best CV score is caught and replaced by
a nested estimate, label-aware preprocessing and oversampling done before lockgate saw
the table are found, a clear-cut test set is not trusted, and the CLI prints the same."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import polars as pl
import pytest
from sklearn.datasets import load_breast_cancer, make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from lockgate.modeling.audit import AuditConfig, AuditError, Preprocessed, audit
from lockgate.modeling.leakage import LeakageConfig

QUICK = AuditConfig(n_splits=4, repeats=1, bootstrap=50,
                    leakage=LeakageConfig(permutations=9, bootstrap=50))


@pytest.fixture(autouse=True)
def _one_openmp_thread() -> Iterator[None]:
    with threadpool_limits(limits=1, user_api="openmp"):
        yield


def _logit():
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))


def _frame(x, y) -> pl.DataFrame:
    return pl.DataFrame({f"x{i}": x[:, i] for i in range(x.shape[1])} | {"y": y})


def _codes(report, severities=("blocking", "warning")) -> set[str]:
    return {f.code for f in report.findings if f.severity in severities}


def test_a_searchs_best_cv_score_is_not_the_honest_one() -> None:
    x, y = make_classification(4120, 20, n_informative=3, flip_y=0.25, random_state=1)
    grid = {"logisticregression__C": np.logspace(-3, 3, 5).tolist()}
    search = GridSearchCV(_logit(), grid, cv=3, scoring="roc_auc").fit(x[:120], y[:120])
    from sklearn.metrics import roc_auc_score
    fresh = roc_auc_score(y[120:], search.predict_proba(x[120:])[:, 1])
    report = audit(search, _frame(x[:120], y[:120]), target="y", config=QUICK)
    assert "tuned_search_best_score" in _codes(report)
    assert report.claimed == pytest.approx(search.best_score_)
    assert report.claimed_source == "the search's best CV score"
    assert "nested" in report.honest.protocol and report.honest.rows == 120
    assert report.reported <= fresh + 0.05
    assert report.honest.low < report.reported < report.honest.high


def test_strong_legitimate_features_are_not_proxies() -> None:
    data = load_breast_cancer()
    df = _frame(data.data, data.target)
    report = audit(_logit(), df, target="y", config=QUICK)
    assert _codes(report) == set()
    assert report.honest.value > 0.97 and report.excluded_columns == ()


def test_column_after_the_outcome_is_blocked_declared_or_not() -> None:
    rng = np.random.default_rng(0)
    x, y = make_classification(800, 6, n_informative=3, flip_y=0.2, random_state=0)
    leak = y + rng.normal(0, 0.05, y.size)  # a code written once the outcome is known
    df = _frame(x, y).with_columns(pl.Series("outcome_code", leak))
    undeclared = audit(_logit(), df, target="y", config=QUICK)
    declared = audit(_logit(), df, target="y", config=QUICK,
                     availability={"outcome_code": "after_outcome"})
    clean = audit(_logit(), df.drop("outcome_code"), target="y", config=QUICK)
    assert "target_proxy" in _codes(undeclared)
    assert "after_outcome_feature" in _codes(declared)
    for report in (undeclared, declared):
        assert report.excluded_columns == ("outcome_code",)
        assert report.reported == pytest.approx(clean.reported, abs=0.03)


def test_a_proxy_on_few_rows_is_insufficient_evidence_not_an_alarm() -> None:
    rng = np.random.default_rng(2)
    x, y = make_classification(40, 4, n_informative=2, flip_y=0.1, random_state=2)
    df = _frame(x, y).with_columns(pl.Series("late", y + rng.normal(0, 0.3, y.size)))
    report = audit(_logit(), df, target="y", config=QUICK)
    proxies = [f for f in report.findings if f.code == "target_proxy"]
    assert all(f.severity == "info" for f in proxies)
    assert "small_evidence" in {f.code for f in report.findings}


def test_oversampling_before_the_split_keeps_one_row_per_copy() -> None:
    x, y = make_classification(600, 6, n_informative=3, weights=[0.85], random_state=3)
    rng = np.random.default_rng(3)
    extra = rng.choice(np.flatnonzero(y == 1), 300, replace=True)
    df = _frame(np.vstack([x, x[extra]]), np.r_[y, y[extra]])
    report = audit(_logit(), df, target="y", config=QUICK)
    assert "oversampled_before_split" in _codes(report)
    assert report.honest.rows == df.unique().height


def test_target_encoding_and_label_imputation_on_all_rows_are_found() -> None:
    import pandas as pd

    rng = np.random.default_rng(4)
    x, y = make_classification(700, 4, n_informative=3, n_redundant=0, flip_y=0.2,
                               random_state=4)
    level = rng.integers(0, 120, 700)
    encoded = pd.Series(y).groupby(level).transform("mean").to_numpy()
    gaps = rng.random(700) < 0.3
    x[gaps & (y == 1), 0] = x[y == 1, 0].mean()
    x[gaps & (y == 0), 0] = x[y == 0, 0].mean()
    df = _frame(x, y).with_columns(pl.Series("city_te", encoded))
    report = audit(_logit(), df, target="y", config=QUICK)
    assert {"target_encoded_all_rows", "label_aware_imputation"} <= _codes(report)
    assert "city_te" in report.excluded_columns


def test_declared_feature_selection_on_all_rows_gives_no_honest_score() -> None:
    x, y = make_classification(200, 5, random_state=5)
    report = audit(_logit(), _frame(x, y), target="y", config=QUICK, claimed=0.99,
                   preprocessed=["feature_selection"])
    assert report.honest is None and report.reported is None
    assert report.verdict == "no_honest_score"
    with pytest.raises(AuditError, match="choose one of"):
        Preprocessed.parse("pca")


def test_a_clear_cut_test_set_is_not_trusted() -> None:
    x, y = make_classification(1600, 5, n_informative=3, n_redundant=0, flip_y=0.1,
                               class_sep=0.8, random_state=6)
    df = _frame(x, y)
    train, pool = df[:1000], df[1000:]
    model = _logit().fit(train.drop("y").to_pandas(), train["y"].to_numpy())
    margin = np.abs(model.decision_function(pool.drop("y").to_pandas()))
    clear = pool.filter(pl.Series(margin > 1.5))
    report = audit(_logit(), train=train, test=clear, target="y", config=QUICK,
                   reference=pool.drop("y"))
    codes = _codes(report)
    assert {"spectrum_bias", "test_not_like_deployment"} <= codes
    assert report.honest.rows == train.height  # the unrepresentative test rows are left out


def test_cli_audit_prints_claimed_and_honest(settings, tmp_path, monkeypatch,
                                            capsys) -> None:
    from lockgate.cli.main import main

    monkeypatch.setenv("LOCKGATE_HOME", str(settings.home))
    x, y = make_classification(300, 5, n_informative=3, flip_y=0.2, random_state=7)
    path = tmp_path / "notebook.csv"
    _frame(x, y).write_csv(path)
    code = main(["audit", str(path), "--target", "y", "--estimator", "logistic",
                 "--claimed", "0.999", "--json"])
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["verdict"] == "inflated" and payload["claimed"] == 0.999
    assert payload["honest"]["rows"] == 300
    assert "claimed_score_not_reproduced" in {f["code"] for f in payload["findings"]}
    assert main(["audit", str(tmp_path / "missing.csv"), "--target", "y"]) == 1
    assert "does not exist" in capsys.readouterr().err
