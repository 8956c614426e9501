"""Integrity end to end: serving pins (version, digest) and says so on every response; a
tampered cache folder or archive is never served; /health says when the follower failed;
artifact URIs and paths from outside never reach outside the store."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator

import httpx
import pytest
import skops.io as sio
from lockgate_model_cases import registered
from sklearn.preprocessing import FunctionTransformer

from lockgate.artifacts import LocalBlobStore
from lockgate.config import Settings
from lockgate.errors import ArtifactError
from lockgate.registry import Registry
from lockgate.registry.package import MANIFEST, MODEL_FILE
from lockgate.serving import BackgroundServer, ServeConfig
from lockgate.store import Store
from tests.security.conftest import Canary

RECORD = {"age": 40, "income": 50_000.0, "tenure": 3.0}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Registry]:
    home = tmp_path_factory.mktemp("integrity") / ".lockgate"
    settings = Settings(home=home, heartbeat_seconds=0.5, hardware_seconds=0.5,
                        metric_flush_seconds=0.2)
    registry, _ = registered(settings, versions=2)
    return settings, registry


@pytest.fixture(scope="module")
def server(world: tuple[Settings, Registry]) -> Iterator[BackgroundServer]:
    settings, _ = world
    config = ServeConfig("churn@production", port=0, poll_seconds=0.2, log_predictions=False)
    with BackgroundServer(config, settings) as running:
        yield running


def test_every_response_names_version_and_digest(world: tuple[Settings, Registry],
                                                 server: BackgroundServer) -> None:
    _, registry = world
    digest = f"sha256:{registry.get('churn', 1).package_sha256}"
    with httpx.Client(base_url=server.url) as client:
        responses = [client.post("/predict", json=RECORD), client.get("/health"),
                     client.get("/model"), client.get("/nope"),
                     client.post("/predict", json={"age": "old"}),
                     client.get("/model", headers={"host": "evil.example"})]
        assert [r.status_code for r in responses] == [200, 200, 200, 404, 422, 403]
        for response in responses:
            assert response.headers["x-lockgate-model"] == "churn@1"
            assert response.headers["x-lockgate-model-digest"] == digest
        for body in (responses[0].json(), responses[1].json(), responses[2].json()):
            assert body["model_digest"] == digest


def test_a_resealed_cache_folder_is_replaced_by_the_registered_archive(
        world: tuple[Settings, Registry], canary: Canary) -> None:
    _, registry = world
    mv = registry.get("churn", 1)
    folder = registry.package_path(mv)
    evil = FunctionTransformer(func=__import__("functools").partial(exec, canary.code, None))
    model = sio.dumps(evil)
    (folder / MODEL_FILE).write_bytes(model)
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["files"][MODEL_FILE] = {"sha256": hashlib.sha256(model).hexdigest(),
                                     "size": len(model)}
    (folder / MANIFEST).write_text(json.dumps(manifest))
    package = registry.load(mv)  # re-extracted from the digest-checked archive
    assert type(package.pipeline).__name__ == "Pipeline"
    assert (folder / MODEL_FILE).read_bytes() != model


def test_a_version_whose_artifact_is_not_the_registered_digest_is_refused(
        world: tuple[Settings, Registry]) -> None:
    _, registry = world
    import sqlalchemy as sa

    from lockgate.store import tables_registry as t

    mv = registry.get("churn", 2)
    other = registry.get("churn", 1)
    with registry.store.write() as conn:
        conn.execute(sa.update(t.model_versions).where(t.model_versions.c.version == 2)
                     .values(artifact_id=other.artifact_id))
    try:
        with pytest.raises(ArtifactError, match="not the registered package digest"):
            registry.package_path(registry.get("churn", 2))
    finally:
        with registry.store.write() as conn:
            conn.execute(sa.update(t.model_versions).where(t.model_versions.c.version == 2)
                         .values(artifact_id=mv.artifact_id))


def test_health_is_degraded_while_the_follower_cannot_load_the_new_version(
        world: tuple[Settings, Registry], server: BackgroundServer) -> None:
    settings, registry = world
    v2 = registry.get("churn", 2)
    blob = LocalBlobStore(settings.resolved_artifact_root).path_for(v2.package_sha256)
    original = blob.read_bytes()
    blob.chmod(0o644)
    blob.write_bytes(original[:-10] + b"corrupted!")
    try:
        registry.transition("churn", 2, "production", action="promote", reason="test")
        deadline = time.monotonic() + 120
        while (health := httpx.get(server.url + "/health").json())["status"] == "ok":
            assert time.monotonic() < deadline, "the follower never reported its failure"
            time.sleep(0.1)
        assert health["status"] == "degraded" and health["model_version"] == 1
        assert "corrupted" in health["reason"] and "still serving v1" in health["reason"]
        assert httpx.post(server.url + "/predict", json=RECORD).json()["model_version"] == 1
    finally:
        blob.write_bytes(original)
        registry.transition("churn", 1, "production", action="promote", reason="restore")


@pytest.mark.parametrize("uri", [
    "file:///etc/passwd", "s3://bucket/../x", "lockgate+sha256://../../etc/passwd",
    "lockgate+sha256://" + "b" * 64, "http://169.254.169.254/x", "/etc/passwd",
    "lockgate+sha256://" + "A" * 64])
def test_add_artifact_refuses_uris_that_are_not_the_content_address(
        settings: Settings, uri: str) -> None:
    store = Store.open(settings)
    with pytest.raises(ArtifactError, match="Refusing to register artifact URI"):
        store.add_artifact(run_id=None, name="x", uri=uri, sha256="a" * 64, size=1,
                           media_type="application/octet-stream")


TRAVERSALS = ["..%2F..%2Fcanary.txt", "%2e%2e/%2e%2e/canary.txt", "..%252F..%252Fcanary.txt",
              "....//....//canary.txt", "..\\..\\canary.txt", "%c0%ae%c0%ae/canary.txt",
              "/etc/passwd", "..%00/canary.txt"]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_path_traversal_encodings_never_leave_the_store(settings: Settings, canary: Canary,
                                                        path: str) -> None:
    from starlette.testclient import TestClient

    from lockgate.ui import create_dashboard_app

    canary.path.with_name("artifacts").mkdir(exist_ok=True)
    client = TestClient(create_dashboard_app(settings), base_url="http://127.0.0.1")
    for url in (f"/blobs/{path}", f"/data/{path}", f"/models/{path}/1"):
        response = client.get(url)
        assert response.status_code in (400, 404), (url, response.status_code)
        assert "canary" not in response.text.lower() or "must stay" not in response.text
        assert "root:" not in response.text
