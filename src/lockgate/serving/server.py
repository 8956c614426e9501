"""Running the API: in the foreground with uvicorn (``lockgate serve``), or in a
background thread for tests, the quickstart and benchmarks.

Several workers need an import string, so the worker processes rebuild the app from
``LOCKGATE_SERVE_CONFIG`` (the config as JSON) through :func:`app_from_env`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import sys
import tempfile
from typing import Any

from fastapi import FastAPI

from lockgate.config import Settings, ensure_port_free, load_settings
from lockgate.security import ServerThread, run_server, server_config
from lockgate.serving.app import create_serving_app
from lockgate.serving.config import ServeConfig
from lockgate.serving.security import TOKEN_ENV, serve_policy
from lockgate.serving.state import METRICS_DIR_ENV

CONFIG_ENV = "LOCKGATE_SERVE_CONFIG"


def serve(config: ServeConfig, *, workers: int = 1, settings: Settings | None = None,
          log_level: str = "warning") -> None:
    """Serve in the foreground until interrupted (graceful shutdown on SIGINT/SIGTERM).

    Raises:
        ServeSecurityError: a non-local host without token or ``insecure``.
    """
    config = with_env_token(config)
    ensure_port_free(config.host, config.port)  # before anything is loaded or printed
    settings = settings or load_settings()
    policy = serve_policy(config, settings)
    warning = policy.check_start()
    if warning:
        print(warning, file=sys.stderr)  # at every start, on purpose
    app = create_serving_app(config, settings)  # load (and verify) before binding
    if workers <= 1:
        run_server(server_config(app, policy, port=config.port, log_level=log_level,
                                 timeout_graceful_shutdown=30))
        return
    os.environ[CONFIG_ENV] = json.dumps(dataclasses.asdict(config))
    shared = tempfile.mkdtemp(prefix="lockgate-metrics-")
    os.environ[METRICS_DIR_ENV] = shared  # the workers sum their figures there
    try:
        run_server(server_config("lockgate.serving.server:app_from_env", policy,
                                 factory=True, port=config.port, workers=workers,
                                 log_level=log_level, timeout_graceful_shutdown=30))
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def app_from_env() -> FastAPI:
    """App factory for uvicorn worker processes."""
    fields = json.loads(os.environ[CONFIG_ENV])
    fields["allowed_hosts"] = tuple(fields.get("allowed_hosts", ()))
    return create_serving_app(ServeConfig(**fields), load_settings())


def with_env_token(config: ServeConfig) -> ServeConfig:
    """Fill the token from ``LOCKGATE_SERVE_TOKEN`` when none was given."""
    if config.token is None and os.environ.get(TOKEN_ENV):
        return dataclasses.replace(config, token=os.environ[TOKEN_ENV])
    return config


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (for tests and the quickstart)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class BackgroundServer:
    """A real uvicorn server on a thread; ``stop()`` shuts it down gracefully.

    Example:
        server = BackgroundServer(ServeConfig("churn@production", port=free_port()))
        server.start(); ...; server.stop()
    """

    def __init__(self, config: ServeConfig, settings: Settings | None = None) -> None:
        config = with_env_token(config)
        settings = settings or load_settings()
        policy = serve_policy(config, settings)
        policy.check_start()
        if config.port == 0:
            config = dataclasses.replace(config, port=free_port(config.host))
        self.config = config
        self.app = create_serving_app(config, settings)
        # the one uvicorn-on-a-thread (security.ServerThread), with serving's app and policy
        self._http = ServerThread(server_config(
            self.app, policy, port=config.port, timeout_graceful_shutdown=30, lifespan="on"))

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8123``."""
        return self._http.url

    @property
    def state(self) -> Any:
        """The server's :class:`ServingState` (metrics, logs, holder)."""
        return self.app.state.serving

    def start(self, timeout: float = 30.0) -> BackgroundServer:
        """Start and wait until it accepts connections."""
        self._http.start(timeout)
        return self

    def stop(self, timeout: float = 60.0) -> None:
        """Graceful shutdown: in-flight requests finish, logs are flushed."""
        self._http.stop(timeout)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
