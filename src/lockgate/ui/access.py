"""Who may use the dashboard and how, as a policy for the shared guard
(:mod:`lockgate.security`): bind policy, token, Host and Origin checks.

- Read-only by default. The only write is adding a note, and it needs the token
  (``LOCKGATE_UI_TOKEN``), given in the note form or as ``Authorization: Bearer``.
- Bound to anything but loopback, the server refuses to start without a token unless
  ``--insecure``; with a token, every page then needs it (a login form sets a cookie).
- A request whose ``Host`` is not the bound address, loopback or an allowed host is
  refused (DNS rebinding); a state-changing request whose ``Origin`` (or ``Referer``) is
  not the server itself is refused (CSRF).
"""

from __future__ import annotations

from dataclasses import dataclass

from lockgate.errors import LockgateError
from lockgate.security import GuardPolicy
from lockgate.security.http_guard import is_loopback

TOKEN_ENV = "LOCKGATE_UI_TOKEN"
COOKIE = "lockgate_ui_token"
OPEN_PATHS = ("/static/", "/login", "/healthz")
MAX_FORM_BYTES = 100_000


class AccessError(LockgateError, PermissionError):
    """A request or a server configuration that the access policy refuses."""


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """The dashboard's access rules for one bind address."""

    host: str = "127.0.0.1"
    token: str | None = None
    insecure: bool = False
    allowed_hosts: tuple[str, ...] = ()

    @property
    def loopback(self) -> bool:
        """Whether the server listens on a loopback address only."""
        return is_loopback(self.host)

    @property
    def login_required(self) -> bool:
        """Pages need the token: exposed beyond loopback with a token set."""
        return self.guard().token_required

    @property
    def can_edit(self) -> bool:
        """Notes can be edited at all (a token is configured)."""
        return self.token is not None

    def guard(self, extra_hosts: tuple[str, ...] = ()) -> GuardPolicy:
        """The shared guard's policy for the dashboard."""
        return GuardPolicy(
            server="lockgate ui", host=self.host, token=self.token, token_env=TOKEN_ENV,
            insecure=self.insecure, allowed_hosts=(*self.allowed_hosts, *extra_hosts),
            open_paths=OPEN_PATHS, token_on_loopback=False, login_path="/login",
            token_cookie=COOKIE, json_only=False, max_body_bytes=MAX_FORM_BYTES)

    def check_start(self) -> str | None:
        """Refuse to serve beyond loopback without a token, unless told ``--insecure``;
        returns the warning to print at every start, if any.

        Raises:
            GuardError: bound to a non-loopback address with no token and no --insecure,
                or a token shorter than 16 characters.
        """
        return self.guard().check_start()

    def token_matches(self, given: str | None) -> bool:
        """Constant-time comparison of a presented token with the configured one."""
        return self.guard().token_matches(given)

    def check_request(self, method: str, host_header: str | None, origin: str | None,
                      referer: str | None) -> None:
        """Refuse a foreign Host (DNS rebinding) or, when state changes, a foreign Origin.

        Raises:
            AccessError: with the reason, shown to the client with status 403.
        """
        guard = self.guard()
        reason = guard.host_refusal(host_header) or guard.origin_refusal(
            method, host_header, origin, referer)
        if reason is not None:
            raise AccessError(reason)
