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
