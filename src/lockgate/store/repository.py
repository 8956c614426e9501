"""The repository API over the metadata store: every read and write of the core tables.

Other stages keep their own tables (``store/tables_<stage>.py``) and may use
:meth:`Store.read` / :meth:`Store.write` for them; everything here is about runs and
what hangs off them.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import itertools
import json
import math
import os
import random
import re
import socket
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypedDict, Unpack, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles

from lockgate.config import Settings, load_settings
from lockgate.errors import (
    ArtifactError,
    NotFoundError,
    StoreError,
    TrackingError,
    close_matches,
)
from lockgate.store import audit, migration, run_page
from lockgate.store import schema as t
from lockgate.store.engine import create_engines
from lockgate.store.errors import RowAccountingError
from lockgate.store.records import (
    CRASH_GRACE_FACTOR,
    CRASH_GRACE_SECONDS,
    ArtifactRecord,
    CodeVersion,
    DatasetVersion,
    Environment,
    HardwareSample,
    LineageEdge,
    MetricPoint,
    Note,
    RunRecord,
    RunsPage,
    effective_status,
    from_row,
)

_STORES: dict[str, Store] = {}


class RunFilters(TypedDict, total=False):
    """The keywords of :meth:`Store.page_runs` / :meth:`Store.list_runs`, written once."""

    experiment: str | None
    status: str | None
    tags: Mapping[str, str] | None
    parent_id: str | None
    top_level: bool
    kind: str | None
    sort_metric: str | None
    ascending: bool
    limit: int | None
    offset: int
    after: str | None
    within: Sequence[str] | None

_WRITE_ATTEMPTS = 8
#: The transaction of :meth:`Store.transaction` this context is inside, if any.
_JOINED: contextvars.ContextVar[tuple[Store, Connection] | None] = contextvars.ContextVar(
    "lockgate_store_transaction", default=None)


class Store:
    """The metadata store at one database URL. Use :meth:`open` to get one."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.reader, self.writer = create_engines(url)
        self.dialect = self.reader.dialect.name
        self._planner_stats = PlannerStats(self)

    # -- lifecycle ---------------------------------------------------------------

    @classmethod
    def open(cls, settings: Settings | None = None, *, migrate: bool = True) -> Store:
        """Open (and on first use migrate) the store named by ``settings``.

        One Store per URL and process is kept, so opening is cheap after the first time;
        behind ``lockgate server``, one per URL and token (each speaks as its token's
        user: a process that changes ``LOCKGATE_TOKEN`` gets the new user's store).

        Raises:
            StoreError: the database is unreachable, malformed or read-only.
        """
        settings = settings or load_settings()
        url = settings.tracking_uri or settings.resolved_db_url
        key = f"{os.getpid()}:{url}"
        if settings.tracking_uri:  # behind `lockgate server`
            from lockgate.store.remote import RemoteStore, find_token

            token = find_token(settings.tracking_uri)
            key = f"{key}:{hashlib.sha256(token.encode()).hexdigest()[:16]}"
            if key not in _STORES:
                _STORES[key] = RemoteStore(settings.tracking_uri, token)
        store = _STORES.get(key)
        if store is None:
            store = cls(url)
            if migrate:
                store.upgrade()
            _STORES[key] = store
        return store

    def close(self) -> None:
        """Dispose this store's connection pools and forget it, so the next :meth:`open`
        of its URL reconnects. Pools otherwise live as long as the process: a process
        that opens many databases (a test suite, one schema per test) would hold idle
        connections to every one of them."""
        for key in [key for key, store in _STORES.items() if store is self]:
            del _STORES[key]
        self.reader.dispose()
        self.writer.dispose()

    @classmethod
    def close_all(cls, url_contains: str = "") -> None:
        """:meth:`close` every store this process opened whose URL contains the text."""
        for store in [s for s in _STORES.values() if url_contains in s.url]:
            store.close()

    def upgrade(self) -> bool:
        """Apply pending migrations; True when something ran."""
        try:
            return migration.upgrade(self.writer)
        except sa.exc.OperationalError as exc:
            raise StoreError(_unreachable(self.url, exc)) from exc

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A read connection (deferred transaction, never takes the write lock); inside
        :meth:`transaction`, that transaction's connection (it sees its own writes)."""
        joined = self._joined()
        if joined is not None:
            yield joined
            return
        try:
            with self.reader.connect() as conn:
                yield conn
        except sa.exc.OperationalError as exc:
            if "locked" in str(exc):
                raise
            raise StoreError(_unreachable(self.url, exc)) from exc

    def execute_write(self, statement: sa.Executable,
                      rows: Sequence[Mapping[str, object]] | None = None) -> Any:
        """Run one write statement, retrying on SQLite lock contention with jittered backoff."""
        with self.write() as conn:
            return conn.execute(statement, rows) if rows is not None else conn.execute(statement)

    # -- experiments and runs --------------------------------------------------

    def experiment_id(self, name: str) -> int:
        """The id of experiment ``name``, created on first use."""
        with self.read() as conn:
            found = conn.execute(
                sa.select(t.experiments.c.id).where(t.experiments.c.name == name)
            ).scalar()
        if found is not None:
            return int(found)
        # Another process may create it between the read and the insert: that is fine.
        with contextlib.suppress(sa.exc.IntegrityError):
            self.execute_write(
                sa.insert(t.experiments).values(name=name, created_at=time.time())
            )
        with self.read() as conn:
            return int(
                conn.execute(
                    sa.select(t.experiments.c.id).where(t.experiments.c.name == name)
                ).scalar_one()
            )

    def experiments(self) -> list[str]:
        """Every experiment name, alphabetically."""
        with self.read() as conn:
            return list(
                conn.execute(sa.select(t.experiments.c.name).order_by(t.experiments.c.name))
                .scalars()
            )

    def create_run(
        self,
        name: str,
        *,
        experiment: str = "default",
        kind: str = "run",
        parent_id: str | None = None,
        heartbeat_seconds: float = 5.0,
        status: str = "RUNNING",
    ) -> str:
        """Insert a RUNNING run and return its id (16 hex characters).

        Raises:
            NotFoundError: ``parent_id`` is not a run of ``experiment``. A child run is in
                its parent's experiment: visibility is by experiment, so a tree across
                experiments would show one's runs under another's. The message is the
                same for a missing parent and one elsewhere (it names no other run's
                experiment).
        """
        run_id = uuid.uuid4().hex[:16]
        now = time.time()
        experiment_id = self.experiment_id(experiment)
        with self.write() as conn:
            if parent_id is not None and conn.execute(
                    sa.select(t.runs.c.experiment_id).where(t.runs.c.id == parent_id)
            ).scalar() != experiment_id:
                raise NotFoundError(
                    f"No run `{parent_id}` in experiment `{experiment}` to be the parent of "
                    f"run `{name}`: a child run is in its parent's experiment; start it in "
                    "the parent's experiment, or without a parent.")
            conn.execute(sa.insert(t.runs).values(
                id=run_id,
                experiment_id=experiment_id,
                name=name,
                kind=kind,
                status=status,
                parent_id=parent_id,
                start_time=now,
                end_time=None if status == "RUNNING" else now,
                heartbeat_at=now,
                heartbeat_seconds=heartbeat_seconds,
                host=socket.gethostname(),
                pid=os.getpid(),
            ))
            audit.record(self, "run.created", f"run:{run_id}", conn=conn,
                         after={"name": name, "experiment": experiment, "kind": kind})
        return run_id

    def heartbeat(self, run_id: str) -> None:
        """Record that the run's process is alive now."""
        self.execute_write(
            sa.update(t.runs)
            .where(t.runs.c.id == run_id, t.runs.c.status == "RUNNING")
            .values(heartbeat_at=time.time())
        )

    def end_run(self, run_id: str, status: str, error: str | None = None) -> None:
        """Close a run with a final status (FINISHED, FAILED, SKIPPED, CACHED...)."""
        if status not in t.RUN_STATUSES:
            raise ValueError(f"Unknown run status {status!r}; use one of {t.RUN_STATUSES}.")
        now = time.time()
        self.execute_write(
            sa.update(t.runs)
            .where(t.runs.c.id == run_id)
            .values(status=status, error=error, end_time=now, heartbeat_at=now)
        )

    def resolve_run_id(self, run_id: str) -> str:
        """Expand a unique id prefix (as git does) to the full run id.

        Raises:
            NotFoundError: no run, or several runs, start with ``run_id``.
        """
        with self.read() as conn:
            matches = list(
                conn.execute(
                    sa.select(t.runs.c.id).where(t.runs.c.id.startswith(run_id)).limit(3)
                ).scalars()
            )
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise NotFoundError(
                f"No run with id `{run_id}`. List runs with `lockgate runs list`."
            )
        raise NotFoundError(
            f"Run id prefix `{run_id}` is ambiguous ({', '.join(matches)}, ...); give more "
            "characters."
        )

    def get_run(self, run_id: str) -> RunRecord:
        """The run with this id (or unique id prefix), its status decided by liveness."""
        full = self.resolve_run_id(run_id)
        with self.read() as conn:
            row = conn.execute(run_select(include_deleted=True)
                               .where(t.runs.c.id == full)).one()
        return run_record(row)

    def list_runs(self, **filters: Unpack[RunFilters]) -> list[RunRecord]:
        """Runs matching every filter, newest first or ordered by a metric's last value:
        the runs of :meth:`page_runs` with the same filters, without the page token.

        ``after`` is a page token from :meth:`page_runs` (keyset pagination); ``offset``
        still works but costs the rows it skips.
        """
        return self.page_runs(**filters).runs

    def page_runs(
        self,
        *,
        experiment: str | None = None,
        status: str | None = None,
        tags: Mapping[str, str] | None = None,
        parent_id: str | None = None,
        top_level: bool = False,
        kind: str | None = None,
        sort_metric: str | None = None,
        ascending: bool = False,
        limit: int | None = 100,
        offset: int = 0,
        after: str | None = None,
        within: Sequence[str] | None = None,
    ) -> RunsPage:
        """One page of :meth:`list_runs` and the token of the next page (None at the end).

        ``within``: only runs of these experiments (the team server's view of a user
        limited to its grants; unknown names match nothing).

        A metric sort reads ``latest_metrics`` (one row per run, kept at write time) in
        index order, so its cost grows with the page, not with the points logged.

        Raises:
            NotFoundError: unknown experiment or status.
            PageTokenError: ``after`` is malformed or belongs to another sort.
        """
        query = run_select().where(*self._run_conditions(
            experiment, status, tags, parent_id, top_level, kind))
        if within is not None:
            query = query.where(t.experiments.c.name.in_(list(within)))
        sort = sort_metric or ""
        position = run_page.decode(after, sort=sort, ascending=ascending) if after else None
        if sort:
            segments = _metric_segments(query, sort, ascending, position)
        else:
            query = query.add_columns(sa.null()).order_by(
                t.runs.c.start_time.desc(), t.runs.c.id.desc())
            if position is not None:
                query = query.where(run_page.newest_first_after(position))
            segments = [query]
        with self.read() as conn:
            rows = run_page.read_segments(conn, segments, offset,
                                          None if limit is None else limit + 1)
        more = limit is not None and len(rows) > limit
        rows = rows[:limit] if limit is not None else rows
        runs = [run_record(row[:-1]) for row in rows]
        token = None
        if more and runs:
            tail = runs[-1]
            token = run_page.encode(run_page.Position(
                sort, ascending, rows[-1][-1], tail.start_time, tail.id))
        return RunsPage(runs=runs, next_page=token)

    def _run_conditions(
        self, experiment: str | None, status: str | None, tags: Mapping[str, str] | None,
        parent_id: str | None, top_level: bool, kind: str | None,
    ) -> list[sa.ColumnElement[bool]]:
        conditions: list[sa.ColumnElement[bool]] = []
        if experiment is not None:
            known = self.experiments()
            if experiment not in known:
                raise NotFoundError(
                    f"No experiment `{experiment}`." + close_matches(experiment, known)
                )
            conditions.append(t.experiments.c.name == experiment)
        if status is not None:
            conditions.append(status_clause(status.upper()))
        for key, value in (tags or {}).items():
            conditions.append(
                sa.exists().where(
                    t.tags.c.run_id == t.runs.c.id, t.tags.c.key == key, t.tags.c.value == value
                )
            )
        if parent_id is not None:
            conditions.append(t.runs.c.parent_id == parent_id)
        if top_level:
            conditions.append(t.runs.c.parent_id.is_(None))
        if kind is not None:
            conditions.append(t.runs.c.kind == kind)
        return conditions

    def count_runs(self, kind: str | None = None) -> int:
        """How many live (not soft-deleted) runs the store holds, of one kind if given."""
        query = sa.select(sa.func.count()).select_from(t.runs).where(
            t.runs.c.deleted_at.is_(None))
        if kind is not None:
            query = query.where(t.runs.c.kind == kind)
        with self.read() as conn:
            return int(conn.execute(query).scalar_one())

    def has_runs(self) -> bool:
        """Whether the store holds a live run: reads one row, where :meth:`count_runs`
        reads them all (the dashboard asks on every page)."""
        query = sa.select(t.runs.c.id).where(live_run()).limit(1)
        with self.read() as conn:
            return conn.execute(query).first() is not None

    def runs_that_logged(self, artifact_name: str, limit: int = 50,
                         within: Sequence[str] | None = None) -> list[RunRecord]:
        """Runs that logged an artifact of this name, the latest logger first (the
        dashboard's trained models: runs that logged a ``model``).

        ``within``: only runs of these experiments, chosen in the query, before the
        limit (a user limited to its grants gets a full page).
        """
        arts = t.artifacts
        query = sa.select(arts.c.run_id).where(arts.c.name == artifact_name,
                                               arts.c.run_id.is_not(None))
        return self._runs_in_order(
            _within_experiments(query, arts.c.run_id, within)
            .group_by(arts.c.run_id).order_by(sa.func.max(arts.c.id).desc()).limit(limit))

    def runs_with_lineage(self, limit: int = 30,
                          within: Sequence[str] | None = None) -> list[RunRecord]:
        """Runs that recorded a lineage edge, the latest recorder first (``within``: as
        in :meth:`runs_that_logged`)."""
        query = _within_experiments(sa.select(t.lineage.c.run_id), t.lineage.c.run_id, within)
        return self._runs_in_order(
            query.group_by(t.lineage.c.run_id)
            .order_by(sa.func.max(t.lineage.c.id).desc()).limit(limit))

    def _runs_in_order(self, ids_query: sa.Select) -> list[RunRecord]:
        """The runs (deleted ones too, as :meth:`get_run`) whose ids a query selects, in
        its order."""
        with self.read() as conn:
            return records_in_order(conn, list(conn.execute(ids_query).scalars()))

    # -- params, metrics, tags, notes ----------------------------------------

    def log_params(self, run_id: str, values: Mapping[str, object]) -> None:
        """Store parameters as JSON; a key logged again is overwritten."""
        if not values:
            return
        encoded = {key: encode_param(key, value) for key, value in values.items()}
        with self.write() as conn:
            conn.execute(
                sa.delete(t.params).where(
                    t.params.c.run_id == run_id, t.params.c.key.in_(list(encoded))
                )
            )
            conn.execute(
                sa.insert(t.params),
                [{"run_id": run_id, "key": k, "value": v} for k, v in encoded.items()],
            )

    def params(self, run_id: str) -> dict[str, Any]:
        """A run's parameters, decoded from JSON."""
        with self.read() as conn:
            rows = conn.execute(
                sa.select(t.params.c.key, t.params.c.value).where(t.params.c.run_id == run_id)
            )
            return {key: json.loads(value) for key, value in rows}

    def log_metric_rows(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert metric rows (``run_id, key, step, timestamp, value``) in one transaction."""
        self.log_metric_tuples(
            [(r["run_id"], r["key"], r["step"], r["timestamp"], r["value"]) for r in rows]
        )

    def log_metric_tuples(self, rows: Sequence[tuple[str, str, int, float, float]]) -> None:
        """Insert ``(run_id, key, step, timestamp, value)`` tuples in one transaction.

        The hot path of metric logging: the batch's series (run, key) are resolved once,
        then multi-row INSERTs on SQLite's cursor and a binary ``COPY`` on PostgreSQL
        write the points, bypassing SQLAlchemy's per-statement work. NaN is stored as NULL with
        ``is_nan`` set, because SQLite cannot store NaN.

        Raises:
            NotFoundError: a run of the batch is not in the store (never created, or
                purged); nothing of the batch is stored.
        """
        if not rows:
            return
        series: dict[tuple[str, str], list[tuple[int, float, float]]] = {}
        for run_id, key, step, ts, value in rows:
            points = series.get((run_id, key))
            if points is None:
                points = series[(run_id, key)] = []
            points.append((int(step), ts, value))
        # Sorted so concurrent PostgreSQL writers lock series and latest rows in one order.
        pairs = sorted(series)
        latest = [(*pair, *series[pair][-1]) for pair in pairs]
        with self.write() as conn:
            ids = _series_ids(conn, pairs, rows)
            if self.dialect == "postgresql":
                self._copy_points(conn, [(ids[pair], series[pair]) for pair in pairs])
                # One statement for the whole batch: arrays, unnested server-side.
                conn.exec_driver_sql(_UPSERT_LATEST.format(rows=_PG_ROWS), tuple(
                    list(column) for column in zip(*map(_nan_as_null, latest), strict=True)))
            else:
                _insert_points_sqlite(conn, [(ids[pair], series[pair]) for pair in pairs])
                # Same transaction: a reader never sees points without their latest value.
                conn.exec_driver_sql(_UPSERT_LATEST.format(
                    rows="VALUES (?1, ?2, ?3, ?4, ?5, ?5 IS NULL)"), latest)
        self._planner_stats.wrote(len(latest))

    @staticmethod
    def _copy_points(conn: Connection,
                     series: Sequence[tuple[int, Sequence[tuple[int, float, float]]]]) -> None:
        """PostgreSQL: ``COPY`` the points of each series, in the binary format (a fifth
        of the text format's client CPU). float8 would keep NaN as NaN; it is stored as
        NULL + ``is_nan``, as on SQLite."""
        cursor = cast(Any, conn.connection.driver_connection).cursor()
        with cursor.copy(f"COPY metrics ({_POINT_COLUMNS}) FROM STDIN (FORMAT BINARY)"
                         ) as copy:
            copy.set_types(["int8", "int8", "float8", "float8", "bool"])
            write = copy.write_row
            for series_id, points in series:
                for step, ts, value in points:
                    if value != value:
                        write((series_id, step, ts, None, True))
                    else:
                        write((series_id, step, ts, value, False))

    def metrics(self, run_id: str, key: str | None = None) -> list[MetricPoint]:
        """Every logged point of a run (optionally one key), by key then step."""
        m, series = t.metrics, t.metric_series
        query = sa.select(series.c.key, m.c.step, m.c.timestamp, m.c.value, m.c.is_nan).join(
            m, m.c.series_id == series.c.id).where(series.c.run_id == run_id)
        if key is not None:
            query = query.where(series.c.key == key)
        query = query.order_by(series.c.key, m.c.step, m.c.id)
        with self.read() as conn:
            return [
                MetricPoint(k, int(s), ts, math.nan if nan else float(v))
                for k, s, ts, v, nan in conn.execute(query)
            ]

    def last_metrics(self, run_ids: Sequence[str]) -> dict[str, dict[str, float]]:
        """The last logged value of every metric, for each run (from ``latest_metrics``)."""
        out: dict[str, dict[str, float]] = {run_id: {} for run_id in run_ids}
        if not run_ids:
            return out
        last = t.latest_metrics
        query = sa.select(last.c.run_id, last.c.key, last.c.value, last.c.is_nan).where(
            last.c.run_id.in_(list(run_ids)))
        with self.read() as conn:
            for run_id, key, value, is_nan in conn.execute(query):
                out[run_id][key] = math.nan if is_nan else float(value)
        return out

    def set_tags(self, run_id: str, values: Mapping[str, object]) -> None:
        """Set tags (strings); a key set again is overwritten."""
        if not values:
            return
        with self.write() as conn:
            conn.execute(
                sa.delete(t.tags).where(t.tags.c.run_id == run_id, t.tags.c.key.in_(list(values)))
            )
            conn.execute(
                sa.insert(t.tags),
                [{"run_id": run_id, "key": k, "value": str(v)} for k, v in values.items()],
            )

    def tags(self, run_id: str) -> dict[str, str]:
        """A run's tags."""
        with self.read() as conn:
            return dict(
                conn.execute(
                    sa.select(t.tags.c.key, t.tags.c.value).where(t.tags.c.run_id == run_id)
                ).all()
            )

    def add_note(self, run_id: str, text: str, author: str | None = None) -> None:
        """Attach a free-text note to a run."""
        self.execute_write(
            sa.insert(t.notes).values(
                run_id=run_id, text=text, author=author, created_at=time.time()
            )
        )

    def notes(self, run_id: str) -> list[Note]:
        """A run's notes, oldest first."""
        with self.read() as conn:
            rows = conn.execute(
                sa.select(t.notes.c.id, t.notes.c.created_at, t.notes.c.author, t.notes.c.text)
                .where(t.notes.c.run_id == run_id)
                .order_by(t.notes.c.id)
            )
            return [from_row(Note, row) for row in rows]

    # -- artifacts and lineage -------------------------------------------------

    def add_artifact(
        self,
        *,
        run_id: str | None,
        name: str,
        uri: str,
        sha256: str,
        size: int,
        media_type: str,
        materializer: str | None = None,
    ) -> ArtifactRecord:
        """Register an artifact whose bytes already sit in the artifact store.

        Raises:
            ArtifactError: ``uri`` is not ``lockgate+sha256://<sha256>`` of these bytes
                (a ``file://``, ``s3://`` or ``..`` URI would later be read from outside
                the store: refused at creation, not only at read).
        """
        check_artifact_uri(uri, sha256)
        now = time.time()
        result = self.execute_write(
            sa.insert(t.artifacts).values(
                run_id=run_id, name=name, uri=uri, sha256=sha256, size=size,
                media_type=media_type, materializer=materializer, created_at=now,
            )
        )
        artifact_id = int(result.inserted_primary_key[0])
        return ArtifactRecord(
            artifact_id, run_id, name, uri, sha256, size, media_type, materializer, now
        )

    def artifact(self, artifact_id: int) -> ArtifactRecord:
        """One artifact by id."""
        return from_row(ArtifactRecord, self._row_by_id(t.artifacts, artifact_id, "artifact"))

    def artifacts(self, run_id: str) -> list[ArtifactRecord]:
        """Artifacts a run logged, in order."""
        with self.read() as conn:
            rows = conn.execute(
                sa.select(t.artifacts).where(t.artifacts.c.run_id == run_id)
                .order_by(t.artifacts.c.id)
            )
            return [from_row(ArtifactRecord, row) for row in rows]

    def add_lineage(
        self,
        run_id: str,
        direction: str,
        *,
        artifact_id: int | None = None,
        dataset_version_id: int | None = None,
        role: str | None = None,
        note: str | None = None,
        within: Sequence[str] | None = None,
    ) -> None:
        """Record that a run consumed or produced an artifact or a dataset version.

        ``within``: the experiments the caller may see (the team server's view of a user
        limited to its grants): the artifact must be one of their runs', and a dataset
        version (which belongs to no experiment) cannot be named.

        Raises:
            NotFoundError: the run, artifact or dataset version does not exist, or is not
                one the caller may see (the same words, so a refusal says nothing about
                what exists).
        """
        if direction not in ("consumed", "produced"):
            raise ValueError("direction must be 'consumed' or 'produced'")
        if (artifact_id is None) == (dataset_version_id is None):
            raise ValueError("give exactly one of artifact_id and dataset_version_id")
        with self.write() as conn:
            self._lineage_nodes_exist(conn, run_id, artifact_id, dataset_version_id, within)
            conn.execute(sa.insert(t.lineage).values(
                run_id=run_id, direction=direction, artifact_id=artifact_id,
                dataset_version_id=dataset_version_id, role=role, note=note,
                created_at=time.time()))

    @staticmethod
    def _lineage_nodes_exist(conn: Connection, run_id: str, artifact_id: int | None,
                             dataset_version_id: int | None,
                             within: Sequence[str] | None) -> None:
        if conn.execute(sa.select(t.runs.c.id).where(t.runs.c.id == run_id)).first() is None:
            raise NotFoundError(f"No run `{run_id}` to record lineage of.")
        if artifact_id is not None:
            query = sa.select(t.artifacts.c.id).where(t.artifacts.c.id == artifact_id)
            if within is not None:
                query = query.join(t.runs, t.runs.c.id == t.artifacts.c.run_id).join(
                    t.experiments, t.experiments.c.id == t.runs.c.experiment_id).where(
                    t.experiments.c.name.in_(list(within)))
            if conn.execute(query).first() is None:
                raise NotFoundError(f"No artifact {artifact_id} to record lineage to.")
        elif within is not None or conn.execute(sa.select(t.dataset_versions.c.id).where(
                t.dataset_versions.c.id == dataset_version_id)).first() is None:
            raise NotFoundError(f"No dataset version {dataset_version_id} to record "
                                "lineage to.")

    def lineage(
        self,
        *,
        run_id: str | None = None,
        artifact_id: int | None = None,
        dataset_version_id: int | None = None,
        sha256: str | None = None,
        within: Sequence[str] | None = None,
    ) -> list[LineageEdge]:
        """Lineage edges touching a run, an artifact, a dataset version or any artifact
        with given content.

        ``within``: only edges whose every node belongs to these experiments (the team
        server's view of a user limited to its grants): the edge's run, and its artifact's
        run. Edges to a dataset version are left out: dataset versions belong to no
        experiment (their tables need a global reader), so naming one would tell such a
        user about data it may not read.
        """
        query = _within_experiments(sa.select(t.lineage), t.lineage.c.run_id, within)
        if within is not None:
            shown = _within_experiments(sa.select(t.artifacts.c.id), t.artifacts.c.run_id,
                                        within)
            query = query.where(t.lineage.c.dataset_version_id.is_(None),
                                t.lineage.c.artifact_id.in_(shown))
        if run_id is not None:
            query = query.where(t.lineage.c.run_id == run_id)
        if artifact_id is not None:
            query = query.where(t.lineage.c.artifact_id == artifact_id)
        if dataset_version_id is not None:
            query = query.where(t.lineage.c.dataset_version_id == dataset_version_id)
        if sha256 is not None:
            same = sa.select(t.artifacts.c.id).where(t.artifacts.c.sha256 == sha256)
            query = query.where(t.lineage.c.artifact_id.in_(same))
        with self.read() as conn:
            rows = conn.execute(query.order_by(t.lineage.c.id))
            return [from_row(LineageEdge, row) for row in rows]

    # -- code, environment, console, hardware ------------------------------------

    def set_code_version(self, run_id: str, code: CodeVersion) -> None:
        """Record the git state of a run's code."""
        self.execute_write(
            sa.insert(t.code_versions).values(
                run_id=run_id, commit=code.commit, branch=code.branch, dirty=code.dirty,
                repo_root=code.repo_root, diff_artifact_id=code.diff_artifact_id,
            )
        )

    def code_version(self, run_id: str) -> CodeVersion | None:
        """The git state recorded for a run, if any."""
        with self.read() as conn:
            row = conn.execute(
                sa.select(
                    t.code_versions.c.commit, t.code_versions.c.branch, t.code_versions.c.dirty,
                    t.code_versions.c.repo_root, t.code_versions.c.diff_artifact_id,
                ).where(t.code_versions.c.run_id == run_id)
            ).one_or_none()
        return from_row(CodeVersion, row) if row else None

    def set_environment(self, run_id: str, env: Environment) -> None:
        """Record Python, platform, distributions and resolved settings of a run."""
        self.execute_write(
            sa.insert(t.environments).values(
                run_id=run_id, python=env.python, platform=env.platform,
                packages=json.dumps(env.packages, sort_keys=True),
                settings=json.dumps(env.settings, sort_keys=True),
            )
        )

    def environment(self, run_id: str) -> Environment | None:
        """The environment recorded for a run, if any."""
        with self.read() as conn:
            row = conn.execute(
                sa.select(
                    t.environments.c.python, t.environments.c.platform,
                    t.environments.c.packages, t.environments.c.settings,
                ).where(t.environments.c.run_id == run_id)
            ).one_or_none()
        if row is None:
            return None
        return Environment(row[0], row[1], json.loads(row[2]), json.loads(row[3] or "{}"))

    def append_console(self, rows: Sequence[Mapping[str, object]]) -> None:
        """Append console chunks (``run_id, stream, timestamp, text``)."""
        if rows:
            self.execute_write(sa.insert(t.console_logs), list(rows))

    def console(self, run_id: str, tail_lines: int | None = None) -> str:
        """A run's captured console output (stdout and stderr interleaved)."""
        with self.read() as conn:
            text = "".join(
                conn.execute(
                    sa.select(t.console_logs.c.text)
                    .where(t.console_logs.c.run_id == run_id)
                    .order_by(t.console_logs.c.id)
                ).scalars()
            )
        if tail_lines is not None:
            text = "\n".join(text.splitlines()[-tail_lines:])
        return text

    def add_hardware_samples(self, rows: Sequence[Mapping[str, object]]) -> None:
        """Insert hardware samples."""
        if rows:
            self.execute_write(sa.insert(t.hardware_samples), list(rows))

    def hardware(self, run_id: str) -> list[HardwareSample]:
        """A run's hardware samples in time order."""
        with self.read() as conn:
            rows = conn.execute(
                sa.select(
                    t.hardware_samples.c.timestamp, t.hardware_samples.c.cpu_percent,
                    t.hardware_samples.c.rss_bytes, t.hardware_samples.c.system_memory_percent,
                    t.hardware_samples.c.gpu_utilization, t.hardware_samples.c.gpu_memory_bytes,
                )
                .where(t.hardware_samples.c.run_id == run_id)
                .order_by(t.hardware_samples.c.timestamp)
            )
            return [from_row(HardwareSample, row) for row in rows]

    # -- dataset versions --------------------------------------------------------

    def add_dataset_version(
        self,
        table_name: str,
        *,
        source: str | None = None,
        batch_id: str | None = None,
        rows_ingested: int = 0,
        rows_accepted: int = 0,
        rows_quarantined: int = 0,
        content_hash: str | None = None,
        contract_version: str | None = None,
        validation_status: str = "not_run",
        checks: Mapping[str, Any] | None = None,
        details: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        version: int | None = None,
    ) -> DatasetVersion:
        """Register the next version of a table (or the given ``version``, e.g. Delta's),
        audited (``dataset.versioned``, with the batch's counts) in the same transaction.

        Raises:
            RowAccountingError: ``ingested != accepted + quarantined``: rows would be lost.
        """
        if rows_ingested != rows_accepted + rows_quarantined:
            raise RowAccountingError(table_name, rows_ingested, rows_accepted,
                                     rows_quarantined)
        now = time.time()
        with self.write() as conn:
            if version is None:
                current = conn.execute(
                    sa.select(sa.func.max(t.dataset_versions.c.version)).where(
                        t.dataset_versions.c.table_name == table_name
                    )
                ).scalar()
                version = 0 if current is None else int(current) + 1
            result = conn.execute(
                sa.insert(t.dataset_versions).values(
                    table_name=table_name, version=version, source=source, batch_id=batch_id,
                    rows_ingested=rows_ingested, rows_accepted=rows_accepted,
                    rows_quarantined=rows_quarantined, content_hash=content_hash,
                    contract_version=contract_version, validation_status=validation_status,
                    checks=json.dumps(dict(checks or {}), sort_keys=True, default=str),
                    details=json.dumps(dict(details or {}), sort_keys=True, default=str),
                    run_id=run_id, created_at=now,
                )
            )
            new_id = int(cast(Any, result.inserted_primary_key)[0])
            audit.record(self, "dataset.versioned", f"dataset:{table_name}@v{version}",
                         conn=conn, after={
                             "source": source, "rows_ingested": rows_ingested,
                             "rows_accepted": rows_accepted,
                             "rows_quarantined": rows_quarantined,
                             "contract_version": contract_version,
                             "validation_status": validation_status, "run_id": run_id})
        return self.dataset_version_by_id(new_id)

    def update_dataset_version(self, dataset_version_id: int, **values: Any) -> None:
        """Update fields of a dataset version (validation verdict, checks, details)."""
        allowed = {"validation_status", "checks", "details", "run_id"}
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"Cannot update {sorted(unknown)}; allowed: {sorted(allowed)}")
        for key in ("checks", "details"):
            if key in values:
                values[key] = json.dumps(values[key], sort_keys=True, default=str)
        self.execute_write(
            sa.update(t.dataset_versions)
            .where(t.dataset_versions.c.id == dataset_version_id)
            .values(**values)
        )

    def dataset_version_by_id(self, dataset_version_id: int) -> DatasetVersion:
        """One dataset version by its store id."""
        return _dataset_version(self._row_by_id(t.dataset_versions, dataset_version_id,
                                                "dataset version"))

    def dataset_version(self, table_name: str, version: int | None = None) -> DatasetVersion:
        """A table's version (the newest when ``version`` is None).

        Raises:
            NotFoundError: no such table or version; names the known ones.
        """
        query = sa.select(t.dataset_versions).where(t.dataset_versions.c.table_name == table_name)
        if version is None:
            query = query.order_by(t.dataset_versions.c.version.desc()).limit(1)
        else:
            query = query.where(t.dataset_versions.c.version == version)
        with self.read() as conn:
            row = conn.execute(query).first()
        if row is None:
            tables = self.dataset_tables()
            if table_name not in tables:
                raise NotFoundError(
                    f"No table `{table_name}` in the store." + close_matches(table_name, tables)
                    + " List tables with `lockgate data tables`."
                )
            raise NotFoundError(
                f"Table `{table_name}` has no version {version}. List them with "
                f"`lockgate data versions {table_name}`."
            )
        return _dataset_version(row)

    def dataset_versions(self, table_name: str) -> list[DatasetVersion]:
        """Every version of a table, oldest first."""
        with self.read() as conn:
            rows = conn.execute(
                sa.select(t.dataset_versions)
                .where(t.dataset_versions.c.table_name == table_name)
                .order_by(t.dataset_versions.c.version)
            )
            return [_dataset_version(row) for row in rows]

    def dataset_tables(self) -> list[str]:
        """Names of tables with at least one registered version."""
        with self.read() as conn:
            return list(
                conn.execute(
                    sa.select(t.dataset_versions.c.table_name).distinct()
                    .order_by(t.dataset_versions.c.table_name)
                ).scalars()
            )

    # -- internals ---------------------------------------------------------------

    def _row_by_id(self, table: sa.Table, ident: int, what: str) -> Any:
        """The row of ``table`` with this ``id``.

        Raises:
            NotFoundError: no row has it.
        """
        with self.read() as conn:
            row = conn.execute(sa.select(table).where(table.c.id == ident)).one_or_none()
        if row is None:
            raise NotFoundError(f"No {what} with id {ident}.")
        return row

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction; on SQLite it holds the write lock from its first statement.

        Acquiring the lock is retried with jittered backoff; a connection lost mid-write
        becomes a StoreError.
        """
        joined = self._joined()
        if joined is not None:  # a savepoint: an error caught inside undoes only its part
            with joined.begin_nested():
                yield joined
            return
        # A generator-based context manager cannot re-run the caller's block, so the
        # retry happens on acquiring the lock: BEGIN IMMEDIATE is the only place a
        # SQLite writer waits, and it honours busy_timeout.
        delay = 0.01
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                conn = self.writer.connect()
                transaction = conn.begin()
                break
            except sa.exc.OperationalError as exc:
                if "locked" not in str(exc):
                    raise StoreError(_unreachable(self.url, exc)) from exc
                if attempt == _WRITE_ATTEMPTS - 1:
                    raise StoreError(
                        f"The metadata store stayed locked after {_WRITE_ATTEMPTS} attempts: "
                        f"{exc.orig}. Too many writers for SQLite: set LOCKGATE_DB_URL to "
                        "PostgreSQL."
                    ) from exc
                time.sleep(delay * (1 + random.random()))
                delay *= 2
        try:
            yield conn
            transaction.commit()
        except sa.exc.OperationalError as exc:  # e.g. the server went away mid-write
            with contextlib.suppress(Exception):
                transaction.rollback()
            raise StoreError(_unreachable(self.url, exc)) from exc
        except BaseException:
            transaction.rollback()
            raise
        finally:
            conn.close()


    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One write transaction that every :meth:`read` and :meth:`write` inside the
        block (in this context) joins: all of it commits, or none.

        Why: the team server applies a request and records its idempotency key in one
        transaction on one connection, instead of a checkout, ping and commit for the
        claim, the work and the answer each. Nested writes are savepoints, so code that
        catches an error of its own write (a get-or-create) behaves as outside.
        """
        joined = self._joined()
        if joined is not None:
            with joined.begin_nested():
                yield joined
            return
        with self.write() as conn:
            token = _JOINED.set((self, conn))
            try:
                yield conn
            finally:
                _JOINED.reset(token)

    def _joined(self) -> Connection | None:
        found = _JOINED.get()
        return found[1] if found is not None and found[0] is self else None


class PlannerStats:
    """Keeps PostgreSQL's planner statistics of ``runs`` and ``latest_metrics`` fresh
    while this process bulk-logs.

    Why: right after a bulk load autovacuum has not analysed the tables yet, the planner
    believes they hold a handful of rows and picks nested loops that re-scan an index per
    run (seconds at 100k runs). Analysing when this process's own writes have doubled
    the rows it last analysed after costs O(log n) ANALYZEs of a sample (30k rows) each,
    on the write path only; reads never write. SQLite is left without statistics: with
    ``sqlite_stat1`` a selective metric filter walks its short list of runs (12 ms
    instead of 1.6 s at 1M runs), but a keyset page of a metric sort then took 123 s
    (its ``value < :v OR value IS NULL OR ...`` condition planned badly), measured on
    the same store.
    """

    FIRST = 2_000

    def __init__(self, store: Store) -> None:
        self.store = store
        self.pending = 0
        self.next_at = self.FIRST

    def wrote(self, rows: int) -> None:
        """Count rows upserted into ``latest_metrics``; analyse past the threshold."""
        if self.store.dialect != "postgresql":
            return
        self.pending += rows
        if self.pending < self.next_at:
            return
        with contextlib.suppress(sa.exc.SQLAlchemyError), self.store.writer.connect() as conn:
            conn.exec_driver_sql("ANALYZE runs, latest_metrics")
            conn.commit()
        self.next_at = self.pending * 2


def run_select(*, include_deleted: bool = False) -> sa.Select:
    """The columns :func:`run_record` turns into a :class:`RunRecord`.

    Soft-deleted runs (``lockgate runs delete``) are left out unless ``include_deleted``:
    every listing, search and dashboard page builds on this select, so a deleted run is
    hidden from all of them at once rather than filtered in each.
    """
    select = sa.select(
        t.runs.c.id, t.runs.c.name, t.experiments.c.name, t.runs.c.kind, t.runs.c.status,
        t.runs.c.parent_id, t.runs.c.start_time, t.runs.c.end_time, t.runs.c.heartbeat_at,
        t.runs.c.heartbeat_seconds, t.runs.c.error, t.runs.c.host, t.runs.c.pid,
        t.runs.c.deleted_at,
    ).join(t.experiments, t.experiments.c.id == t.runs.c.experiment_id)
    return select if include_deleted else select.where(live_run())


def live_run() -> sa.ColumnElement[bool]:
    """``runs.deleted_at IS NULL``; on SQLite written ``deleted_at + 0 IS NULL`` so the
    planner does not walk ``ix_runs_deleted_at`` for it.

    Why: almost every run is live, but SQLite keeps no statistics and takes an equality
    on an indexed column as selective: ``Store.page_runs()`` at 1M runs read every run
    through that index and sorted them, instead of walking ``(start_time, id)``.
    PostgreSQL keeps the plain form: its statistics know the column is all NULL, and
    an expression would hide that (the dashboard's pages went from 20 ms to 2-16 s).
    """
    return _LiveRun()


class _LiveRun(sa.sql.expression.ColumnElement[bool]):
    """The live-run condition, compiled per dialect (see :func:`live_run`)."""

    type = sa.Boolean()
    inherit_cache = True


@compiles(_LiveRun)
def _live_run_default(_element: _LiveRun, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(t.runs.c.deleted_at.is_(None), **kw))


@compiles(_LiveRun, "sqlite")
def _live_run_sqlite(_element: _LiveRun, compiler: Any, **kw: Any) -> str:
    return str(compiler.process((t.runs.c.deleted_at + 0).is_(None), **kw))


def _within_experiments(query: sa.Select, run_id: sa.ColumnElement[Any],
                        within: Sequence[str] | None) -> sa.Select:
    """``query`` kept to rows whose ``run_id`` is a run of these experiments (None: all)."""
    if within is None:
        return query
    runs = (sa.select(t.runs.c.id)
            .join(t.experiments, t.experiments.c.id == t.runs.c.experiment_id)
            .where(t.experiments.c.name.in_(list(within))))
    return query.where(run_id.in_(runs))


def records_in_order(conn: Connection, ids: Sequence[str]) -> list[RunRecord]:
    """The runs with these ids (deleted ones too), in the order given: one primary-key
    lookup each, for a page whose order was read as ids alone."""
    if not ids:
        return []
    rows = conn.execute(run_select(include_deleted=True).where(t.runs.c.id.in_(list(ids))))
    found = {row[0]: run_record(row) for row in rows}
    return [found[i] for i in ids if i in found]


def run_record(row: Any) -> RunRecord:
    """A row of :func:`run_select` as a record, its status decided by liveness."""
    (run_id, name, experiment, kind, status, parent_id, start, end, heartbeat, hb_seconds,
     error, host, pid, deleted_at) = row[:14]
    return RunRecord(
        id=run_id, name=name, experiment=experiment, kind=kind,
        status=effective_status(status, heartbeat, hb_seconds), parent_id=parent_id,
        start_time=start, end_time=end, heartbeat_at=heartbeat, error=error, host=host, pid=pid,
        deleted_at=deleted_at,
    )


def status_clause(status: str) -> sa.ColumnElement[bool]:
    """SQL for a status filter that applies the same liveness rule as effective_status.

    Every reader filtering runs by status uses this, so a stale RUNNING run is CRASHED
    in SQL exactly when :func:`effective_status` says so.
    """
    now = time.time()
    stale = t.runs.c.heartbeat_at < now - (
        t.runs.c.heartbeat_seconds * CRASH_GRACE_FACTOR + CRASH_GRACE_SECONDS
    )
    if status == "CRASHED":
        return sa.or_(t.runs.c.status == "CRASHED", sa.and_(t.runs.c.status == "RUNNING", stale))
    if status == "RUNNING":
        return sa.and_(t.runs.c.status == "RUNNING", sa.not_(stale))
    if status not in t.RUN_STATUSES:
        raise NotFoundError(
            f"Unknown status `{status}`; use one of {', '.join(t.RUN_STATUSES)}."
        )
    return t.runs.c.status == status


_POINT_COLUMNS = "series_id, step, timestamp, value, is_nan"

_UPSERT_LATEST = (
    "INSERT INTO latest_metrics (run_id, key, step, timestamp, value, is_nan) {rows} "
    "ON CONFLICT (run_id, key) DO UPDATE SET step = excluded.step, "
    "timestamp = excluded.timestamp, value = excluded.value, is_nan = excluded.is_nan"
)


_PG_ROWS = ("SELECT * FROM unnest(%s::varchar[], %s::varchar[], %s::bigint[], "
            "%s::float8[], %s::float8[], %s::boolean[])")


def _metric_segments(query: sa.Select, key: str, ascending: bool,
                     position: run_page.Position | None) -> list[sa.Select]:
    """Runs with a value in :func:`run_page.metric_order`, then runs whose last value is
    NaN: each a range of ``(key, value, run_id)`` read in index order, where one
    ``NULLS LAST`` order would sort every run."""
    last = t.latest_metrics
    keyed = query.add_columns(last.c.value).join(
        last, sa.and_(last.c.run_id == t.runs.c.id, last.c.key == key))
    values = keyed.where(last.c.value.is_not(None)).order_by(
        *run_page.metric_order(last.c.value, last.c.run_id, ascending))
    nans = keyed.where(last.c.value.is_(None)).order_by(
        last.c.run_id.asc() if ascending else last.c.run_id.desc())
    if position is None:
        return [values, nans]
    after = run_page.metric_after(last.c.value, last.c.run_id, position)
    if position.value is None:
        return [nans.where(after)]
    return [values.where(after), nans]


def _series_ids(conn: Connection, pairs: Sequence[tuple[str, str]],
                rows: Sequence[tuple[Any, ...]]) -> dict[tuple[str, str], int]:
    """The id of each (run, key) series, numbering the new ones, in the caller's write
    transaction; on PostgreSQL the series rows stay share-locked until it commits (and
    the runs of new series key-share locked), so a concurrent purge cannot delete a
    series or its run between this lookup and the points' insert.

    Raises:
        NotFoundError: a run of a new series is not in the store.
    """
    ids = _find_series(conn, pairs)
    missing = [pair for pair in pairs if pair not in ids]
    if not missing:
        return ids
    runs = sorted({run for run, _ in missing})
    present: set[str] = set()
    for chunk in _chunks(runs):  # PostgreSQL: key-share locked, so a purge waits for us
        present.update(conn.execute(sa.select(t.runs.c.id).where(t.runs.c.id.in_(chunk))
                                    .with_for_update(read=True, key_share=True)).scalars())
    absent = [run for run in runs if run not in present]
    if absent:
        counts = {run: 0 for run in absent}
        for row in rows:
            if row[0] in counts:
                counts[row[0]] += 1
        raise NotFoundError("; ".join(
            f"No run `{run}`: {count} metric point(s) of it were not stored"
            for run, count in counts.items()) + ". The batch was refused whole. A run must "
            "exist in this store (`lg.start_run`) and not have been purged by `lockgate gc`.")
    conn.execute(_INSERT_SERIES, [{"run_id": r, "key": k} for r, k in missing])
    return ids | _find_series(conn, missing)


def _find_series(conn: Connection, pairs: Sequence[tuple[str, str]]
                 ) -> dict[tuple[str, str], int]:
    """Hand-written SQL on the driver's cursor: built through SQLAlchemy's ``in_`` and
    executed through it, the lookup was two thirds of a 10-point batch's CPU."""
    wanted = set(pairs)
    runs = sorted({run for run, _ in pairs})
    keys = sorted({key for _, key in pairs})
    queries: list[tuple[str, tuple[Any, ...]]]
    if conn.dialect.name == "postgresql":  # arrays: one statement whatever the sizes
        queries = [("SELECT id, run_id, key FROM metric_series WHERE run_id = ANY(%s) "
                    "AND key = ANY(%s) ORDER BY id FOR SHARE", (runs, keys))]
    else:  # SQLite: at most 500 + 500 parameters a statement
        queries = [(f"SELECT id, run_id, key FROM metric_series WHERE run_id IN "
                    f"({', '.join('?' * len(some_runs))}) AND key IN "
                    f"({', '.join('?' * len(some_keys))})", (*some_runs, *some_keys))
                   for some_runs in _chunks(runs) for some_keys in _chunks(keys)]
    found: dict[tuple[str, str], int] = {}
    cursor = cast(Any, conn.connection.driver_connection).cursor()
    try:
        for sql, params in queries:
            cursor.execute(sql, params)
            for ident, run, key in cursor.fetchall():
                if (run, key) in wanted:
                    found[(run, key)] = ident
    finally:
        cursor.close()
    return found


# New series, skipping one a concurrent PostgreSQL writer numbered meanwhile.
_INSERT_SERIES = sa.text("INSERT INTO metric_series (run_id, key) VALUES (:run_id, :key) "
                         "ON CONFLICT (run_id, key) DO NOTHING")


#: Points per INSERT on SQLite: one statement of 100 rows costs 0.45 us a point where
#: ``executemany`` of one row costs 1.07 (CPU, measured on this machine's SQLite 3.40).
_ROWS_PER_INSERT = 100

# SQLite binds NaN as NULL, so ``is_nan`` is ``value IS NULL`` (a value is never None),
# and the series id is bound once per statement (?1): 3 parameters a point, not 5.
_INSERT_POINT = f"INSERT INTO metrics ({_POINT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?4 IS NULL)"
_INSERT_POINTS = f"INSERT INTO metrics ({_POINT_COLUMNS}) VALUES " + ", ".join(
    f"(?1, ?{3 * i + 2}, ?{3 * i + 3}, ?{3 * i + 4}, ?{3 * i + 4} IS NULL)"
    for i in range(_ROWS_PER_INSERT))


def _insert_points_sqlite(conn: Connection,
                          series: Sequence[tuple[int, Sequence[tuple[int, float, float]]]]
                          ) -> None:
    """SQLite: each series' points in statements of ``_ROWS_PER_INSERT`` rows, on the
    driver's cursor (SQLAlchemy's per-statement work was 30 us a statement)."""
    cursor = cast(Any, conn.connection.driver_connection).cursor()
    try:
        for series_id, points in series:
            full = len(points) - len(points) % _ROWS_PER_INSERT
            for start in range(0, full, _ROWS_PER_INSERT):
                cursor.execute(_INSERT_POINTS, [series_id, *itertools.chain.from_iterable(
                    points[start:start + _ROWS_PER_INSERT])])
            if full < len(points):
                cursor.executemany(_INSERT_POINT, [(series_id, *p) for p in points[full:]])
    finally:
        cursor.close()


def _nan_as_null(row: tuple[str, str, int, float, float]) -> tuple[Any, ...]:
    """A latest row for PostgreSQL's arrays: floats throughout (an array of int and
    float is refused), NaN as NULL + ``is_nan``."""
    run_id, key, step, ts, value = row
    if value != value:
        return run_id, key, step, float(ts), None, True
    return run_id, key, step, float(ts), float(value), False


def _chunks(values: Sequence[str], size: int = 500) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def encode_param(key: str, value: Any) -> str:
    """A parameter value as JSON text, or a TrackingError naming the key and type."""
    try:
        return json.dumps(value, sort_keys=True, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise TrackingError(
            f"Parameter `{key}` has a value of type {type(value).__name__} that is not "
            "JSON-serialisable. Log a str, number, bool, None, list or dict instead "
            f"(e.g. `{key}=str(value)`)."
        ) from exc


def _dataset_version(row: Any) -> DatasetVersion:
    m = row._mapping
    return DatasetVersion(
        id=m["id"], table_name=m["table_name"], version=m["version"], source=m["source"],
        batch_id=m["batch_id"], rows_ingested=m["rows_ingested"],
        rows_accepted=m["rows_accepted"], rows_quarantined=m["rows_quarantined"],
        content_hash=m["content_hash"], contract_version=m["contract_version"],
        validation_status=m["validation_status"], checks=json.loads(m["checks"] or "{}"),
        details=json.loads(m["details"] or "{}"), run_id=m["run_id"], created_at=m["created_at"],
    )


def _unreachable(url: str, exc: Exception) -> str:
    shown = sa.make_url(url).render_as_string(hide_password=True)
    orig = getattr(exc, "orig", exc)
    first = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    hint = (
        "Is PostgreSQL running and the database created? Check LOCKGATE_DB_URL."
        if url.startswith("postgresql")
        else "Check LOCKGATE_DB_URL / LOCKGATE_HOME."
    )
    return f"Cannot use the metadata store at {shown}: {first}. {hint}"


ARTIFACT_URI = re.compile(r"^lockgate\+sha256://([0-9a-f]{64})$")


def check_artifact_uri(uri: str, sha256: str) -> None:
    """Refuse an artifact URI that is not the content address of ``sha256``.

    Raises:
        ArtifactError: another scheme, a path, or a digest that differs from ``sha256``.
    """
    match = ARTIFACT_URI.match(uri) if isinstance(uri, str) else None
    if match is None or match.group(1) != sha256:
        raise ArtifactError(
            f"Refusing to register artifact URI `{str(uri)[:120]}`: artifacts are addressed "
            f"as lockgate+sha256://<sha256 of their bytes> (expected "
            f"lockgate+sha256://{str(sha256)[:64]}); store the bytes with ArtifactStore.save "
            "or save_file instead of naming a location.")
