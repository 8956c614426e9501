"""``lockgate server``: one lockgate for a team, with users, roles and an audit trail."""

from lockgate.server.access import Access, AuthMiddleware, RateLimiter
from lockgate.server.app import TeamServer, create_server_app, server_policy

__all__ = ["Access", "AuthMiddleware", "RateLimiter", "TeamServer", "create_server_app",
           "server_policy"]
