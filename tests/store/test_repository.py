"""The store's repository API, on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lockgate.config import Settings
from lockgate.errors import NotFoundError, TrackingError
from lockgate.store import Store
from tests.conftest import make_settings


@pytest.fixture
def store(any_settings: Settings) -> Store:
    return Store.open(any_settings)


@pytest.fixture(params=["embedded", "server"])
def record_store(request: pytest.FixtureRequest, any_settings: Settings, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """The dataset-version and lineage API on the store itself, and through a live
    ``lockgate server`` in front of it (a writer's client)."""
    if request.param == "embedded":
        yield Store.open(any_settings)
        return
    from lockgate.security import accounts
    from lockgate.server import TeamServer
    from lockgate.store.remote import RemoteStore

    backend = Store.open(any_settings)
    accounts.init_admin(backend)
    accounts.create_user(backend, "tester", "writer")
    with TeamServer(any_settings) as server:
        client = RemoteStore(server.url, accounts.issue_token(backend, "tester"))
        yield client
        client.close()


def test_runs_params_metrics_round_trip(store: Store) -> None:
    run_id = store.create_run("baseline", experiment="churn")
    store.log_params(run_id, {"lr": 0.1, "layers": [3, 4], "name": "x"})
    store.log_params(run_id, {"lr": 0.2})  # overwrite
    store.log_metric_rows([
        {"run_id": run_id, "key": "loss", "step": s, "timestamp": time.time(), "value": 1 / (s + 1)}
        for s in range(5)
    ])
    assert store.params(run_id) == {"lr": 0.2, "layers": [3, 4], "name": "x"}
    points = store.metrics(run_id, "loss")
    assert [p.step for p in points] == [0, 1, 2, 3, 4]
    assert store.last_metrics([run_id])[run_id] == {"loss": pytest.approx(0.2)}


def test_nan_and_inf_are_stored_faithfully(store: Store) -> None:
    run_id = store.create_run("diverging")
    store.log_metric_rows([
        {"run_id": run_id, "key": "loss", "step": 0, "timestamp": 0.0, "value": math.nan},
        {"run_id": run_id, "key": "loss", "step": 1, "timestamp": 1.0, "value": math.inf},
        {"run_id": run_id, "key": "loss", "step": 2, "timestamp": 2.0, "value": -math.inf},
    ])
    values = [p.value for p in store.metrics(run_id, "loss")]
    assert math.isnan(values[0])
    assert values[1:] == [math.inf, -math.inf]


def test_list_runs_filters_and_sorts_by_metric(store: Store) -> None:
    ids = []
    for i, auc in enumerate([0.7, 0.9, 0.8]):
        run_id = store.create_run(f"r{i}", experiment="exp")
        store.log_metric_rows([{"run_id": run_id, "key": "auc", "step": 0, "timestamp": 0.0,
                                "value": auc}])
        store.set_tags(run_id, {"team": "a" if i < 2 else "b"})
        store.end_run(run_id, "FINISHED")
        ids.append(run_id)
    other = store.create_run("elsewhere", experiment="other")
    store.end_run(other, "FAILED", error="boom")

    best_first = store.list_runs(experiment="exp", sort_metric="auc")
    assert [r.name for r in best_first] == ["r1", "r2", "r0"]
    worst_first = store.list_runs(experiment="exp", sort_metric="auc", ascending=True)
    assert [r.name for r in worst_first] == ["r0", "r2", "r1"]
    assert {r.name for r in store.list_runs(tags={"team": "a"})} == {"r0", "r1"}
    failed = store.list_runs(status="failed")
    assert [r.id for r in failed] == [other] and failed[0].error == "boom"


def test_unknown_experiment_suggests_close_match(store: Store) -> None:
    store.create_run("x", experiment="churn")
    with pytest.raises(NotFoundError, match="Did you mean `churn`"):
        store.list_runs(experiment="chrun")


def test_run_id_prefix_and_unknown_id(store: Store) -> None:
    run_id = store.create_run("x")
    assert store.get_run(run_id[:6]).id == run_id
    with pytest.raises(NotFoundError, match=r"No run with id `zzzz`.*lockgate runs list"):
        store.get_run("zzzz")


def test_stale_heartbeat_reads_as_crashed(store: Store) -> None:
    # A live run beating every 30 s stays RUNNING however slow this machine is; one that
    # promised a beat every 0.05 s and missed two is CRASHED, in Python and in SQL.
    alive = store.create_run("alive", heartbeat_seconds=30.0)
    run_id = store.create_run("dying", heartbeat_seconds=0.05)
    time.sleep(0.3)
    assert store.get_run(alive).status == "RUNNING"
    assert store.get_run(run_id).status == "CRASHED"
    assert [r.id for r in store.list_runs(status="CRASHED")] == [run_id]
    assert [r.id for r in store.list_runs(status="RUNNING")] == [alive]


def test_dataset_versions_enforce_row_accounting(record_store: Store) -> None:
    store = record_store
    first = store.add_dataset_version("orders", rows_ingested=10, rows_accepted=8,
                                      rows_quarantined=2, validation_status="passed",
                                      checks={"range:amount": {"failed": 2}})
    second = store.add_dataset_version("orders", rows_ingested=5, rows_accepted=5)
    assert (first.version, second.version) == (0, 1)
    assert store.dataset_version("orders").ref == "orders@v1"
    assert store.dataset_version("orders", 0).checks == {"range:amount": {"failed": 2}}
    with pytest.raises(ValueError, match="ingested 5 != accepted 3 \\+ quarantined 1"):
        store.add_dataset_version("orders", rows_ingested=5, rows_accepted=3,
                                  rows_quarantined=1)
    with pytest.raises(NotFoundError, match="Did you mean `orders`"):
        store.dataset_version("order")


def test_lineage_edges(record_store: Store, any_settings: Settings, tmp_path: Path) -> None:
    from lockgate.artifacts import blob_store_for

    store = record_store
    run_id = store.create_run("train")
    version = store.add_dataset_version("orders", rows_ingested=1, rows_accepted=1)
    # a client keeps its own cache; embedded, the blob goes to the artifact root
    root = tmp_path / "client-cache" if store.dialect == "remote" else \
        any_settings.resolved_artifact_root
    sha = blob_store_for(root, store=store).put(b"abc")
    artifact = store.add_artifact(run_id=run_id, name="model", uri="lockgate+sha256://" + sha,
                                  sha256=sha, size=3, media_type="application/x-skops")
    store.add_lineage(run_id, "consumed", dataset_version_id=version.id, role=version.ref)
    store.add_lineage(run_id, "produced", artifact_id=artifact.id, role="model")
    edges = store.lineage(run_id=run_id)
    assert [(e.direction, e.role) for e in edges] == [("consumed", "orders@v0"),
                                                      ("produced", "model")]
    assert store.lineage(sha256=sha)[0].run_id == run_id
    assert store.lineage(dataset_version_id=version.id)[0].role == "orders@v0"
    store.update_dataset_version(version.id, validation_status="passed")
    assert store.dataset_version_by_id(version.id).validation_status == "passed"
    assert store.dataset_tables() == ["orders"]
    with pytest.raises(ValueError, match="exactly one"):
        store.add_lineage(run_id, "produced")


def test_runs_found_by_what_they_logged(store: Store) -> None:
    """The dashboard's reads of runs by their artifacts, lineage and kind."""
    first, second, plain = (store.create_run(n) for n in ("first", "second", "plain"))
    pipeline = store.create_run("pipe", kind="pipeline")
    for run_id, digit in ((first, "a"), (second, "b"), (first, "c")):
        store.add_artifact(run_id=run_id, name="model", uri="lockgate+sha256://" + digit * 64,
                           sha256=digit * 64, size=3, media_type="application/x-skops")
    store.add_artifact(run_id=plain, name="notes", uri="lockgate+sha256://" + "d" * 64,
                       sha256="d" * 64, size=3, media_type="text/plain")
    # the latest logger first: `first` logged again after `second`
    assert [r.id for r in store.runs_that_logged("model")] == [first, second]
    assert [r.id for r in store.runs_that_logged("model", limit=1)] == [first]
    assert store.runs_that_logged("absent") == []
    version = store.add_dataset_version("orders", rows_ingested=1, rows_accepted=1)
    store.add_lineage(second, "consumed", dataset_version_id=version.id)
    store.add_lineage(plain, "consumed", dataset_version_id=version.id)
    assert [r.id for r in store.runs_with_lineage()] == [plain, second]
    assert store.count_runs(kind="pipeline") == 1
    assert store.count_runs() == 4
    assert pipeline in {r.id for r in store.list_runs(kind="pipeline")}


def test_json_param_check_is_in_store_too(store: Store) -> None:
    run_id = store.create_run("x")
    with pytest.raises(TrackingError, match="`obj` has a value of type object"):
        store.log_params(run_id, {"obj": object()})


def _latest_from_history(store: Store) -> dict[tuple[str, str], float]:
    """Each (run, key)'s latest write, recomputed from the full metric history."""
    import sqlalchemy as sa

    from lockgate.store import schema as t

    m, series = t.metrics, t.metric_series
    newest = sa.select(sa.func.max(m.c.id)).group_by(m.c.series_id)
    with store.read() as conn:
        rows = conn.execute(sa.select(series.c.run_id, series.c.key, m.c.value, m.c.is_nan)
                            .join(series, series.c.id == m.c.series_id)
                            .where(m.c.id.in_(newest)))
        return {(r, k): math.nan if nan else v for r, k, v, nan in rows}


def _latest_table(store: Store) -> dict[tuple[str, str], float]:
    import sqlalchemy as sa

    from lockgate.store import schema as t

    last = t.latest_metrics
    with store.read() as conn:
        rows = conn.execute(sa.select(last.c.run_id, last.c.key, last.c.value, last.c.is_nan))
        return {(r, k): math.nan if nan else v for r, k, v, nan in rows}


def _same(a: dict[tuple[str, str], float], b: dict[tuple[str, str], float]) -> bool:
    return a.keys() == b.keys() and all(
        (math.isnan(a[k]) and math.isnan(b[k])) or a[k] == b[k] for k in a)


def test_latest_metrics_follow_every_write(store: Store) -> None:
    """Interleaved batches (re-logged steps, earlier steps logged later, NaN, several
    runs per batch) leave latest_metrics equal to the latest write in the history."""
    import random

    rng = random.Random(7)
    runs = [store.create_run(f"r{i}") for i in range(4)]
    for _ in range(25):
        batch = [(rng.choice(runs), rng.choice(["auc", "loss", "f1"]), rng.randint(0, 5),
                  time.time(), rng.choice([rng.random(), math.nan, math.inf]))
                 for _ in range(rng.randint(1, 12))]
        store.log_metric_tuples(batch)
        assert _same(_latest_table(store), _latest_from_history(store))
    last = store.last_metrics(runs)
    assert {(r, k) for r in runs for k in last[r]} == set(_latest_from_history(store))


def test_latest_metrics_commit_with_their_batch(store: Store) -> None:
    """A batch that fails leaves neither points nor latest values behind."""
    run_id = store.create_run("r")
    store.log_metric_tuples([(run_id, "auc", 0, 0.0, 0.5)])
    with pytest.raises(Exception):  # noqa: B017  (the driver's own error type)
        store.log_metric_tuples([(run_id, "auc", 1, 0.0, 0.9), ("no-such-run", "auc", 0,
                                                                  0.0, 0.1)])
    assert store.last_metrics([run_id]) == {run_id: {"auc": 0.5}}
    assert len(store.metrics(run_id)) == 1


def test_a_large_batch_keeps_every_point_in_order(store: Store) -> None:
    """Batches longer than one multi-row INSERT (and not a multiple of it), interleaved
    keys, re-logged steps, NaN and infinities: read back as written."""
    runs = [store.create_run("a"), store.create_run("b")]
    values = [math.nan, math.inf, -math.inf, 0.0, -1.5]
    batch = [(runs[i % 2], ("loss", "auc", "f1")[i % 3], i // 7, float(i),
              values[i % 11] if i % 11 < len(values) else i / 3) for i in range(1237)]
    store.log_metric_tuples(batch)
    store.log_metric_tuples(batch[:250])
    for run_id in runs:
        written = [(k, s, ts, "nan" if math.isnan(v) else v)
                   for r, k, s, ts, v in batch + batch[:250] if r == run_id]
        assert _points(store, run_id) == sorted(written, key=lambda p: (p[0], p[1]))
    last = {(r, k): v for r, k, _, _, v in batch[:250]}
    assert _same({(r, k): v for r in runs for k, v in store.last_metrics(runs)[r].items()},
                 last)


def test_numbers_of_any_real_type_are_stored_as_numbers(store: Store) -> None:
    """numpy integers as steps, ints as timestamps and values, numpy floats: stored and
    read back as int steps and float values on both backends (PostgreSQL refused a
    batch whose latest timestamps mixed int and float)."""
    np = pytest.importorskip("numpy")
    run_id = store.create_run("r")
    store.log_metric_tuples([(run_id, "a", np.int64(3), 1_700_000_000, 5),
                             (run_id, "b", 4, 2.5, np.float64(0.5)),
                             (run_id, "c", np.int32(1), 7, np.float64(math.nan))])
    assert _points(store, run_id) == [("a", 3, 1_700_000_000.0, 5.0), ("b", 4, 2.5, 0.5),
                                      ("c", 1, 7.0, "nan")]
    last = store.last_metrics([run_id])[run_id]
    assert last["a"] == 5.0 and last["b"] == 0.5 and math.isnan(last["c"])


def test_a_batch_for_a_missing_run_is_refused_naming_it(store: Store) -> None:
    """The run is checked once per batch (points carry no per-row foreign key): a batch
    naming a run the store does not hold is refused whole, with the run in the message."""
    run_id = store.create_run("r")
    store.log_metric_tuples([(run_id, "auc", 0, 0.0, 0.5)])
    with pytest.raises(NotFoundError, match=r"No run `no-such-run`: 1 metric point\(s\) "
                       r"of it were not stored"):
        store.log_metric_tuples([(run_id, "auc", 1, 0.0, 0.9), (run_id, "f1", 0, 0.0, 0.2),
                                 ("no-such-run", "auc", 0, 0.0, 0.1)])
    assert store.last_metrics([run_id]) == {run_id: {"auc": 0.5}}
    assert [(p.key, p.value) for p in store.metrics(run_id)] == [("auc", 0.5)]


def test_a_batch_for_a_purged_run_is_refused_and_leaves_no_rows(
        any_settings: Settings) -> None:
    """``lockgate gc`` purges a run's metric series with its points; a late flush of that
    run is refused, not stored as points nobody can reach."""
    import sqlalchemy as sa

    from lockgate.retention import delete_runs
    from lockgate.retention.run_deletion import purge_runs
    from lockgate.store import schema as t

    store = Store.open(any_settings)
    kept, gone = store.create_run("kept"), store.create_run("gone")
    store.log_metric_tuples([(r, k, s, 0.0, 1.0) for r in (kept, gone)
                             for k in ("auc", "loss") for s in range(3)])
    store.end_run(gone, "FINISHED")
    delete_runs([gone], settings=any_settings)
    assert purge_runs(store, [gone]) == 1
    with pytest.raises(NotFoundError, match=f"No run `{gone}`"):
        store.log_metric_tuples([(gone, "auc", 3, 0.0, 1.0)])
    with store.read() as conn:
        series = conn.execute(sa.select(t.metric_series.c.run_id)).scalars().all()
        points = conn.execute(sa.select(sa.func.count()).select_from(t.metrics)).scalar()
    assert set(series) == {kept} and points == 6
    assert len(store.metrics(kept)) == 6


@pytest.mark.postgres
def test_a_purge_waits_for_a_batch_that_holds_its_series(pg_url: str, tmp_path) -> None:
    """PostgreSQL: a batch share-locks its series until it commits, so a purge running
    meanwhile waits and then deletes the batch's points too: no point outlives its
    series (points carry no foreign key)."""
    import threading

    import sqlalchemy as sa

    from lockgate.retention.run_deletion import purge_runs
    from lockgate.store import schema as t

    store = Store.open(make_settings(tmp_path / ".lockgate", pg_url))
    run_id = store.create_run("r")
    store.log_metric_tuples([(run_id, "auc", 0, 0.0, 0.5)])
    purged = threading.Event()
    with store.transaction():
        store.log_metric_tuples([(run_id, "auc", s, 0.0, 0.6) for s in range(1, 50)])
        purger = threading.Thread(target=lambda: (purge_runs(store, [run_id]), purged.set()))
        purger.start()
        with sa.create_engine(pg_url).connect() as admin:
            for _ in range(3000):  # hang guard (30 s): until the purge waits on the lock
                waiting = admin.exec_driver_sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query LIKE '%%metric_series%%'").scalar()
                if waiting:
                    break
                time.sleep(0.01)
        assert waiting and not purged.is_set()
    purger.join(timeout=30)
    assert purged.is_set()
    with store.read() as conn:
        points = conn.execute(sa.select(sa.func.count()).select_from(t.metrics)).scalar()
    assert points == 0


@pytest.mark.postgres
def test_a_new_series_written_during_a_purge_leaves_no_orphan_point(pg_url: str,
                                                                     tmp_path) -> None:
    """PostgreSQL: a batch opening a *new* series holds no series lock a purge waits on.
    The purge locks the runs themselves before deleting anything, and a batch key-share
    locks its run, so a batch arriving mid-purge waits and is then refused as for a
    purged run; before, it committed between the purge's deletes of points and of
    series, and its points outlived their series (found in review)."""
    import threading

    import sqlalchemy as sa
    from sqlalchemy import event

    from lockgate.retention.run_deletion import purge_runs
    from lockgate.store import schema as t

    store = Store.open(make_settings(tmp_path / ".lockgate", pg_url))
    run_id = store.create_run("r")
    store.log_metric_tuples([(run_id, "old", 0, 0.0, 0.5)])
    paused, release = threading.Event(), threading.Event()

    def pause(conn: object, cursor: object, statement: str, *_: object) -> None:
        if statement.lstrip().upper().startswith("DELETE FROM PARAMS") and \
                threading.current_thread().name == "purge":
            paused.set()
            assert release.wait(60), "the test never released the purge"

    event.listen(store.writer, "before_cursor_execute", pause)
    outcome: dict[str, object] = {}

    def write() -> None:
        try:
            store.log_metric_tuples([(run_id, "new", s, 0.0, float(s)) for s in range(7)])
            outcome["writer"] = "stored"
        except NotFoundError as exc:
            outcome["writer"] = exc

    purger = threading.Thread(target=purge_runs, args=(store, [run_id]), name="purge")
    purger.start()
    try:
        assert paused.wait(60), "the purge never reached its deletes"
        writer = threading.Thread(target=write)
        writer.start()
        with sa.create_engine(pg_url).connect() as admin:
            for _ in range(3000):  # hang guard (30 s): the writer waits, or it is done
                waiting = admin.exec_driver_sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query LIKE '%%FROM runs%%'").scalar()
                if waiting or not writer.is_alive():
                    break
                time.sleep(0.01)
    finally:
        release.set()
        purger.join(60)
        event.remove(store.writer, "before_cursor_execute", pause)
    writer.join(60)
    assert isinstance(outcome["writer"], NotFoundError), outcome
    with store.read() as conn:
        points = conn.execute(sa.select(sa.func.count()).select_from(t.metrics)).scalar()
        series = conn.execute(sa.select(sa.func.count()).select_from(t.metric_series)).scalar()
    assert (points, series) == (0, 0)


def _points(store: Store, run_id: str) -> list[tuple[str, int, float, object]]:
    return [(p.key, p.step, p.timestamp, "nan" if math.isnan(p.value) else p.value)
            for p in store.metrics(run_id)]


@pytest.mark.parametrize("made", ["created at core_0004_i18", "downgraded to it"])
def test_upgrade_to_metric_series_keeps_every_point(any_settings: Settings,
                                                    made: str) -> None:
    """A store written before core_0005_i18t (points keyed by run id and key) keeps every
    point, its order and its latest values; points logged after the upgrade follow them."""
    import sqlalchemy as sa
    from alembic import command

    from lockgate.store import migration
    from lockgate.store.migrations.versions import core_0002_i18

    store = Store.open(any_settings, migrate=made.startswith("downgraded"))
    config = migration.alembic_config()
    with store.writer.begin() as conn:
        config.attributes["connection"] = conn
        if made.startswith("created"):  # every branch at its head, core at the previous
            for head in sorted(migration.head_revisions()):
                command.upgrade(config, "core_0004_i18" if head == "core_0005_i18t" else head)
        else:
            command.downgrade(config, "core_0004_i18")
    runs = [store.create_run(f"r{i}") for i in range(3)]
    with store.read() as conn:
        assert "metric_series" not in sa.inspect(conn).get_table_names()
    old = ("INSERT INTO metrics (run_id, key, step, timestamp, value, is_nan) "
           "VALUES (:r, :k, :s, :ts, :v, :nan)")
    written = [(r, k, s, float(i), float(n)) for n, (i, r, k, s) in enumerate(
        (i, r, k, s) for i, r in enumerate(runs) for k in ("loss", "auc") for s in (2, 0, 1, 0))]
    written.append((runs[0], "auc", 1, 9.0, math.nan))
    with store.writer.begin() as conn:  # rows as the previous head's code wrote them
        conn.execute(sa.text(old), [
            {"r": r, "k": k, "s": s, "ts": ts, "v": None if math.isnan(v) else v,
             "nan": math.isnan(v)} for r, k, s, ts, v in written])
        conn.execute(sa.text(core_0002_i18._BACKFILL))  # and their latest values
    expected = {r: sorted([(k, s, ts, "nan" if math.isnan(v) else v)
                           for r2, k, s, ts, v in written if r2 == r],
                          key=lambda p: (p[0], p[1]))  # stable: ids order a step's points
                for r in runs}
    assert store.upgrade() is True
    assert {r: _points(store, r) for r in runs} == expected
    store.log_metric_tuples([(runs[1], "auc", 0, 20.0, 0.25), (runs[1], "new", 0, 0.0, 1.0)])
    assert _points(store, runs[1])[:3] == [("auc", 0, 1.0, 13.0), ("auc", 0, 1.0, 15.0),
                                           ("auc", 0, 20.0, 0.25)]
    assert store.last_metrics([runs[1]])[runs[1]] == {"auc": 0.25, "loss": 11.0, "new": 1.0}


def test_upgrade_backfills_latest_metrics(any_settings: Settings) -> None:
    """A store written before core_0002_i18 gets latest_metrics from its history."""
    import sqlalchemy as sa
    from alembic import command

    from lockgate.store import migration

    store = Store.open(any_settings)
    runs = [store.create_run(f"r{i}") for i in range(3)]
    store.log_metric_tuples([(r, k, s, 0.0, float(i * 10 + s)) for i, r in enumerate(runs)
                             for k in ("auc", "loss") for s in (2, 0, 1)])
    store.log_metric_tuples([(runs[0], "auc", 0, 0.0, math.nan)])
    expected = _latest_from_history(store)
    config = migration.alembic_config()
    with store.writer.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "core_0002_i18-1")
    with store.read() as conn:
        assert "latest_metrics" not in sa.inspect(conn).get_table_names()
    assert store.upgrade() is True
    assert _same(_latest_table(store), expected)
    assert math.isnan(store.last_metrics([runs[0]])[runs[0]]["auc"])


def test_sorted_listing_never_reads_the_metric_history(store: Store) -> None:
    """Sorting and paging by a metric read latest_metrics only, whatever was logged."""
    import re

    import sqlalchemy as sa

    runs = [store.create_run(f"r{i}") for i in range(3)]
    store.log_metric_tuples([(r, "auc", s, 0.0, i + s / 10) for i, r in enumerate(runs)
                             for s in range(5)])
    seen: list[str] = []

    def on_read(conn, cursor, statement, *args) -> None:
        seen.append(statement)

    sa.event.listen(store.reader, "before_cursor_execute", on_read)
    try:
        page = store.page_runs(sort_metric="auc", limit=2)
        rest = store.page_runs(sort_metric="auc", limit=2, after=page.next_page)
        store.last_metrics(runs)
    finally:
        sa.event.remove(store.reader, "before_cursor_execute", on_read)
    assert [r.id for r in page.runs + rest.runs] == runs[::-1] and rest.next_page is None
    assert seen and not [s for s in seen if re.search(r"(?<!\w)metrics\b", s)]


@pytest.mark.postgres
def test_bulk_logging_keeps_postgres_planner_statistics(pg_url: str, tmp_path) -> None:
    """Past a few thousand latest values logged by a process, runs and latest_metrics
    are analysed, so the first listing right after a bulk load is planned on real
    sizes (autovacuum would only get to it later)."""
    import sqlalchemy as sa

    from lockgate.store import schema as t
    from lockgate.store.repository import PlannerStats
    from tests.conftest import make_settings

    store = Store.open(make_settings(tmp_path / ".lockgate", pg_url))
    experiment = store.experiment_id("bulk")
    runs = [f"{i:016x}" for i in range(PlannerStats.FIRST // 2 + 1)]
    with store.write() as conn:  # bulk, as an import would: not one create_run per row
        conn.execute(sa.insert(t.runs), [
            {"id": r, "experiment_id": experiment, "name": r, "status": "FINISHED",
             "start_time": 0.0, "heartbeat_at": 0.0, "heartbeat_seconds": 5.0}
            for r in runs])
    store.log_metric_tuples([(r, k, 0, 0.0, 1.0) for r in runs for k in ("auc", "loss")])
    with store.read() as conn:
        analysed = conn.execute(sa.text(
            "SELECT relname FROM pg_stat_user_tables WHERE schemaname = current_schema() "
            "AND (last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL)")).scalars().all()
    assert {"runs", "latest_metrics"} <= set(analysed)


@pytest.mark.postgres
def test_closing_a_store_returns_its_connections(pg_url: str, tmp_path: Path) -> None:
    """A process that opens many databases (a suite, one schema per test) must be able to
    let go of each one, or it exhausts the server's connections."""
    settings = make_settings(tmp_path / ".lockgate", pg_url)
    store = Store.open(settings)
    store.create_run(experiment="e", name="r")
    assert store.writer.pool.checkedin() >= 1  # an idle connection is kept in the pool
    Store.close_all(pg_url.rsplit("%3D", 1)[1])
    assert store.writer.pool.checkedin() == 0 and store.reader.pool.checkedin() == 0
    reopened = Store.open(settings)
    assert reopened is not store and reopened.count_runs() == 1
