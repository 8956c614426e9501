"""Batch scoring: the contract's door on every chunk (bad rows quarantined with their
reasons, never dropped), outputs committed at the end, every prediction in the same
prediction log as the server's with a batch id."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from lockgate_model_cases import CONTRACT, make_frame

from lockgate.config import Settings
from lockgate.data import FrameSource, ingest
from lockgate.data.contract import Contract
from lockgate.data.errors import SourceError
from lockgate.registry import Registry
from lockgate.serving import read_predictions
from lockgate.serving.batch_input import BatchInputError
from lockgate.serving.batch_scoring import BatchScoringError, predict_batch

FEATURES = ["age", "income", "tenure"]


def _csv(path: Path, frame: pl.DataFrame) -> Path:
    frame.write_csv(path)
    return path


def _log(settings: Settings) -> pl.DataFrame:
    """The prediction log of `churn` (empty before anything was logged)."""
    from lockgate.errors import NotFoundError

    try:
        return read_predictions(settings, "churn")
    except NotFoundError:
        return pl.DataFrame(schema={"batch_id": pl.String, "logged_at": pl.Datetime(
            "us", "UTC"), "timestamp": pl.Datetime("us", "UTC")})


def _expected(registry: Registry, frame: pl.DataFrame) -> np.ndarray:
    package = registry.load(registry.resolve("churn@production"))
    return package.pipeline.predict_proba(frame.select(FEATURES).to_pandas())[:, 1]


def test_a_file_is_scored_with_bad_rows_quarantined_and_logged(
        world: tuple[Settings, Registry], tmp_path: Path) -> None:
    settings, registry = world
    good = make_frame(30, seed=5).select("customer_id", *FEATURES)
    raw = good.with_columns(pl.col(c).cast(pl.String) for c in good.columns)
    bad = pl.DataFrame({"customer_id": ["900", "901"], "age": ["12", "40"],
                        "income": ["1000.0", "lots"], "tenure": ["3.0", "4.0"]})
    source = _csv(tmp_path / "in.csv", pl.concat([raw[:10], bad, raw[10:]])
                  .rename({"tenure": "Tenure"}))  # a spelling ingestion maps too
    result = predict_batch("churn@production", source, out=tmp_path / "scores.parquet",
                           settings=settings, chunk_rows=7)
    assert (result.rows_read, result.rows_scored, result.rows_quarantined) == (32, 30, 2)
    assert result.reasons == {"range:age": 1, "type:income": 1}
    assert result.chunks == 5
    scores = pl.read_parquet(tmp_path / "scores.parquet")
    assert scores["row"].to_list() == [*range(10), *range(12, 32)]  # rows of the input
    assert scores["customer_id"].to_list() == good["customer_id"].to_list()
    assert np.allclose(scores["probability"].to_numpy(), _expected(registry, good))
    quarantine = pl.read_parquet(result.quarantine)
    assert quarantine["row"].to_list() == [10, 11]
    assert '"age":"12"' in quarantine["raw"][0]
    logged = read_predictions(settings, "churn").filter(pl.col("batch_id") == result.batch_id)
    assert logged.height == 30 == result.logged
    assert set(logged["request_id"]) == set(scores["request_id"])
    assert (logged["latency_ms"] * logged["request_rows"] - logged["request_latency_ms"]
            ).abs().max() < 1e-6
    assert logged["logged_at"].null_count() == 0


def test_a_csv_is_read_as_ingestion_reads_it(world: tuple[Settings, Registry],
                                             tmp_path: Path) -> None:
    """The same reader as ingestion: the separator is sniffed (a `;` file scores like a
    `,` one) and a short row is refused with its line, before anything is scored."""
    settings, registry = world
    good = make_frame(12, seed=14).select("customer_id", *FEATURES)
    source = tmp_path / "semi.csv"
    good.write_csv(source, separator=";")
    result = predict_batch("churn@production", source, out=tmp_path / "semi.parquet",
                           settings=settings, chunk_rows=5, log_predictions=False)
    assert (result.rows_scored, result.rows_quarantined) == (12, 0)
    scores = pl.read_parquet(tmp_path / "semi.parquet")
    assert np.allclose(scores["probability"].to_numpy(), _expected(registry, good))
    short = tmp_path / "short.csv"
    short.write_text("customer_id,age,income,tenure\n1,40,1000.0,3.0\n2,41\n")
    with pytest.raises(SourceError, match="line 3"):
        predict_batch("churn@production", short, out=tmp_path / "short.parquet",
                      settings=settings, log_predictions=False)
    assert not (tmp_path / "short.parquet").exists()


def test_chunk_size_does_not_change_the_scores(world: tuple[Settings, Registry],
                                               tmp_path: Path) -> None:
    settings, _ = world
    source = tmp_path / "in.parquet"
    make_frame(50, seed=6).select("customer_id", *FEATURES).write_parquet(source)
    small = predict_batch("churn@1", source, out=tmp_path / "a.csv", settings=settings,
                          chunk_rows=3, log_predictions=False)
    whole = predict_batch("churn@1", source, out=tmp_path / "b.csv", settings=settings,
                          log_predictions=False)
    assert (small.chunks, whole.chunks) == (17, 1)
    a, b = pl.read_csv(tmp_path / "a.csv"), pl.read_csv(tmp_path / "b.csv")
    assert a.select("row", "customer_id", "prediction").equals(
        b.select("row", "customer_id", "prediction"))
    assert np.allclose(a["probability"].to_numpy(), b["probability"].to_numpy(),
                       rtol=0, atol=1e-12)  # BLAS may order sums by batch size


def test_a_missing_required_column_fails_before_anything_is_written(
        world: tuple[Settings, Registry], tmp_path: Path) -> None:
    settings, _ = world
    source = _csv(tmp_path / "in.csv", make_frame(20).select("age", "income"))
    before = read_predictions(settings, "churn").height
    with pytest.raises(BatchScoringError, match=r"has no column\(s\) tenure that model "
                       r"churn@1 needs"):
        predict_batch("churn@production", source, out=tmp_path / "s.parquet",
                      settings=settings)
    assert not (tmp_path / "s.parquet").exists()
    assert not list(tmp_path.glob("*.partial"))
    assert read_predictions(settings, "churn").height == before


@pytest.mark.parametrize("suffix", ["parquet", "csv", "jsonl"])
def test_a_failure_after_chunks_were_written_leaves_no_output_and_says_what_was_logged(
        world: tuple[Settings, Registry], tmp_path: Path, suffix: str) -> None:
    """The output is streamed chunk by chunk: a chunk that fails after others were
    written still leaves no output file and no partial file. The predictions already
    made are in the log (committed per chunk), and the error says how many, under which
    batch id, so a rerun (a new batch id) is never mistaken for the same job."""
    settings, _ = world
    source = tmp_path / "in.jsonl"
    pl.DataFrame(make_frame(20, seed=7).select("customer_id", *FEATURES)).write_ndjson(source)
    with source.open("a") as handle:
        handle.write("{not json\n")  # the third chunk cannot be read
    before = _log(settings).height
    out = tmp_path / f"s.{suffix}"
    with pytest.raises(BatchInputError, match="line 21 is not JSON") as raised:
        predict_batch("churn@production", source, out=out, settings=settings,
                      chunk_rows=10)
    assert not out.exists() and not list(tmp_path.glob("*.partial"))
    note = "\n".join(raised.value.__notes__)
    batch = re.search(r"batch (b[0-9a-f]{12})", note)
    assert batch and "20 predictions of 2 chunks" in note and "no output" in note, note
    logged = _log(settings)
    assert logged.height == before + 20
    assert logged.filter(pl.col("batch_id") == batch.group(1)).height == 20


def test_records_lacking_a_field_after_the_first_chunk_are_quarantined(
        world: tuple[Settings, Registry], tmp_path: Path) -> None:
    """JSON Lines records are shaped one by one: a later record without a field the model
    needs is a bad row (quarantined with its reason), not a failed job."""
    settings, _ = world
    rows = make_frame(30, seed=7).select("customer_id", *FEATURES).to_dicts()
    for row in rows[20:]:
        del row["tenure"]
    source = tmp_path / "in.jsonl"
    pl.DataFrame(rows[:20]).write_ndjson(source)
    with source.open("a") as handle:
        handle.write(pl.DataFrame(rows[20:]).write_ndjson())
    result = predict_batch("churn@production", source, out=tmp_path / "s.parquet",
                           settings=settings, chunk_rows=10)
    assert (result.rows_scored, result.rows_quarantined) == (20, 10)
    assert result.reasons == {"null:tenure": 10}
    assert pl.read_parquet(result.quarantine)["row"].to_list() == list(range(20, 30))


def test_the_log_is_committed_chunk_by_chunk(world: tuple[Settings, Registry],
                                            tmp_path: Path) -> None:
    """Memory stays bounded by the chunk: each chunk's predictions are in the prediction
    log when the next chunk is read (nothing is staged for one commit at the end), each
    stamped ``logged_at`` at its own commit; the output file appears only at the end."""
    settings, _ = world
    source = tmp_path / "in.parquet"
    make_frame(25, seed=11).select("customer_id", *FEATURES).write_parquet(source)
    out = tmp_path / "p.parquet"
    seen: list[tuple[int, int, bool]] = []

    def visible(done: int, total: int | None) -> None:
        batch = _log(settings).filter(
            pl.col("batch_id").is_not_null()
            & (pl.col("logged_at") >= started)).height
        seen.append((done, batch, out.exists()))

    import datetime as dt
    started = dt.datetime.now(dt.UTC)
    result = predict_batch("churn@production", source, out=out, settings=settings,
                           chunk_rows=10, progress=visible)
    assert seen == [(10, 10, False), (20, 20, False), (25, 25, False)]
    logged = _log(settings).filter(
        pl.col("batch_id") == result.batch_id)
    assert logged["logged_at"].n_unique() == 3  # one stamp per chunk's commit
    assert (logged["logged_at"] >= logged["timestamp"]).all()


def test_every_row_of_a_long_batch_lands_in_a_bucket_the_monitor_reads(
        world: tuple[Settings, Registry], tmp_path: Path) -> None:
    """A monitor closing (and storing) 1 s buckets while a multi-chunk job runs still
    counts every row of the job exactly once: each chunk is visible by the time its
    ``logged_at`` bucket can close. Stamping rows as they are scored but committing them
    at the end would leave the early chunks in buckets already stored without them."""
    import time

    from lockgate.monitoring import watch
    from lockgate.monitoring.window import (
        read_span,
        stored_bucket_count,
        window_profile,
        window_span,
    )
    from lockgate.serving import predictions_path
    from lockgate.store import Store

    settings, _ = world
    store = Store.open(settings)
    model = watch("churn@production", settings)
    source = tmp_path / "in.parquet"
    make_frame(30, seed=12).select("customer_id", *FEATURES).write_parquet(source)
    predict_batch("churn@production", source, out=tmp_path / "first.parquet",
                  settings=settings)  # the log exists before the monitor reads it
    start = float(int(time.time()))
    stored_before = stored_bucket_count(store, "churn")

    def monitor(end: float) -> int:
        span = window_span(end, end - start, 1.0)
        merged, _ = window_profile(store, settings, "churn", span, features=model.features,
                                   contract=model.contract, now=time.time(),
                                   settle_seconds=0.0)
        return merged.n

    def slow_progress(done: int, total: int | None) -> None:
        time.sleep(0.45)  # the job spans several buckets; the monitor closes them
        monitor(time.time())

    result = predict_batch("churn@production", source, out=tmp_path / "p.parquet",
                           settings=settings, chunk_rows=5, progress=slow_progress)
    time.sleep(max(0.0, math.ceil(time.time()) - time.time()) + 0.05)
    end = time.time()
    assert stored_bucket_count(store, "churn") > stored_before + 2  # closed during the job
    path = predictions_path(settings, "churn")
    truth = read_span(path, start, math.ceil(end))
    ours = truth.filter(pl.col("batch_id") == result.batch_id)
    assert ours.height == result.logged == 30  # every row of the job is in the span
    assert monitor(end) == truth.height  # ... and counted by the buckets, exactly once


def test_a_table_version_is_scored_into_a_table(world: tuple[Settings, Registry]) -> None:
    settings, _ = world
    frame = make_frame(40, seed=7)
    ingest(FrameSource(frame), "customers", Contract.from_dict(CONTRACT), settings=settings)
    result = predict_batch("churn@production", "customers@v0", out="table:churn_scores",
                           settings=settings, log_predictions=False)
    assert result.source == "customers@v0" and result.rows_scored == 40
    scores = pl.read_delta(str(settings.resolved_data_root / "_scores" / "churn_scores"))
    assert sorted(scores["customer_id"].to_list()) == list(range(40))


def test_a_table_output_is_one_version_or_nothing(world: tuple[Settings, Registry],
                                                  tmp_path: Path) -> None:
    """Scored into a Delta table, each chunk is staged as a file inside it (memory stays
    bounded by the chunk) and the job lands as one version; a job that fails halfway
    adds no version and leaves no staged file behind."""
    from deltalake import DeltaTable

    settings, _ = world
    source = tmp_path / "in.jsonl"
    make_frame(25, seed=13).select("customer_id", *FEATURES).write_ndjson(source)
    table = settings.resolved_data_root / "_scores" / "chunked_scores"
    result = predict_batch("churn@production", source, out="table:chunked_scores",
                           settings=settings, chunk_rows=10, log_predictions=False)
    landed = DeltaTable(str(table))
    assert (result.chunks, landed.version(), len(landed.file_uris())) == (3, 0, 3)
    files = set(table.glob("*.parquet"))
    with source.open("a") as handle:
        handle.write("{not json\n")
    with pytest.raises(BatchInputError, match="not JSON"):
        predict_batch("churn@production", source, out="table:chunked_scores",
                      settings=settings, chunk_rows=10, log_predictions=False)
    assert DeltaTable(str(table)).version() == 0
    assert set(table.glob("*.parquet")) == files
    assert pl.read_delta(str(table)).height == 25


def test_an_output_without_a_known_format_is_refused(world: tuple[Settings, Registry],
                                                     tmp_path: Path) -> None:
    settings, _ = world
    with pytest.raises(BatchScoringError, match=r"use a path ending in \.parquet, \.csv, "
                                                r"\.jsonl, or `table:NAME`"):
        predict_batch("churn@1", "x.csv", out=tmp_path / "scores.xlsx", settings=settings)


def test_the_cli_scores_a_file_and_names_the_quarantine(
        world: tuple[Settings, Registry], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from lockgate.cli.main import main

    settings, _ = world
    monkeypatch.setenv("LOCKGATE_HOME", str(settings.home))
    frame = make_frame(12, seed=8).select(*FEATURES)
    raw = frame.with_columns(pl.col(c).cast(pl.String) for c in frame.columns)
    source = _csv(tmp_path / "in.csv", pl.concat([raw, pl.DataFrame(
        {"age": ["150"], "income": ["1.0"], "tenure": ["2.0"]})]))
    code = main(["predict", "churn@production", str(source), "--out",
                 str(tmp_path / "s.csv"), "--no-prediction-log"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Scored 12 of 13 rows" in out and "range:age" in out
    assert "s.csv.quarantine.parquet" in "".join(out.split())  # rich wraps paths
    assert pl.read_csv(tmp_path / "s.csv").height == 12
    assert main(["predict", "churn@production", str(tmp_path / "nope.csv"), "--out",
                 str(tmp_path / "t.csv")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_progress_is_reported_after_every_chunk(world: tuple[Settings, Registry],
                                                tmp_path: Path) -> None:
    settings, _ = world
    source = tmp_path / "in.parquet"
    make_frame(25, seed=9).select("customer_id", *FEATURES).write_parquet(source)
    seen: list[tuple[int, int | None]] = []
    predict_batch("churn@production", source, out=tmp_path / "p.parquet", settings=settings,
                  chunk_rows=10, log_predictions=False,
                  progress=lambda done, total: seen.append((done, total)))
    assert seen == [(10, 25), (20, 25), (25, 25)]


def test_the_monitor_reads_a_batch_scored_log_and_joins_its_labels(
        world: tuple[Settings, Registry], server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Batch predictions land in the same log as the server's: feedback on their request
    ids joins them, and a monitoring window counts and scores them like online ones."""
    import time

    import httpx
    from lockgate_model_cases import wait_for

    from lockgate.monitoring.performance import labeled_predictions
    from lockgate.serving import feedback_path, predictions_path

    settings, _ = world
    frame = make_frame(40, seed=10)
    source = tmp_path / "batch.parquet"
    frame.select("customer_id", *FEATURES).write_parquet(source)
    start = time.time() - 1
    result = predict_batch("churn@production", source, out=tmp_path / "b.parquet",
                           settings=settings)
    scores = pl.read_parquet(tmp_path / "b.parquet")
    truth = dict(zip(frame["customer_id"], frame["churned"].cast(pl.String), strict=True))
    items = [{"request_id": rid, "label": truth[cid]}
             for rid, cid in zip(scores["request_id"], scores["customer_id"], strict=True)]
    assert httpx.post(f"{server.url}/feedback", json={"items": items}).status_code == 200

    def joined() -> tuple[pl.DataFrame, int]:
        return labeled_predictions(predictions_path(settings, "churn"),
                                   feedback_path(settings, "churn"), start, time.time() + 60)

    wait_for(lambda: joined()[0].filter(pl.col("request_id").is_in(
        scores["request_id"].implode())).height == result.rows_scored)
    labeled, n = joined()
    ours = labeled.filter(pl.col("request_id").is_in(scores["request_id"].implode()))
    assert n >= result.logged == 40
    assert (ours["prediction"] == ours["label"]).mean() > 0.6  # labels joined to their rows
