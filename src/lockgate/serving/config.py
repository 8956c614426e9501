"""How one server runs: which model reference, where it listens, and its limits."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ServeConfig:
    """Options of one model server.

    Attributes:
        ref: ``NAME``, ``NAME@ALIAS`` (followed when it moves) or ``NAME@VERSION`` (pinned).
        host / port: where to listen; non-local hosts need a token or ``insecure``.
        token: bearer token checked on every route but /health (``LOCKGATE_SERVE_TOKEN``).
        insecure: allow a non-local host without a token (prints a warning).
        allow_unknown_fields: ignore fields outside the contract instead of a 422.
        max_body_bytes: larger bodies get 413.
        max_batch_rows: largest ``records`` list accepted in one request.
        micro_batch_rows: most rows predicted in one model call.
        log_predictions: write the prediction log (turn off only to measure its cost).
        log_flush_seconds / log_max_rows: prediction log micro-batch cadence.
        poll_seconds: how often the alias is checked for a new version.
        announce: print the startup and shutdown lines (``lockgate serve`` does).
        access_log: print one line per request (route, status, latency, rows).
        shadow: also score every request with ``NAME@shadow`` (when that alias points at
            another version), off the request path, logged to ``_shadow/NAME``.
        allowed_hosts: ``Host`` names answered beyond the bind address and loopback.
        max_json_depth: deeper JSON bodies get 400 (checked before parsing).
        body_timeout_s / header_timeout_s: a body or request head slower than this is
            refused (408) or the connection closed (slowloris).
    """

    ref: str
    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    insecure: bool = False
    allow_unknown_fields: bool = False
    max_body_bytes: int = 1 << 20
    max_batch_rows: int = 1000
    micro_batch_rows: int = 256
    log_predictions: bool = True
    log_flush_seconds: float = 1.0
    log_max_rows: int = 5000
    poll_seconds: float = 2.0
    announce: bool = False
    access_log: bool = False
    shadow: bool = True
    allowed_hosts: tuple[str, ...] = ()
    max_json_depth: int = 32
    body_timeout_s: float = 30.0
    header_timeout_s: float = 10.0
