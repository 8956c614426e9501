"""The trust boundary in code: the guard of every server, connection limits, outbound URLs."""

from lockgate.security.http_guard import GuardError, GuardPolicy, HttpGuard, json_too_deep
from lockgate.security.http_server import (
    DeadlineH11Protocol,
    ServerThread,
    run_server,
    server_config,
)

__all__ = [
    "DeadlineH11Protocol",
    "GuardError",
    "GuardPolicy",
    "HttpGuard",
    "ServerThread",
    "json_too_deep",
    "run_server",
    "server_config",
]
