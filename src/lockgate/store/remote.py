"""The metadata store behind a ``lockgate server``: the same repository API as
:class:`~lockgate.store.Store`, spoken over the server's REST API.

``Store.open(settings)`` returns one when ``tracking_uri`` (``LOCKGATE_TRACKING_URI``) is
an ``http(s)://`` address; the token comes from ``LOCKGATE_TOKEN`` or the credentials
file (``~/.lockgate/credentials.json``, ``{"<uri>": "<token>"}``, readable by its owner
only; ``LOCKGATE_CREDENTIALS`` names another). Unset, nothing here is used.

Failures are retried for at most ``retry_seconds`` (connection refused, reset, 502-504)
with backoff; every state-changing call carries an ``Idempotency-Key`` kept across its
retries, so a batch whose answer was lost is not stored twice. What needs the database
itself (raw SQL of a stage's own tables) is refused with a clear error, not guessed.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from lockgate import errors
from lockgate.config import Settings
from lockgate.errors import LockgateError, NotFoundError, StoreError
from lockgate.store import records as rec
from lockgate.store.repository import Store

API = "/api/v1"
TOKEN_ENV = "LOCKGATE_TOKEN"  # noqa: S105 (a variable name)
CREDENTIALS_ENV = "LOCKGATE_CREDENTIALS"
RETRY_STATUSES = frozenset({502, 503, 504})


class RemoteError(LockgateError):
    """The server refused a request (the message is the server's reason)."""


class AccessDenied(RemoteError, PermissionError):
    """The server's authorization refused the request (401/403)."""


class Busy(RemoteError):
    """The server is busy with the same work (409) or at its limit (429); it says when to
    ask again (``Retry-After``, seconds)."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BadRequest(RemoteError, ValueError):
    """The server refused the request's values (a ``ValueError`` there, as embedded)."""


class RemoteStore(Store):
    """The repository API of :class:`Store` through ``lockgate server``.

    Example:
        store = RemoteStore("http://127.0.0.1:8700", token)
        run_id = store.create_run("baseline", experiment="churn")
    """

    remote = True

    def __init__(self, url: str, token: str, *, retry_seconds: float = 30.0,
                 timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.dialect = "remote"
        self.retry_seconds = retry_seconds
        self._token = token
        self._local = threading.local()
        self._timeout = httpx.Timeout(timeout, connect=min(5.0, timeout))

    @classmethod
    def connect(cls, settings: Settings) -> RemoteStore:
        """The remote store named by ``settings.tracking_uri`` with its token."""
        uri = settings.tracking_uri or ""
        return cls(uri, find_token(uri))

    # -- what only the database can do -------------------------------------------

    def upgrade(self) -> bool:
        return False  # the server migrates its own store

    def close(self) -> None:
        from lockgate.store import repository

        for key in [key for key, store in repository._STORES.items() if store is self]:
            del repository._STORES[key]
        client = getattr(self._local, "client", None)
        if client is not None:
            client.close()
            self._local.client = None

    @contextlib.contextmanager
    def read(self) -> Iterator[Any]:
        raise StoreError(self._no_sql())
        yield  # pragma: no cover

    @contextlib.contextmanager
    def write(self) -> Iterator[Any]:
        raise StoreError(self._no_sql())
        yield  # pragma: no cover

    def execute_write(self, statement: Any, rows: Any = None) -> Any:
        raise StoreError(self._no_sql())

    def _no_sql(self) -> str:
        return (f"This needs direct access to the metadata database, which a client of "
                f"`lockgate server` ({self.url}) does not have: run it where the server "
                "runs, or unset LOCKGATE_TRACKING_URI to use a local store.")

    # -- experiments and runs --------------------------------------------------------

    def experiment_id(self, name: str) -> int:
        raise StoreError(self._no_sql())

    def experiments(self) -> list[str]:
        return list(self._get("/experiments"))

    def create_run(self, name: str, *, experiment: str = "default", kind: str = "run",
                   parent_id: str | None = None, heartbeat_seconds: float = 5.0,
                   status: str = "RUNNING") -> str:
        return str(self._post("/runs", {
            "name": name, "experiment": experiment, "kind": kind, "parent_id": parent_id,
            "heartbeat_seconds": heartbeat_seconds, "status": status})["id"])

    def heartbeat(self, run_id: str) -> None:
        self._post(f"/runs/{run_id}/heartbeat", {})

    def end_run(self, run_id: str, status: str, error: str | None = None) -> None:
        self._post(f"/runs/{run_id}/end", {"status": status, "error": error})

    def resolve_run_id(self, run_id: str) -> str:
        return self.get_run(run_id).id

    def get_run(self, run_id: str) -> rec.RunRecord:
        return rec.RunRecord(**self._get(f"/runs/{run_id}"))

    def page_runs(self, *, experiment: str | None = None, status: str | None = None,
                  tags: Mapping[str, str] | None = None, parent_id: str | None = None,
                  top_level: bool = False, kind: str | None = None,
                  sort_metric: str | None = None, ascending: bool = False,
                  limit: int | None = 100, offset: int = 0,
                  after: str | None = None, within: Sequence[str] | None = None
                  ) -> rec.RunsPage:
        if tags or sort_metric or offset:
            raise StoreError("Filtering by tags, sorting by a metric and offsets are not in "
                             "the server's run listing yet; filter by experiment, status, "
                             "kind or parent, and page with `after`.")
        if within is not None and not within:
            return rec.RunsPage([], None)
        params = {"experiment": experiment, "status": status, "parent_id": parent_id,
                  "kind": kind, "top_level": top_level, "limit": limit or 10_000,
                  "after": after, "within": list(within) if within is not None else None}
        found = self._get("/runs", params={k: v for k, v in params.items()
                                           if v not in (None, False)})
        return rec.RunsPage([rec.RunRecord(**r) for r in found["runs"]], found["next_page"])

    def search(self, filter: str = "", order_by: str | Sequence[str] | None = None,
               experiment: str | Sequence[str] | None = None, max_results: int = 1000, *,
               include_steps: bool = False) -> list[rec.RunRecord]:
        """The runs of ``lockgate.search_runs``, found by the server."""
        orders = [order_by] if isinstance(order_by, str) else list(order_by or [])
        names = [experiment] if isinstance(experiment, str) else list(experiment or [])
        found = self._get("/search", params={
            "filter": filter or "", "order_by": orders, "experiment": names,
            "max_results": max_results, "include_steps": include_steps})
        return [rec.RunRecord(**r) for r in found]

    # -- params, metrics, tags, notes ---------------------------------------------------

    def log_params(self, run_id: str, values: Mapping[str, Any]) -> None:
        if values:
            from lockgate.store.repository import encode_param

            for key, value in values.items():  # refuse here, as the embedded store does
                encode_param(key, value)
            self._post(f"/runs/{run_id}/params", {"values": dict(values)})

    def params(self, run_id: str) -> dict[str, Any]:
        return dict(self._get(f"/runs/{run_id}/params"))

    def log_metric_tuples(self, rows: Sequence[tuple[str, str, int, float, float]], *,
                          request_id: str | None = None) -> None:
        """Send metric points, one request per run; ``request_id`` makes a re-sent batch
        (after a lost answer) a no-op on the server."""
        by_run: dict[str, list[list[Any]]] = {}
        for run_id, name, step, timestamp, value in rows:
            by_run.setdefault(run_id, []).append([name, step, timestamp, _number(value)])
        for run_id, points in by_run.items():
            batch = None if request_id is None else f"{request_id}-{run_id}"[:64]
            self.request("POST", f"/runs/{run_id}/metrics", json_body={"points": points},
                         idempotent=True, key=batch)

    def metrics(self, run_id: str, key: str | None = None) -> list[rec.MetricPoint]:
        found = self._get(f"/runs/{run_id}/metrics", params={"key": key} if key else None)
        return [rec.MetricPoint(p["key"], p["step"], p["timestamp"], float(p["value"]))
                for p in found]

    def last_metrics(self, run_ids: Sequence[str]) -> dict[str, dict[str, float]]:
        if not run_ids:
            return {}
        found = self._get("/latest-metrics", params={"run_id": list(run_ids)})
        return {run: {k: float(v) for k, v in values.items()} for run, values in found.items()}

    def count_runs(self, kind: str | None = None) -> int:
        if kind is None:
            return int(self._get("/runs-count")["count"])
        count, token = 0, None
        while True:  # the server counts all runs only: count one kind page by page
            found = self.page_runs(kind=kind, limit=1000, after=token)
            count += len(found.runs)
            if found.next_page is None:
                return count
            token = found.next_page

    def set_tags(self, run_id: str, values: Mapping[str, Any]) -> None:
        if values:
            self._post(f"/runs/{run_id}/tags", {"values": {k: str(v) for k, v in
                                                           values.items()}})

    def tags(self, run_id: str) -> dict[str, str]:
        return dict(self._get(f"/runs/{run_id}/tags"))

    def add_note(self, run_id: str, text: str, author: str | None = None) -> None:
        self._post(f"/runs/{run_id}/notes", {"text": text, "author": author})

    def notes(self, run_id: str) -> list[rec.Note]:
        return [rec.Note(**n) for n in self._get(f"/runs/{run_id}/notes")]

    # -- artifacts and lineage ------------------------------------------------------------

    def add_artifact(self, *, run_id: str | None, name: str, uri: str, sha256: str,
                     size: int, media_type: str,
                     materializer: str | None = None) -> rec.ArtifactRecord:
        from lockgate.store.repository import check_artifact_uri

        check_artifact_uri(uri, sha256)
        return rec.ArtifactRecord(**self._post("/artifacts", {
            "run_id": run_id, "name": name, "sha256": sha256, "size": size,
            "media_type": media_type, "materializer": materializer}))

    def artifact(self, artifact_id: int) -> rec.ArtifactRecord:
        return rec.ArtifactRecord(**self._get(f"/artifacts/{int(artifact_id)}"))

    def artifacts(self, run_id: str) -> list[rec.ArtifactRecord]:
        return [rec.ArtifactRecord(**a) for a in self._get(f"/runs/{run_id}/artifacts")]

    def add_lineage(self, run_id: str, direction: str, *, artifact_id: int | None = None,
                    dataset_version_id: int | None = None, role: str | None = None,
                    note: str | None = None, within: Sequence[str] | None = None) -> None:
        if within is not None:  # the server chooses what the token's user may see
            raise ValueError("`within` is the server's choice behind lockgate server (from "
                             "the token's grants); leave it out.")
        if direction not in ("consumed", "produced"):
            raise ValueError("direction must be 'consumed' or 'produced'")
        if (artifact_id is None) == (dataset_version_id is None):
            raise ValueError("give exactly one of artifact_id and dataset_version_id")
        self._post("/lineage", {"run_id": run_id, "direction": direction,
                                "artifact_id": artifact_id,
                                "dataset_version_id": dataset_version_id, "role": role,
                                "note": note})

    def lineage(self, *, run_id: str | None = None, artifact_id: int | None = None,
                dataset_version_id: int | None = None,
                sha256: str | None = None,
                within: Sequence[str] | None = None) -> list[rec.LineageEdge]:
        if within is not None:  # the server chooses what the token's user may see
            raise ValueError("`within` is the server's choice behind lockgate server (from "
                             "the token's grants); leave it out.")
        params = {"run_id": run_id, "artifact_id": artifact_id,
                  "dataset_version_id": dataset_version_id, "sha256": sha256}
        return [rec.LineageEdge(**e) for e in self._get("/lineage", params={
            k: v for k, v in params.items() if v is not None})]

    # -- code, environment, console, hardware -----------------------------------------------

    def set_code_version(self, run_id: str, code: rec.CodeVersion) -> None:
        self._send("PUT", f"/runs/{run_id}/code", _fields(code))

    def code_version(self, run_id: str) -> rec.CodeVersion | None:
        found = self._get(f"/runs/{run_id}/code")
        return None if found is None else rec.CodeVersion(**found)

    def set_environment(self, run_id: str, env: rec.Environment) -> None:
        self._send("PUT", f"/runs/{run_id}/environment", _fields(env))

    def environment(self, run_id: str) -> rec.Environment | None:
        found = self._get(f"/runs/{run_id}/environment")
        return None if found is None else rec.Environment(**found)

    def append_console(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self._post_per_run(rows, "console", "chunks")

    def console(self, run_id: str, tail_lines: int | None = None) -> str:
        params = {"tail_lines": tail_lines} if tail_lines is not None else None
        return str(self._get(f"/runs/{run_id}/console", params=params)["text"])

    def add_hardware_samples(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self._post_per_run(rows, "hardware", "samples")

    def _post_per_run(self, rows: Sequence[Mapping[str, Any]], resource: str,
                      field: str) -> None:
        """Rows of several runs (each names its ``run_id``) as one request per run."""
        by_run: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            item = dict(row)
            by_run.setdefault(str(item.pop("run_id")), []).append(item)
        for run_id, items in by_run.items():
            self._post(f"/runs/{run_id}/{resource}", {field: items})

    def hardware(self, run_id: str) -> list[rec.HardwareSample]:
        return [rec.HardwareSample(**h) for h in self._get(f"/runs/{run_id}/hardware")]

    # -- saved views of the runs table ------------------------------------------------------

    def views(self) -> list[dict[str, Any]]:
        return list(self._get("/views"))

    def view(self, name: str) -> dict[str, Any]:
        return dict(self._get(f"/views/{name}"))

    def put_view(self, view: Mapping[str, Any]) -> dict[str, Any]:
        return dict(self._send("PUT", f"/views/{view['name']}", dict(view)))

    def remove_view(self, name: str) -> None:
        self.request("DELETE", f"/views/{name}", idempotent=True)

    # -- retention --------------------------------------------------------------------------

    def change_runs(self, how: str, run_ids: Sequence[str]) -> list[rec.RunRecord]:
        """Soft-delete (``how`` delete) or restore runs through the server, which checks
        lineage protection, needs writer on each run's experiment, and audits it."""
        done: list[rec.RunRecord] = []
        for run_id in run_ids:
            found = self._post(f"/runs/{run_id}/{how}", {})
            done.extend(rec.RunRecord(**r) for r in found["runs"])
        return done

    # -- dataset versions ---------------------------------------------------------------

    def add_dataset_version(self, table_name: str, **fields: Any) -> rec.DatasetVersion:
        return rec.DatasetVersion(**self._post(f"/datasets/{table_name}/versions", fields))

    def update_dataset_version(self, dataset_version_id: int, **values: Any) -> None:
        self._send("PATCH", f"/dataset-versions/{int(dataset_version_id)}", values)

    def dataset_version_by_id(self, dataset_version_id: int) -> rec.DatasetVersion:
        return rec.DatasetVersion(**self._get(f"/dataset-versions/{int(dataset_version_id)}"))

    def dataset_version(self, table_name: str, version: int | None = None) -> rec.DatasetVersion:
        which = "latest" if version is None else str(int(version))
        return rec.DatasetVersion(**self._get(f"/datasets/{table_name}/versions/{which}"))

    def dataset_versions(self, table_name: str) -> list[rec.DatasetVersion]:
        return [rec.DatasetVersion(**d) for d in self._get(f"/datasets/{table_name}/versions")]

    def dataset_tables(self) -> list[str]:
        return list(self._get("/datasets"))

    # -- the wire -----------------------------------------------------------------------

    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params).json()

    def _post(self, path: str, body: Any) -> Any:
        return self._send("POST", path, body)

    def _send(self, method: str, path: str, body: Any) -> Any:
        return self.request(method, path, json_body=body, idempotent=True).json()

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                json_body: Any = None, content: bytes | None = None,
                idempotent: bool = False, deadline: float | None = None,
                key: str | None = None, timeout: float | None = None) -> httpx.Response:
        """One API call, retried on connection failures and 502-504 until ``deadline``
        (default: ``retry_seconds`` from now); state changes keep one Idempotency-Key
        across their retries. ``timeout`` replaces the client's read timeout for a call
        whose work takes long on the server (a promotion runs the gates).

        Raises:
            StoreError: the server stayed unreachable.
            AccessDenied / NotFoundError / RemoteError: the server's refusal.
        """
        headers = {"authorization": f"Bearer {self._token}"}
        if idempotent:
            headers["idempotency-key"] = key or uuid.uuid4().hex
        if json_body is not None:
            # NaN and ±inf as Python's JSON writes them: params may hold them (metrics
            # travel as "nan"/"inf" strings, which any JSON reader accepts).
            content = json.dumps(json_body, default=str).encode()
            headers["content-type"] = "application/json"
        elif content is not None:
            headers["content-type"] = "application/octet-stream"
        stop = deadline if deadline is not None else time.monotonic() + self.retry_seconds
        stop = min(stop, getattr(self._local, "deadline", None) or stop)
        delay, last = 0.05, "no attempt"
        while True:
            try:
                response = self._client().request(
                    method, self.url + API + path, params=params, content=content,
                    headers=headers,
                    timeout=self._timeout if timeout is None else
                    httpx.Timeout(timeout, connect=self._timeout.connect))
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 409 and "being applied" in response.text:
                    last = "the same request was still being applied"
                elif response.status_code not in RETRY_STATUSES:
                    return _checked(response, method, path)
                else:
                    last = f"HTTP {response.status_code}"
            if time.monotonic() + delay > stop:
                raise StoreError(f"lockgate server {self.url} did not answer {method} {path}: "
                                 f"{last}. Is it running (`lockgate server start`)? Unset "
                                 "LOCKGATE_TRACKING_URI to work locally.")
            time.sleep(delay * (1 + random.random() / 2))  # noqa: S311 (jitter)
            delay = min(delay * 2, 2.0)

    @contextlib.contextmanager
    def deadline(self, seconds: float) -> Iterator[None]:
        """Every call in the block gives up ``seconds`` from now (flushes at exit)."""
        previous = getattr(self._local, "deadline", None)
        self._local.deadline = time.monotonic() + seconds
        try:
            yield
        finally:
            self._local.deadline = previous

    def _client(self) -> httpx.Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = httpx.Client(timeout=self._timeout, follow_redirects=False)
            self._local.client = client
        return client


def find_token(uri: str) -> str:
    """The token for ``uri``: ``LOCKGATE_TOKEN``, else the credentials file.

    Raises:
        ConfigError: no token, or a credentials file others may read.
    """
    token = os.environ.get(TOKEN_ENV)
    if token:
        return token
    path = Path(os.environ.get(CREDENTIALS_ENV) or Path.home() / ".lockgate" /
                "credentials.json")
    if path.is_file():
        if path.stat().st_mode & 0o077:
            raise errors.ConfigError(f"{path} may be read by other users; `chmod 600 {path}` "
                                     "(it holds API tokens).")
        try:
            known = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise errors.ConfigError(f"{path} is not valid JSON: {exc}") from exc
        if isinstance(known, dict) and isinstance(known.get(uri), str):
            return str(known[uri])
    raise errors.ConfigError(
        f"LOCKGATE_TRACKING_URI is {uri} but no token was found: set {TOKEN_ENV} or add "
        f'{{"{uri}": "<token>"}} to {path} (an admin issues one with `lockgate server token '
        "create NAME`).")


def _checked(response: httpx.Response, method: str, path: str) -> httpx.Response:
    if response.status_code < 400:
        return response
    try:
        body = response.json()
    except ValueError:
        body = {}
    detail = str(body.get("detail") if isinstance(body, dict) else body) or response.text[:300]
    if response.status_code in (401, 403):
        raise AccessDenied(f"lockgate server refused {method} {path}: {detail}")
    wait = response.headers.get("retry-after", "")
    if response.status_code in (409, 429) and wait.isdigit():
        raise Busy(detail, float(wait))
    kind = _error_class(str(body.get("error", "")) if isinstance(body, dict) else "")
    if kind is not None:
        raise _rebuilt(kind, detail)
    if isinstance(body, dict) and body.get("error") == "BadRequest":
        raise BadRequest(detail)
    if response.status_code == 404:
        raise NotFoundError(detail)
    raise RemoteError(f"lockgate server answered {response.status_code} to {method} {path}: "
                      f"{detail}")


def _rebuilt(kind: type[LockgateError], detail: str) -> LockgateError:
    """The server's error as the class it named, carrying the server's message. Errors
    with fields of their own (``RowAccountingError(table, ingested, ...)``) cannot be
    called with a message alone: they are made without their ``__init__``, so the
    class (and every ``except`` the caller wrote for it) and the message survive; the
    fields stay on the server's side. Whether a class takes a message alone is read
    from where its ``__init__`` comes from (``RunDeletionError(problems)`` would take
    the message's characters for a list of problems), not guessed from a call."""
    own_init = next((c for c in kind.__mro__ if "__init__" in vars(c)), Exception)
    if own_init.__module__ == "builtins":
        return kind(detail)
    error = kind.__new__(kind)
    Exception.__init__(error, detail)
    return error


def _error_class(name: str) -> type[LockgateError] | None:
    """The lockgate error class the server named (``module.Class``), among those already
    imported here: a name is matched, never imported."""
    if not name:
        return None
    pending: list[type[LockgateError]] = [LockgateError]
    while pending:
        kind = pending.pop()
        if f"{kind.__module__}.{kind.__qualname__}" == name:
            return kind
        pending.extend(kind.__subclasses__())
    return None


def _number(value: float) -> float | str:
    import math

    return value if math.isfinite(value) else str(value)


def _fields(record: Any) -> dict[str, Any]:
    import dataclasses

    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
