"""The prediction log's accounting: a request's latency and CPU time are shared by its
rows, the request's own latency and size stay on every row, and the writer stamps when
each row reached the table."""

from __future__ import annotations

from pathlib import Path

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


def test_each_log_commit_bounds_its_time_columns(tmp_path: Path) -> None:
    """Every append is one file whose commit records the min and max of the time columns
    (to the millisecond, rounded outwards), so a read of a span of ``logged_at`` or
    ``timestamp`` can skip the files outside it and never a file holding a match."""
    import datetime as dt

    import pyarrow as pa
    from deltalake import DeltaTable

    from lockgate.serving.prediction_log import LogTable

    log = LogTable(tmp_path / "log")
    base = dt.datetime(2026, 1, 1, 0, 0, 0, 999_500, tzinfo=dt.UTC)
    for second in range(3):
        start = base + dt.timedelta(seconds=second)
        log.append(pl.DataFrame(
            {"request_id": [f"a{second}", f"b{second}"],
             "timestamp": [start, start + dt.timedelta(microseconds=1)],
             "model_version": [1, 2]},
            schema_overrides={"timestamp": pl.Datetime("us", "UTC")}))
    files = pl.from_arrow(pa.table(DeltaTable(str(tmp_path / "log")).get_add_actions(
        flatten=True)))
    assert isinstance(files, pl.DataFrame) and files.height == 3
    rows = pl.read_delta(str(tmp_path / "log"))
    for column in ("timestamp", "logged_at", "model_version"):
        assert files[f"min.{column}"].null_count() == 0, column
        assert files[f"min.{column}"].min() <= rows[column].min()
        assert files[f"max.{column}"].max() >= rows[column].max()
    assert (files["max.timestamp"] > files["min.timestamp"]).all()  # 0.999501 -> 1.000
    last = base + dt.timedelta(seconds=2, microseconds=1)
    found = pl.scan_delta(str(tmp_path / "log")).filter(pl.col("timestamp") == last)
    assert found.collect()["request_id"].to_list() == ["b2"]


def test_the_log_is_appended_on_object_storage(s3_settings: Settings) -> None:
    """With the data root on S3 every append is still one file and one commit, the first
    creating the table and a later one with a new column merging it in."""
    import datetime as dt

    from lockgate.serving import predictions_path
    from lockgate.serving.prediction_log import LogTable

    path = predictions_path(s3_settings, "churn")
    log = LogTable(path)
    now = dt.datetime.now(dt.UTC)
    log.append(pl.DataFrame({"request_id": ["a"], "timestamp": [now]}))
    log.append(pl.DataFrame({"request_id": ["b"], "timestamp": [now], "batch_id": ["b1"]}))
    rows = read_predictions(s3_settings, "churn").sort("request_id")
    assert rows["request_id"].to_list() == ["a", "b"]
    assert rows["batch_id"].to_list() == [None, "b1"]
    assert rows["logged_at"].null_count() == 0
    assert not (s3_settings.home / "data").exists()
