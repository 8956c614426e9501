"""Serving the dashboard with uvicorn on a checked bind address."""

from __future__ import annotations

import os

from lockgate.config import Settings
from lockgate.security import run_server, server_config
from lockgate.ui.access import TOKEN_ENV, AccessPolicy
from lockgate.ui.app import create_dashboard_app


def serve_dashboard(settings: Settings, *, host: str = "127.0.0.1", port: int = 5000,
          insecure: bool = False, token: str | None = None) -> None:
    """Serve the dashboard until interrupted.

    Args:
        token: the edit/login token; default ``$LOCKGATE_UI_TOKEN``.

    Raises:
        ConfigError: a non-loopback host without a token or ``insecure``; a short token.
    """
    policy = AccessPolicy(host=host, token=token or os.environ.get(TOKEN_ENV) or None,
                          insecure=insecure)
    app = create_dashboard_app(settings, policy)
    run_server(server_config(app, policy.guard(tuple(settings.allowed_hosts)), port=port))
