"""The trust boundary in code: the guard of every server, its connection limits, and the
guard of outbound URLs. Part of the core: every stage may import it."""

from lockgate.security.http_guard import GuardError, GuardPolicy, HttpGuard, json_too_deep
from lockgate.security.http_protocol import DeadlineH11Protocol, DeadlineHttpToolsProtocol
from lockgate.security.http_server import ServerThread, run_server, server_config
from lockgate.security.outbound import OutboundPolicy, OutboundURLError, blocked, post_json

__all__ = [
    "DeadlineH11Protocol",
    "DeadlineHttpToolsProtocol",
    "GuardError",
    "GuardPolicy",
    "HttpGuard",
    "OutboundPolicy",
    "OutboundURLError",
    "ServerThread",
    "blocked",
    "json_too_deep",
    "post_json",
    "run_server",
    "server_config",
]
