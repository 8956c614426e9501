"""Running a guarded app under uvicorn: the connection limits the middleware cannot set.

uvicorn (h11) has an idle timeout between requests (``timeout_keep_alive``) and a cap
on the size of an incomplete request head (``h11_max_incomplete_event_size``), but no
deadline for the head itself: a client sending one header byte every few seconds
(slowloris) keeps a connection forever. :class:`DeadlineH11Protocol` closes a
connection whose request head has not arrived within ``header_timeout_s`` of its
first byte (or of the connection). Body deadlines are the middleware's
(:class:`lockgate.security.HttpGuard`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from lockgate.security.http_guard import GuardPolicy

MAX_HEAD_BYTES = 16 * 1024  # h11's default, stated here so it cannot drift


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request head."""

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.header_timeout = float(getattr(config, "lockgate_header_timeout", 10.0))
        self._head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._waiting_for_head():
            self._arm(keep=True)
        super().data_received(data)
        if not self._waiting_for_head():
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._disarm()  # idle now: uvicorn's keep-alive timeout takes over

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _waiting_for_head(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm(self, keep: bool = False) -> None:
        if keep and self._head_deadline is not None:
            return
        self._disarm()
        self._head_deadline = self.loop.call_later(self.header_timeout, self._head_timeout)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timeout(self) -> None:
        self._head_deadline = None
        if self._waiting_for_head() and not self.transport.is_closing():
            self.transport.close()


def server_config(app: Any, policy: GuardPolicy, *, port: int, log_level: str = "warning",
                  **options: Any) -> uvicorn.Config:
    """A uvicorn config that binds ``policy.host`` with the policy's connection limits.

    ``app`` may be an import string (with ``factory=True`` in ``options``) for workers.
    """
    config = uvicorn.Config(
        app, host=policy.host, port=port, log_level=log_level, http=DeadlineH11Protocol,
        timeout_keep_alive=policy.idle_timeout_s, h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        limit_concurrency=policy.max_connections, server_header=False, proxy_headers=False,
        **options)
    config.lockgate_header_timeout = policy.header_timeout_s  # type: ignore[attr-defined]
    return config


def run_server(config: uvicorn.Config) -> None:
    """Serve in the foreground until interrupted (several workers when configured), as
    ``uvicorn.run`` does, but with a config built by :func:`server_config`."""
    from uvicorn.supervisors import Multiprocess

    if config.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    uvicorn.Server(config).run()


class ServerThread:
    """A real uvicorn server on a daemon thread (tests, the quickstart, notebooks).

    Example:
        with ServerThread(server_config(app, policy, port=free_port())) as server:
            httpx.get(server.url + "/health")
    """

    def __init__(self, config: uvicorn.Config) -> None:
        self.config = config
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="lockgate-http",
                                        daemon=True)

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8123``."""
        host = self.config.host
        return f"http://[{host}]:{self.config.port}" if ":" in host else \
            f"http://{host}:{self.config.port}"

    def start(self, timeout: float = 30.0) -> ServerThread:
        """Start and wait until it accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server on {self.url} did not start")
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Graceful shutdown."""
        self._server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
