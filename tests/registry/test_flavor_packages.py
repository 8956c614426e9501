"""Flavored models through the same package, gates (infra check in a fresh process
included) and serving as scikit-learn ones; v1 packages are still read."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from lightgbm import LGBMClassifier
from lockgate_model_cases import CONTRACT, FEATURES, PROFILE, dataset_version, make_frame
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from xgboost import XGBClassifier

from lockgate.artifacts import OnnxModel
from lockgate.config import Settings
from lockgate.data.contract import Contract
from lockgate.registry import (
    GateConfig,
    PackageContents,
    PackageError,
    Registry,
    load_package,
    run_gates,
    write_package,
)
from lockgate.serving.served_model import load_served
from lockgate.store import Store
from lockgate.tracking import start_run


def _run(settings: Settings, model: object, dv: int) -> tuple[str, object]:
    frame = make_frame()
    cut = int(frame.height * 0.7)
    holdout = frame[cut:]
    evaluation = {
        "problem_type": "binary", "primary_metric": "roc_auc", "greater_is_better": True,
        "metrics": {"roc_auc": 0.8}, "intervals": {"roc_auc": [0.75, 0.85]},
        "baseline_metrics": {"roc_auc": 0.5}, "beats_baseline": True, "cv_metrics": {},
        "findings": [], "leak_free": True, "splitter": "KFold", "splitter_reason": "iid",
        "dataset": {"table": "customers", "version": 1, "dataset_version_id": dv},
        "holdout": {"key": "customer_id", "ids": holdout["customer_id"].to_list()},
    }
    with start_run("train", experiment="flavor-tests", settings=settings,
                   capture_console=False, sample_hardware=False, capture_code=False) as run:
        run.log_value(model, "model")
        run.log_dict(evaluation, "evaluation")
    return run.id, holdout


def _fitted(kind: str) -> object:
    frame = make_frame()
    x, y = frame.select(FEATURES).to_pandas(), frame["churned"].to_numpy()
    if kind == "lightgbm":
        return make_pipeline(SimpleImputer(), LGBMClassifier(n_estimators=20, verbose=-1)
                             ).fit(x, y)
    if kind == "xgboost":
        return make_pipeline(SimpleImputer(), XGBClassifier(n_estimators=20, max_depth=3)
                             ).fit(x, y)
    return OnnxModel.from_sklearn(LogisticRegression(max_iter=500).fit(x, y), x)


@pytest.mark.parametrize("kind", ["lightgbm", "xgboost", "onnx"])
def test_flavored_model_passes_the_same_gates_and_serves(settings: Settings,
                                                         kind: str) -> None:
    registry = Registry(Store.open(settings), settings)
    model = _fitted(kind)
    run_id, holdout = _run(settings, model, dataset_version(registry.store))
    mv = registry.register("churn", run_id, contract=CONTRACT, reference_profile=PROFILE,
                           holdout=holdout)
    package = registry.load(mv)
    assert package.flavor == kind
    assert package.manifest["format_version"] == 2
    library = {"lightgbm": "lightgbm", "xgboost": "xgboost-cpu", "onnx": "onnxruntime"}[kind]
    assert library in package.environment["requirements"]
    # every flavor carries permutation importance on its holdout, for monitoring
    importance = package.feature_importance()
    assert importance is not None and importance["source"] == "registration"
    assert set(importance["values"]) == set(FEATURES) and max(importance["values"].values()) > 0
    results = {r.name: r for r in run_gates(registry, mv, GateConfig(thresholds={
        "roc_auc": 0.6}))}
    assert all(r.passed for r in results.values()), results
    assert results["infra"].details["requests"] > 0
    served = load_served(registry, "churn", mv.version)
    rows = holdout.select(FEATURES).head(5).to_dicts()
    labels, probabilities = served.predict(rows)
    expected = model.predict_proba(holdout.select(FEATURES).head(5).to_pandas())[:, 1]
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    assert set(labels) <= {"0", "1"}


class Threshold:
    """A home-made model: no flavor saves it safely."""

    def fit(self, x: object, y: object) -> Threshold:
        return self

    def predict(self, x: object) -> np.ndarray:
        return np.zeros(len(x))

    def get_params(self, deep: bool = True) -> dict[str, object]:
        return {}


def test_unknown_model_type_is_refused_when_packaged(tmp_path: Path) -> None:
    from sklearn.preprocessing import FunctionTransformer

    model = make_pipeline(FunctionTransformer(), Threshold())
    with pytest.raises(PackageError, match=r"No model flavor handles a sklearn\.pipeline\."
                       r"Pipeline ending in .*Threshold\. Flavors: sklearn, lightgbm, "
                       r"xgboost, onnx"):
        write_package(PackageContents(model, Contract.from_dict(CONTRACT), PROFILE, {}, {},
                                      "# card"),
                      tmp_path / "pkg")
    assert not (tmp_path / "pkg").exists()


def test_format_v1_package_is_still_read(tmp_path: Path) -> None:
    import skops.io as sio

    frame = make_frame(200)
    x, y = frame.select(FEATURES).to_pandas(), frame["churned"].to_numpy()
    pipeline = make_pipeline(SimpleImputer(), LogisticRegression()).fit(x, y)
    files = {"model.skops": sio.dumps(pipeline), "contract.json": json.dumps(CONTRACT).encode(),
             "reference_profile.json": json.dumps(PROFILE).encode(),
             "evaluation.json": b"{}", "lineage.json": b"{}", "environment.json": b"{}",
             "examples.json": b"[]", "MODEL_CARD.md": b"# card"}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    manifest = {"format": "lockgate-model-package", "format_version": 1,
                "files": {n: {"sha256": hashlib.sha256(d).hexdigest(), "size": len(d)}
                          for n, d in files.items()}}
    (tmp_path / "MANIFEST.json").write_text(json.dumps(manifest))
    loaded = load_package(tmp_path)
    assert loaded.flavor == "sklearn"
    assert (loaded.pipeline.predict(x) == pipeline.predict(x)).all()
