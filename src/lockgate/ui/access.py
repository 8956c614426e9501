"""Who may use the dashboard and how: bind policy, token, Host and Origin checks.

- Read-only by default. The only write is adding a note, and it needs the token
  (``LOCKGATE_UI_TOKEN``), given in the note form or as ``Authorization: Bearer``.
- Bound to anything but loopback, the server refuses to start without a token unless
  ``--insecure``; with a token, every page then needs it (a login form sets a cookie).
- On loopback, a request whose ``Host`` is not a loopback name is refused (DNS
  rebinding). A state-changing request whose ``Origin`` (or ``Referer``) is not the
  server itself, or whose ``Host`` is foreign, is refused (CSRF).
"""

from __future__ import annotations

import hmac
import ipaddress
import urllib.parse
from dataclasses import dataclass

from lockgate.errors import ConfigError, LockgateError

TOKEN_ENV = "LOCKGATE_UI_TOKEN"
COOKIE = "lockgate_ui_token"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class AccessError(LockgateError, PermissionError):
    """A request or a server configuration that the access policy refuses."""


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """The dashboard's access rules for one bind address."""

    host: str = "127.0.0.1"
    token: str | None = None
    insecure: bool = False

    @property
    def loopback(self) -> bool:
        """Whether the server listens on a loopback address only."""
        return is_loopback(self.host)

    @property
    def login_required(self) -> bool:
        """Pages need the token: exposed beyond loopback with a token set."""
        return not self.loopback and self.token is not None

    @property
    def can_edit(self) -> bool:
        """Notes can be edited at all (a token is configured)."""
        return self.token is not None

    def check_start(self) -> None:
        """Refuse to serve beyond loopback without a token, unless told ``--insecure``.

        Raises:
            ConfigError: bound to a non-loopback address with no token and no --insecure.
        """
        if self.token is not None and len(self.token) < 16:
            raise ConfigError(
                f"{TOKEN_ENV} is {len(self.token)} characters long; use at least 16 random "
                "characters, e.g. `export LOCKGATE_UI_TOKEN=$(python -c 'import secrets; "
                "print(secrets.token_urlsafe(24))')`."
            )
        if not self.loopback and self.token is None and not self.insecure:
            raise ConfigError(
                f"Refusing to serve the dashboard on {self.host}: anyone who can reach it "
                f"could read every run. Set {TOKEN_ENV} (at least 16 random characters) to "
                "require a token, bind --host 127.0.0.1, or pass --insecure to accept the risk."
            )

    def token_matches(self, given: str | None) -> bool:
        """Constant-time comparison of a presented token with the configured one."""
        if self.token is None or not given:
            return False
        return hmac.compare_digest(given.encode(), self.token.encode())

    def check_request(self, method: str, host_header: str | None, origin: str | None,
                      referer: str | None) -> None:
        """Refuse a foreign Host (DNS rebinding) or, when state changes, a foreign Origin.

        Raises:
            AccessError: with the reason, shown to the client with status 403.
        """
        host = (host_header or "").strip().lower()
        if not host:
            raise AccessError("Request refused: it has no Host header.")
        if self.loopback and _hostname(host) not in LOOPBACK_NAMES:
            raise AccessError(
                f"Request refused: Host `{host}` is not this dashboard's loopback address "
                "(a DNS-rebinding attempt?). Open it as http://127.0.0.1:<port>/."
            )
        if method.upper() in SAFE_METHODS:
            return
        if not self.loopback and self.host not in ("0.0.0.0", "::") \
                and _hostname(host) != self.host.lower().strip("[]"):
            raise AccessError(f"Request refused: Host `{host}` is not `{self.host}`.")
        source = origin if origin and origin != "null" else None
        if source is None and referer:
            source = referer
        if origin == "null":
            raise AccessError("Request refused: a state change from an opaque (null) Origin.")
        if source is not None:
            parsed = urllib.parse.urlsplit(source)
            if parsed.netloc.lower() != host:
                raise AccessError(
                    f"Request refused: Origin `{parsed.scheme}://{parsed.netloc}` is not this "
                    f"dashboard (`{host}`); cross-site requests cannot change anything."
                )


def is_loopback(host: str) -> bool:
    """Whether ``host`` names a loopback interface (127.0.0.0/8, ::1, localhost)."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _hostname(host_header: str) -> str:
    """The host part of a Host header (port and IPv6 brackets removed)."""
    if host_header.startswith("["):
        return host_header[: host_header.find("]") + 1] if "]" in host_header else host_header
    name = host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header
    if is_loopback(name) and name not in LOOPBACK_NAMES:
        return "127.0.0.1"  # any 127.x.y.z
    return name
