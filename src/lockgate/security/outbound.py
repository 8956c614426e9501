"""Outbound URLs (webhooks, any URL lockgate is told to call): public addresses only,
unless the operator allows a host or range.

Why resolve and pin: a URL names a host, and a host can resolve to anything, including
``127.0.0.1`` or the cloud metadata service at ``169.254.169.254`` (also spelled
``0x7f000001``, ``2130706433``, ``127.1``, ``[::ffff:127.0.0.1]``). Every address the
host resolves to is checked, and the request then goes to the checked address (TLS still
verifies the original name), so a second DNS answer cannot swap it (DNS rebinding).
Redirects are not followed: a 3xx is reported, never chased to an unchecked address.
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass

import httpx

from lockgate.errors import LockgateError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
#: Cloud metadata endpoints, named in the refusal because they are the usual target.
METADATA = frozenset({"169.254.169.254", "fd00:ec2::254", "100.100.100.200"})


class OutboundURLError(LockgateError, ValueError):
    """A URL lockgate was asked to call points at a blocked address."""


@dataclass(frozen=True, slots=True)
class ResolvedURL:
    """A checked URL and the address the request must go to."""

    url: str
    host: str
    address: str


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    """Which non-public addresses outbound requests may reach (none by default).

    Attributes:
        allow: host names (exact) or addresses/CIDR ranges (``10.0.0.0/8``,
            ``127.0.0.1``) the operator opens (``outbound_allow`` setting).
    """

    allow: tuple[str, ...] = ()

    @classmethod
    def of(cls, *sources: Iterable[str]) -> OutboundPolicy:
        """A policy allowing the union of several lists (settings, a sink's own list)."""
        return cls(tuple(entry for source in sources for entry in source))

    def check(self, url: str) -> ResolvedURL:
        """Resolve ``url`` and check every address it resolves to.

        Raises:
            OutboundURLError: not http(s), no host, unresolvable, or an address that is
                private, loopback, link-local, metadata, multicast or reserved and not
                allowed.
        """
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise OutboundURLError(f"Refusing to call `{_shown(url)}`: only http(s) URLs with a "
                                   "host are called.")
        host = parts.hostname.lower().rstrip(".")
        addresses = _resolve(host, parts.port or (443 if parts.scheme == "https" else 80))
        if not addresses:
            raise OutboundURLError(f"Refusing to call `{_shown(url)}`: `{host}` does not resolve.")
        if host in self.allow:
            return ResolvedURL(url, host, str(addresses[0]))
        for address in addresses:
            reason = blocked(address)
            if reason and not self._allows(address):
                raise OutboundURLError(
                    f"Refusing to call `{_shown(url)}`: `{host}` resolves to {address}, "
                    f"{reason}. Outbound URLs reach public addresses only; if this receiver "
                    "is yours, add it to the `outbound_allow` setting "
                    f"(LOCKGATE_OUTBOUND_ALLOW={host}) or the sink's `allow` list.")
        return ResolvedURL(url, host, str(addresses[0]))

    def _allows(self, address: IPAddress) -> bool:
        for entry in self.allow:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue  # a host name: matched by name in check()
        return False


def blocked(address: IPAddress) -> str | None:
    """Why an address is not public, or None when it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return blocked(address.ipv4_mapped)
    if str(address) in METADATA:
        return "a cloud metadata endpoint"
    checks = (("loopback", address.is_loopback), ("link-local", address.is_link_local),
              ("private", address.is_private), ("multicast", address.is_multicast),
              ("unspecified", address.is_unspecified), ("reserved", address.is_reserved))
    for name, hit in checks:
        if hit:
            return f"a {name} address"
    return None if address.is_global else "not a public address"


def post_json(url: str, payload: object, *, policy: OutboundPolicy, timeout: float,
              headers: dict[str, str] | None = None) -> httpx.Response:
    """POST JSON to a checked address; redirects are returned, never followed.

    Raises:
        OutboundURLError: the URL is blocked by ``policy``.
        httpx.HTTPError: the request failed.
    """
    target = policy.check(url)
    parts = urllib.parse.urlsplit(url)
    address = f"[{target.address}]" if ":" in target.address else target.address
    userinfo = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    netloc = f"{userinfo}{address}:{parts.port}" if parts.port else f"{userinfo}{address}"
    pinned = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    sent = {**(headers or {}), "Host": parts.netloc.rsplit("@", 1)[-1]}
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        request = client.build_request("POST", pinned, json=payload, headers=sent,
                                       extensions={"sni_hostname": target.host})
        return client.send(request)


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


def _shown(url: str) -> str:
    """A URL for messages: without credentials, at most 200 characters."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))[:200]
