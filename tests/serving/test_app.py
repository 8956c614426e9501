"""The prediction API on a real server: predictions, 422s with field names, secure
defaults, the prediction log, the feedback join and the metrics."""

from __future__ import annotations

import httpx
import polars as pl
import pytest
from lockgate_model_cases import wait_for

from lockgate.config import Settings
from lockgate.registry import Registry
from lockgate.serving import (
    BackgroundServer,
    ServeConfig,
    ServeSecurityError,
    check_bind,
    join_feedback,
    read_predictions,
)

GOOD = {"age": 40, "income": 52000.0, "tenure": 3.5}


def test_single_record(server: BackgroundServer) -> None:
    response = httpx.post(f"{server.url}/predict", json=GOOD, headers={"x-request-id": "abc-1"})
    assert response.status_code == 200
    body = response.json()
    assert body["request_id"] == "abc-1"
    assert (body["model_name"], body["model_version"]) == ("churn", 1)
    assert body["prediction"] in {"0", "1"} and 0 <= body["probability"] <= 1


def test_batch(server: BackgroundServer) -> None:
    records = [GOOD, {**GOOD, "income": None}, {"age": 70, "tenure": 40.0}]
    body = httpx.post(f"{server.url}/predict", json={"records": records}).json()
    assert len(body["predictions"]) == 3
    assert len({p["request_id"] for p in body["predictions"]}) == 3


def test_422_names_every_bad_field(server: BackgroundServer) -> None:
    response = httpx.post(f"{server.url}/predict",
                          json={"age": 12, "income": "lots", "tenure": 3.0, "colour": "red"})
    assert response.status_code == 422
    fields = {e["field"]: e["type"] for e in response.json()["detail"]}
    assert fields == {"age": "greater_than_equal", "income": "float_type",
                      "colour": "extra_forbidden"}


def test_422_in_a_batch_points_at_the_row(server: BackgroundServer) -> None:
    response = httpx.post(f"{server.url}/predict",
                          json={"records": [GOOD, {"age": 30, "income": 1.0}]})
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"field": "records.1.tenure", "message": "Field required", "type": "missing"}]


def test_invalid_json_is_422(server: BackgroundServer) -> None:
    response = httpx.post(f"{server.url}/predict", content=b"{not json",
                          headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_non_json_body_is_415(server: BackgroundServer) -> None:
    response = httpx.post(f"{server.url}/predict", content=b"age=3",
                          headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 415
    assert "not supported; send JSON" in response.json()["detail"]


def test_oversized_body_is_413(server: BackgroundServer) -> None:
    big = b'{"records": [' + b",".join([b'{"age": 40, "tenure": 1.0}'] * 60_000) + b"]}"
    response = httpx.post(f"{server.url}/predict", content=big,
                          headers={"content-type": "application/json"})
    assert response.status_code == 413

    def chunks():  # no content-length: the limit holds while streaming too
        yield from (big[i:i + 65536] for i in range(0, len(big), 65536))

    streamed = httpx.post(f"{server.url}/predict", content=chunks(),
                          headers={"content-type": "application/json"})
    assert streamed.status_code == 413


def test_health_and_model(server: BackgroundServer) -> None:
    assert httpx.get(f"{server.url}/health").json()["status"] == "ok"
    model = httpx.get(f"{server.url}/model").json()
    assert model["features"] == ["age", "income", "tenure"]
    assert model["alias"] == "production"
    assert model["lineage"]["run_id"]
    assert model["model_card"].startswith("# Model card: churn v1")


def test_openapi_has_the_contract_schema(server: BackgroundServer) -> None:
    spec = httpx.get(f"{server.url}/openapi.json").json()
    record = spec["components"]["schemas"]["ChurnRecord"]
    assert record["additionalProperties"] is False
    assert record["properties"]["age"]["minimum"] == 18
    assert set(record["required"]) == {"age", "tenure"}


def test_feedback_is_joined_by_request_id(server: BackgroundServer,
                                          world: tuple[Settings, Registry]) -> None:
    settings, _ = world
    ids = [httpx.post(f"{server.url}/predict", json=GOOD).json()["request_id"]
           for _ in range(4)]
    assert httpx.post(f"{server.url}/feedback",
                      json={"request_id": ids[0], "label": "1"}).json() == {"accepted": 1}
    many = {"items": [{"request_id": ids[1], "label": "0"}, {"request_id": ids[2], "label": "1"}]}
    assert httpx.post(f"{server.url}/feedback", json=many).status_code == 200
    unknown = httpx.post(f"{server.url}/feedback", json={"request_id": "nope", "label": "1"})
    assert unknown.status_code == 404 and "Unknown request_id" in unknown.json()["detail"]
    bad = httpx.post(f"{server.url}/feedback", json={"items": [{"request_id": ids[3]}]})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "items.0.label"

    def joined() -> pl.DataFrame | None:
        try:
            return join_feedback(settings, "churn").filter(pl.col("request_id").is_in(ids))
        except Exception:
            return None

    wait_for(lambda: (frame := joined()) is not None and frame.height == 3)
    frame = joined()
    assert dict(zip(frame["request_id"], frame["label"], strict=True)) == {
        ids[0]: "1", ids[1]: "0", ids[2]: "1"}
    assert frame["age"].to_list() == [40, 40, 40]
    assert frame.schema["timestamp"] == pl.Datetime("us", "UTC")


def test_metrics_exposition(server: BackgroundServer) -> None:
    httpx.post(f"{server.url}/predict", json=GOOD)
    httpx.post(f"{server.url}/predict", json={"age": 1})
    text = httpx.get(f"{server.url}/metrics").text
    assert 'lockgate_requests_total{model="churn",route="/predict",method="POST",status="200"}' \
        in text
    assert 'lockgate_request_errors_total{model="churn",route="/predict",status="422"}' in text
    assert 'lockgate_request_latency_seconds_bucket{model="churn",route="/predict",le="+Inf"}' \
        in text
    assert 'lockgate_predictions_total{model="churn",version="1",class=' in text
    per_1k = [line for line in text.splitlines()
              if line.startswith("lockgate_cpu_seconds_per_1k_predictions{")]
    assert float(per_1k[0].split()[-1]) > 0


def test_unknown_fields_can_be_allowed(world: tuple[Settings, Registry]) -> None:
    settings, _ = world
    config = ServeConfig("churn@1", port=0, allow_unknown_fields=True, log_predictions=False)
    with BackgroundServer(config, settings) as lenient:
        response = httpx.post(f"{lenient.url}/predict", json={**GOOD, "colour": "red"})
        assert response.status_code == 200


def test_token_guards_every_route_but_health(world: tuple[Settings, Registry]) -> None:
    settings, _ = world
    config = ServeConfig("churn@1", port=0, token="s3cret-0123456789abcdef", log_predictions=False)
    with BackgroundServer(config, settings) as guarded:
        assert httpx.get(f"{guarded.url}/health").status_code == 200
        for path in ("/model", "/metrics", "/openapi.json"):
            assert httpx.get(f"{guarded.url}{path}").status_code == 401
        assert httpx.post(f"{guarded.url}/predict", json=GOOD,
                          headers={"authorization": "Bearer wrong"}).status_code == 401
        assert httpx.post(f"{guarded.url}/predict", json=GOOD,
                          headers={"authorization": "Bearer s3cret-0123456789abcdef"}
                          ).status_code == 200


def test_binding_beyond_localhost_needs_a_token_or_insecure() -> None:
    with pytest.raises(ServeSecurityError, match=r"Refusing to start lockgate serve on "
                                                 r"0\.0\.0\.0.*LOCKGATE_SERVE_TOKEN"):
        check_bind("0.0.0.0", None, False)
    assert check_bind("0.0.0.0", "t" * 16, False) is None
    with pytest.raises(ServeSecurityError, match="at least 16 random characters"):
        check_bind("0.0.0.0", "t" * 15, False)
    assert "WITHOUT authentication" in check_bind("0.0.0.0", None, True)
    assert check_bind("127.0.0.1", None, False) is None


def test_graceful_shutdown_writes_every_buffered_prediction(
        world: tuple[Settings, Registry], tmp_path) -> None:
    settings, _ = world
    isolated = Settings(home=settings.home, data_root=tmp_path / "data")
    config = ServeConfig("churn@1", port=0, log_flush_seconds=3600, log_max_rows=10**6)
    server = BackgroundServer(config, isolated).start()
    with httpx.Client(base_url=server.url) as client:
        ids = [client.post("/predict", json=GOOD).json()["request_id"] for _ in range(40)]
        ids += [p["request_id"] for p in client.post(
            "/predict", json={"records": [GOOD] * 10}).json()["predictions"]]
    assert not (tmp_path / "data" / "_predictions").exists()  # nothing written per request
    server.stop()
    logged = read_predictions(isolated, "churn")
    assert sorted(logged["request_id"].to_list()) == sorted(ids)
    assert logged.schema["model_version"] == pl.Int64
    assert logged["latency_ms"].min() > 0


def test_cli_refuses_a_public_address_without_token(capsys: pytest.CaptureFixture[str]) -> None:
    from lockgate.cli.main import main

    assert main(["serve", "churn@production", "--host", "0.0.0.0"]) == 1
    assert "Refusing to start lockgate serve on 0.0.0.0" in capsys.readouterr().err


def test_feedback_for_ids_only_in_the_log(server: BackgroundServer,
                                          world: tuple[Settings, Registry]) -> None:
    """Ids no longer among the recent ones are checked against the prediction log."""
    settings, _ = world
    ids = [httpx.post(f"{server.url}/predict", json=GOOD).json()["request_id"]
           for _ in range(2)]

    def logged_ids() -> set[str]:
        try:
            return set(read_predictions(settings, "churn")["request_id"])
        except Exception:  # the log is written asynchronously
            return set()

    wait_for(lambda: set(ids) <= logged_ids())
    server.state.recent.clear()
    mixed = {"items": [{"request_id": ids[0], "label": "1"},
                       {"request_id": "never-predicted", "label": "0"},
                       {"request_id": ids[1], "label": "0"}]}
    refused = httpx.post(f"{server.url}/feedback", json=mixed)
    assert refused.status_code == 404
    assert "['never-predicted']" in refused.json()["detail"]
    logged = {"items": [{"request_id": rid, "label": "1"} for rid in ids]}
    assert httpx.post(f"{server.url}/feedback", json=logged).json() == {"accepted": 2}
