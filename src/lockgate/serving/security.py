"""The prediction API's policy for the shared guard (:mod:`lockgate.security`).

Loopback by default; beyond it a token (``LOCKGATE_SERVE_TOKEN``, at least 16
characters) or ``--insecure``. The token, when set, is needed on every route but
``/health``. Bodies are JSON, at most ``max_body_bytes``, nested at most 32 deep.
"""

from __future__ import annotations

from lockgate.config import Settings
from lockgate.security import GuardError, GuardPolicy
from lockgate.serving.config import ServeConfig

TOKEN_ENV = "LOCKGATE_SERVE_TOKEN"
OPEN_PATHS = ("/health",)

#: Raised when the server may not start as asked (kept as the serving stage's name).
ServeSecurityError = GuardError


def serve_policy(config: ServeConfig, settings: Settings | None = None) -> GuardPolicy:
    """The guard policy of one model server."""
    extra = tuple(settings.allowed_hosts) if settings is not None else ()
    return GuardPolicy(
        server="lockgate serve", host=config.host, token=config.token, token_env=TOKEN_ENV,
        insecure=config.insecure, allowed_hosts=(*config.allowed_hosts, *extra),
        open_paths=OPEN_PATHS, max_body_bytes=config.max_body_bytes,
        max_json_depth=config.max_json_depth, body_timeout_s=config.body_timeout_s,
        header_timeout_s=config.header_timeout_s)


def check_bind(host: str, token: str | None, insecure: bool) -> str | None:
    """Decide whether ``host`` may be bound; returns a warning to print, if any.

    Raises:
        ServeSecurityError: a non-local address without a token or ``--insecure``; a
            token shorter than 16 characters.
    """
    return serve_policy(ServeConfig("-", host=host, token=token, insecure=insecure)
                        ).check_start()
