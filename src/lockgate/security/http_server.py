"""Running a guarded app under uvicorn, with the connection limits the middleware cannot
set (the protocols of :mod:`lockgate.security.http_protocol`)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from lockgate.security.http_guard import GuardPolicy
from lockgate.security.http_protocol import MAX_HEAD_BYTES, DeadlineHttpToolsProtocol


def server_config(app: ASGIApp | str, policy: GuardPolicy, *, port: int, log_level: str = "warning",
                  protocol: type[asyncio.Protocol] = DeadlineHttpToolsProtocol,
                  **options: Any) -> uvicorn.Config:
    """A uvicorn config that binds ``policy.host`` with the policy's connection limits.

    ``app`` may be an import string (with ``factory=True`` in ``options``) for workers.
    ``protocol`` is one of :mod:`lockgate.security.http_protocol`'s (both keep the head
    deadline and size cap); the httptools one unless a test compares them.
    """
    config = uvicorn.Config(
        app, host=policy.host, port=port, log_level=log_level, http=protocol,
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
