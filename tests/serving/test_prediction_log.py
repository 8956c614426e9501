"""The prediction log's accounting: a request's latency and CPU time are shared by its
rows, the request's own latency and size stay on every row, and the writer stamps when
each row reached the table."""

from __future__ import annotations

import httpx
import polars as pl
from lockgate_model_cases import wait_for

from lockgate.config import Settings
from lockgate.registry import Registry
from lockgate.serving import BackgroundServer, read_predictions

GOOD = {"age": 40, "income": 52000.0, "tenure": 3.5}


def test_a_100_row_request_shares_its_latency_among_its_rows(
        server: BackgroundServer, world: tuple[Settings, Registry]) -> None:
    settings, _ = world
    body = httpx.post(f"{server.url}/predict", json={"records": [GOOD] * 100}).json()
    ids = {p["request_id"] for p in body["predictions"]}

    def logged() -> pl.DataFrame:
        try:
            frame = read_predictions(settings, "churn")
        except Exception:
            return pl.DataFrame()
        return frame.filter(pl.col("request_id").is_in(list(ids)))

    wait_for(lambda: logged().height == 100)
    rows = logged()
    assert rows["request_rows"].unique().to_list() == [100]
    assert rows["request_latency_ms"].n_unique() == 1
    request_ms = rows["request_latency_ms"][0]
    adds_up = abs(rows["latency_ms"].sum() - request_ms) < 1e-6 * max(request_ms, 1.0)
    assert adds_up, "per-row latencies must add up to the request's latency"
    assert rows["latency_ms"].max() < request_ms  # not the whole latency on each row
    assert rows["cpu_ms"].min() >= 0 and rows["cpu_ms"].sum() > 0
    assert rows["batch_id"].null_count() == 100  # online, not batch scoring
    assert (rows["logged_at"] >= rows["timestamp"]).all()


def test_a_prediction_logs_the_contracts_key_the_model_does_not_read(
        server: BackgroundServer, world: tuple[Settings, Registry]) -> None:
    """A labeled prediction must be a training row: the key / entity / event time the
    training split needs are accepted beside the features (optional, checked like any
    field) and logged; the model still reads only its features."""
    settings, _ = world
    sent = [{**GOOD, "customer_id": 9001}, {**GOOD, "customer_id": 9002}, dict(GOOD)]
    response = httpx.post(f"{server.url}/predict", json={"records": sent})
    assert response.status_code == 200, response.text
    ids = [p["request_id"] for p in response.json()["predictions"]]
    bad = httpx.post(f"{server.url}/predict", json={**GOOD, "customer_id": "x"})
    assert bad.status_code == 422 and "customer_id" in bad.text  # checked, not dropped

    def logged() -> pl.DataFrame:
        try:
            frame = read_predictions(settings, "churn")
        except Exception:
            return pl.DataFrame()
        return frame.filter(pl.col("request_id").is_in(ids))

    wait_for(lambda: logged().height == 3)
    by_id = dict(zip(logged()["request_id"], logged()["customer_id"], strict=True))
    assert [by_id[i] for i in ids] == [9001, 9002, None]
