"""Create the real MLflow stores the MLflow-import tests read (tests/fixtures/mlflow/).

MLflow is not a lockgate dependency, not even in the dev extra (installing it would
change versions of pyarrow and python-dateutil in the project's environment), so the
stores are made once with MLflow in a separate virtual environment and committed:

    python -m venv /tmp/mlflow-venv
    /tmp/mlflow-venv/bin/pip install mlflow lightgbm xgboost-cpu scikit-learn
    /tmp/mlflow-venv/bin/python scripts/make_mlflow_stores.py tests/fixtures/mlflow

CI reads the committed stores; it never needs MLflow.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import lightgbm
import mlflow
import numpy as np
import xgboost
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    return x, (x[:, 0] + x[:, 1] > 0).astype(int)


def fill(tracking_uri: str, artifact_root: str | None) -> None:
    mlflow.set_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri)
    exp = client.create_experiment("churn", artifact_location=artifact_root)
    client.create_experiment("unused-other")
    x, y = _data()
    mlflow.set_experiment(experiment_id=exp)
    with mlflow.start_run(run_name="lgbm") as run:
        mlflow.log_params({"num_leaves": 7, "learning_rate": 0.1})
        mlflow.set_tags({"team": "churn", "stage": "dev"})
        for step, loss in enumerate([0.69, 0.52, 0.41]):
            mlflow.log_metric("train_loss", loss, step=step)
        mlflow.log_metric("auc", 0.91)
        mlflow.log_text("hello from mlflow\n", "notes/readme.txt")
        booster = lightgbm.train({"objective": "binary", "num_leaves": 7, "verbose": -1},
                                 lightgbm.Dataset(x, y), num_boost_round=5)
        mlflow.lightgbm.log_model(booster, name="model", registered_model_name="churn")
        lgbm_run = run.info.run_id
    with mlflow.start_run(run_name="xgb"):
        mlflow.log_param("max_depth", 3)
        mlflow.log_metric("auc", 0.88)
        model = xgboost.XGBClassifier(n_estimators=5, max_depth=3).fit(x, y)
        mlflow.xgboost.log_model(model, name="model", registered_model_name="churn")
    with mlflow.start_run(run_name="sklearn-pickle"):
        mlflow.log_metric("auc", 0.80)
        mlflow.sklearn.log_model(LogisticRegression().fit(x, y), name="model",
                                 registered_model_name="churn-lr")
    with mlflow.start_run(run_name="sklearn-cloudpickle"):
        mlflow.sklearn.log_model(LogisticRegression(C=0.5).fit(x, y), name="model",
                                 serialization_format="cloudpickle")
    client.set_registered_model_alias("churn", "champion", "1")
    client.set_registered_model_alias("churn", "challenger", "2")
    print("filled", tracking_uri, "lgbm run", lgbm_run)


def main(target: Path) -> None:
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"  # the file store is what older teams have
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    fill((target / "file_store").resolve().as_uri(), None)
    db = (target / "sqlite" / "mlflow.db").resolve()
    db.parent.mkdir()
    fill(f"sqlite:///{db}", (target / "sqlite" / "artifacts").resolve().as_uri())


if __name__ == "__main__":
    main(Path(sys.argv[1]))
