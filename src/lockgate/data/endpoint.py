"""The HTTP ingest endpoint, the embedded streaming default: ``POST /tables/{name}/rows``
with a JSON list of records (or ``{"rows": [...]}``).

Bound to 127.0.0.1 by default and behind the shared guard (:mod:`lockgate.security`): a
foreign ``Host`` or a cross-site ``Origin`` is refused; beyond loopback it needs
``LOCKGATE_INGEST_TOKEN`` (at least 16 characters) or ``--insecure``; bodies are JSON of at
most ``max_body_bytes`` (default 8 MiB), nested at most 32 deep.

Requests for a table arriving within ``batch_seconds`` land together as one batch (one
Delta version per window, not per request; see :mod:`lockgate.data.micro_batch`), and
each request is answered with its own rows' outcome. Landing is serialised per table in a
process so duplicate checks see every earlier batch; a retried request lands once (the
same content, or its rows as copies of landed rows with a primary key).
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn
from fastapi import Body, FastAPI, HTTPException

from lockgate.config import Settings
from lockgate.data.contract import Contract, check_table_name
from lockgate.data.errors import ContractError, SchemaChangeError, SourceError
from lockgate.data.ingestion import land, resolve_contract
from lockgate.data.micro_batch import MicroBatcher
from lockgate.data.source import RecordsSource
from lockgate.errors import LockgateError, NotFoundError
from lockgate.security import GuardPolicy, HttpGuard, server_config

MAX_ROWS = 100_000
MAX_BODY_BYTES = 8 << 20
TOKEN_ENV = "LOCKGATE_INGEST_TOKEN"


def ingest_policy(settings: Settings, *, host: str = "127.0.0.1", token: str | None = None,
                  insecure: bool = False, max_body_bytes: int = MAX_BODY_BYTES) -> GuardPolicy:
    """The guard policy of the ingest endpoint (token on every route but /health)."""
    return GuardPolicy(server="lockgate ingest serve", host=host, token=token,
                       token_env=TOKEN_ENV, insecure=insecure,
                       allowed_hosts=tuple(settings.allowed_hosts),
                       max_body_bytes=max_body_bytes)


def create_app(settings: Settings, contracts: dict[str, Contract] | None = None,
               policy: GuardPolicy | None = None, *, batch_seconds: float = 0.2,
               batch_rows: int = 10_000) -> FastAPI:
    """The ingest app.

    Args:
        settings: where tables and the store live.
        contracts: contracts for tables that may not exist yet (others use their current
            contract).
        policy: who may post (default: loopback, no token; see :func:`ingest_policy`).
        batch_seconds: how long a request waits for others to land with (0: each
            request is its own batch).
        batch_rows: a window lands early when it holds this many rows.

    Raises:
        GuardError: the policy refuses to start (exposed without a token, short token).
    """
    policy = policy or ingest_policy(settings)
    policy.check_start()
    app = FastAPI(title="lockgate ingest", version="1")
    app.add_middleware(HttpGuard, policy=policy)
    known = dict(contracts or {})
    batchers: dict[str, MicroBatcher] = {}
    guard = threading.Lock()

    def batcher(name: str) -> MicroBatcher:
        def land_records(records: list[Any]) -> Any:
            batch = RecordsSource(records, name=f"http:{name}").read()
            return land(batch, name, resolve_contract(name, known.get(name), settings),
                        settings=settings)

        with guard:
            if name not in batchers:
                batchers[name] = MicroBatcher(land_records, batch_seconds, batch_rows)
            return batchers[name]

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/tables/{name}/rows")
    def post_rows(name: str, body: Any = Body(...)) -> dict[str, Any]:
        try:
            check_table_name(name)
        except ContractError as exc:
            raise HTTPException(400, str(exc)) from exc
        rows = body.get("rows") if isinstance(body, dict) else body
        if not isinstance(rows, list) or not rows:
            raise HTTPException(400, "Send a non-empty JSON list of records, or "
                                     '{"rows": [...]}.')
        if len(rows) > MAX_ROWS:
            raise HTTPException(413, f"At most {MAX_ROWS} rows per request; split the batch.")
        try:
            resolve_contract(name, known.get(name), settings)  # unknown table: 422 now
            RecordsSource(rows).read()  # a malformed request fails alone, before batching
            share = batcher(name).submit(rows)
        except NotFoundError as exc:
            raise HTTPException(404, str(exc)) from exc
        except (SourceError, ContractError, SchemaChangeError) as exc:
            raise HTTPException(422, str(exc)) from exc
        except LockgateError as exc:
            raise HTTPException(500, str(exc)) from exc
        return share.to_dict()

    return app


class IngestServer:
    """The endpoint in a background thread, for the quickstart and tests.

    Example:
        >>> with IngestServer(settings) as server:
        ...     httpx.post(f"{server.url}/tables/churn/rows", json=rows)
    """

    def __init__(self, settings: Settings, contracts: dict[str, Contract] | None = None,
                 host: str = "127.0.0.1", port: int = 0,
                 policy: GuardPolicy | None = None, batch_seconds: float = 0.2) -> None:
        policy = policy or ingest_policy(settings, host=host)
        self.host = policy.host
        self.port = port or free_port(self.host)
        self.app = create_app(settings, contracts, policy, batch_seconds=batch_seconds)
        config = server_config(self.app, policy, port=self.port, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        """Base URL of the running endpoint."""
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> IngestServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise LockgateError(f"The ingest endpoint did not start on {self.url}.")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
