"""Model packages on a real S3-compatible server (``moto_server``): registered into an
``s3://`` artifact root, loaded back verified, and served from there with the
prediction log in an ``s3://`` data root."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent / "cases"))

from lockgate_model_cases import registered, wait_for

from lockgate.artifacts import blob_key, object_store_for
from lockgate.config import Settings
from lockgate.registry import Registry
from lockgate.serving import BackgroundServer, ServeConfig, read_predictions
from lockgate.store import Store

GOOD = {"age": 40, "income": 52000.0, "tenure": 3.5}


def test_register_load_and_serve_a_package_on_s3(s3_settings: Settings) -> None:
    registry, _ = registered(s3_settings, versions=1)
    mv = registry.resolve("churn@production")
    artifacts = object_store_for(s3_settings.resolved_artifact_root)
    assert artifacts.exists(blob_key(mv.package_sha256))  # the package is in the bucket
    assert not (s3_settings.home / "artifacts").exists()
    # a fresh registry (another process, say) loads the verified package from S3
    package = Registry(Store.open(s3_settings), s3_settings).load("churn@production")
    import pandas as pd

    assert len(package.pipeline.predict(pd.DataFrame([GOOD])[package.feature_columns])) == 1
    assert package.manifest == registry.load(mv).manifest

    config = ServeConfig("churn@production", port=0, log_flush_seconds=0.2,
                         poll_seconds=0.2)
    with BackgroundServer(config, s3_settings) as server:
        body = httpx.post(f"{server.url}/predict", json=GOOD,
                          headers={"x-request-id": "s3-1"}).json()
        assert (body["model_name"], body["model_version"]) == ("churn", 1)
        wait_for(lambda: _logged(s3_settings) >= 1, timeout=60)
    log = read_predictions(s3_settings, "churn")
    assert "s3-1" in log["request_id"].to_list()
    data_keys = [i.key for i in object_store_for(s3_settings.resolved_data_root).list()]
    assert any(k.startswith("_predictions/churn/_delta_log/") for k in data_keys)
    Store.close_all()


def _logged(settings: Settings) -> int:
    try:
        return read_predictions(settings, "churn").height
    except Exception:  # not written yet
        return 0
